//! `keel.toml`: everything `keel serve` does not take as a flag.

use std::path::Path;

use serde::Deserialize;

/// The settings file. Every field has a default, so an empty (or missing) file is a working
/// standalone server.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FileConfig {
    /// `standalone` (the default: everything in this process, data in `--data-dir`) or
    /// `distributed` (a node of a cluster: needs `database_url`, `etcd` and `redis_url`).
    pub(crate) mode: ServeMode,
    /// The database URL: `postgres://…` or `mysql://…` in distributed mode; by default (and
    /// optionally in standalone mode) a SQLite file in the data directory.
    pub(crate) database_url: Option<String>,
    /// etcd endpoints (`http://host:2379`), distributed mode: nodes announce releases there.
    pub(crate) etcd: Vec<String>,
    /// A prefix for every key this cluster keeps in etcd (e.g. `"/keel-prod"`), so several
    /// keel clusters can share one etcd without seeing each other's nodes, instances or
    /// announcements. Default: none.
    pub(crate) etcd_prefix: Option<String>,
    /// Redis URL, distributed mode: idempotency keys shared by every node.
    pub(crate) redis_url: Option<String>,
    /// Kafka bootstrap brokers (`host:9092,host2:9092`), distributed mode: release events go
    /// to topic `keel.config.releases`. Without it a cluster publishes no events.
    pub(crate) kafka: Option<String>,
    /// The log level (`info`, `debug`, `keel=debug,warn`, ...).
    pub(crate) log_level: Option<String>,
    /// The limit on API requests per client IP (hot-reloadable in coord, see docs).
    pub(crate) ratelimit: ApiLimit,
    /// The service registry's node settings.
    pub(crate) registry: RegistrySection,
}

/// `[registry]`: this node's part in the service registry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RegistrySection {
    /// This node's name in the cluster (active health checks are shared out by it); unique
    /// per node. Default: a fresh random name at every start.
    pub(crate) node: Option<String>,
    /// Most active health probes in flight at once on this node.
    pub(crate) max_concurrent_checks: usize,
    /// Consecutive successful probes that make an unhealthy instance healthy.
    pub(crate) check_rise: u32,
    /// Consecutive failed probes that make a healthy instance unhealthy.
    pub(crate) check_fall: u32,
}

impl Default for RegistrySection {
    fn default() -> Self {
        let checker = keel_registry::CheckerConfig::default();
        RegistrySection {
            node: None,
            max_concurrent_checks: checker.max_concurrent,
            check_rise: checker.rise,
            check_fall: checker.fall,
        }
    }
}

impl RegistrySection {
    /// The registry node's configuration.
    pub(crate) fn to_config(&self) -> keel_registry::RegistryConfig {
        let mut config = keel_registry::RegistryConfig::default();
        if let Some(node) = &self.node {
            config.node = node.clone();
        }
        config.checker.max_concurrent = self.max_concurrent_checks;
        config.checker.rise = self.check_rise;
        config.checker.fall = self.check_fall;
        config
    }
}

/// The default per-client-IP limit on the HTTP API; the rule named `api` in coord under
/// `/config/{env}/keel/ratelimit/` overrides it at run time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ApiLimit {
    /// Requests per second per client IP.
    pub(crate) rate: f64,
    /// Requests let through at once.
    pub(crate) burst: u32,
    /// Behind how many reverse proxies keel runs (0: the peer address is the client).
    pub(crate) trusted_proxies: usize,
}

impl Default for ApiLimit {
    fn default() -> Self {
        ApiLimit {
            rate: 2_000.0,
            burst: 4_000,
            trusted_proxies: 0,
        }
    }
}

/// How the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ServeMode {
    /// One process, embedded store.
    #[default]
    Standalone,
    /// A node of a cluster on etcd, PostgreSQL/MySQL, Redis and Kafka.
    Distributed,
}

impl FileConfig {
    /// Checks that the settings fit the mode, naming what is missing.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.mode == ServeMode::Standalone {
            return Ok(());
        }
        let mut missing = Vec::new();
        match &self.database_url {
            Some(url) if url.starts_with("postgres") || url.starts_with("mysql") => {}
            Some(url) => {
                return Err(format!(
                    "distributed mode needs a PostgreSQL or MySQL database_url that every node shares; got {}",
                    keel_db::redact_url(url)
                ));
            }
            None => missing.push("database_url (postgres://… or mysql://…)"),
        }
        if self.etcd.is_empty() {
            missing.push("etcd (a list of endpoints like [\"http://127.0.0.1:2379\"])");
        }
        if self.redis_url.is_none() {
            missing.push("redis_url (redis://…)");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "mode = \"distributed\" needs {}",
                missing.join(", ")
            ))
        }
    }

    /// Reads `path`; a missing file is an error (the user named it), a bad one says where.
    pub(crate) fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_standalone_and_typos_are_refused() {
        let config: FileConfig = toml::from_str("").unwrap();
        assert_eq!(config.mode, ServeMode::Standalone);
        let config: FileConfig =
            toml::from_str("mode = \"standalone\"\ndatabase_url = \"sqlite://x.db\"").unwrap();
        assert_eq!(config.database_url.as_deref(), Some("sqlite://x.db"));
        let err = toml::from_str::<FileConfig>("mdoe = \"standalone\"").unwrap_err();
        assert!(err.to_string().contains("mdoe"), "{err}");
        config.validate().unwrap();
    }

    #[test]
    fn distributed_mode_names_what_is_missing() {
        let config: FileConfig = toml::from_str("mode = \"distributed\"").unwrap();
        let err = config.validate().unwrap_err();
        assert!(
            err.contains("database_url") && err.contains("etcd") && err.contains("redis_url"),
            "{err}"
        );
        let config: FileConfig = toml::from_str(
            "mode = \"distributed\"\ndatabase_url = \"sqlite://x.db\"\netcd = [\"http://127.0.0.1:2379\"]\nredis_url = \"redis://127.0.0.1/\"",
        )
        .unwrap();
        assert!(
            config
                .validate()
                .unwrap_err()
                .contains("PostgreSQL or MySQL")
        );
    }
}
