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
    /// The Nacos v1 API's settings.
    pub(crate) nacos: NacosSection,
}

/// `[nacos]`: how the Nacos v1 API maps onto keel, and its auth.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NacosSection {
    /// The config center env of Nacos's public namespace. Default `public`.
    pub(crate) public_env: String,
    /// The registry tenant of Nacos's public namespace. Default `default` (keel's own).
    pub(crate) public_tenant: String,
    /// Turns auth on: login checks these users and every other call needs its token.
    /// Empty (the default): auth off.
    pub(crate) users: Vec<NacosUser>,
    /// The key login tokens are signed with, at least 32 bytes, the same on every node.
    /// Required with `users`.
    pub(crate) token_secret: Option<String>,
    /// How long a login token is valid, e.g. `"5h"`. Default 5 h (Nacos's 18000 s).
    #[serde(with = "humantime_serde")]
    pub(crate) token_ttl: std::time::Duration,
}

/// One Nacos user.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NacosUser {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl std::fmt::Debug for NacosUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NacosUser")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Default for NacosSection {
    fn default() -> Self {
        let defaults = keel_nacos::NacosSettings::default();
        NacosSection {
            public_env: defaults.public_env,
            public_tenant: defaults.public_tenant,
            users: Vec::new(),
            token_secret: None,
            token_ttl: defaults.token_ttl,
        }
    }
}

impl NacosSection {
    /// The Nacos API's settings; an error names what is wrong with the section.
    pub(crate) fn to_settings(&self) -> Result<keel_nacos::NacosSettings, String> {
        let mut settings = keel_nacos::NacosSettings::default();
        settings.public_env = self.public_env.clone();
        settings.public_tenant = self.public_tenant.clone();
        settings.token_ttl = self.token_ttl;
        if !self.users.is_empty() {
            let secret = self.token_secret.as_deref().ok_or(
                "[nacos] users turn auth on, which needs token_secret (32+ bytes, the same on every node)",
            )?;
            let users = self
                .users
                .iter()
                .map(|u| (u.username.as_str(), u.password.as_str()));
            settings.auth = Some(
                keel_nacos::NacosAuth::new(users, secret.as_bytes())
                    .map_err(|e| format!("[nacos]: {e}"))?,
            );
        }
        Ok(settings)
    }
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
    fn nacos_auth_needs_a_secret() {
        let config: FileConfig = toml::from_str("[nacos]\npublic_env = \"prod\"").unwrap();
        let settings = config.nacos.to_settings().unwrap();
        assert_eq!(settings.public_env, "prod");
        assert!(settings.auth.is_none());
        let config: FileConfig =
            toml::from_str("[nacos]\nusers = [{ username = \"nacos\", password = \"pw\" }]")
                .unwrap();
        assert!(
            config
                .nacos
                .to_settings()
                .unwrap_err()
                .contains("token_secret")
        );
        let config: FileConfig = toml::from_str(
            "[nacos]\ntoken_secret = \"short\"\nusers = [{ username = \"nacos\", password = \"pw\" }]",
        )
        .unwrap();
        assert!(config.nacos.to_settings().unwrap_err().contains("32 bytes"));
        let config: FileConfig = toml::from_str(
            "[nacos]\ntoken_ttl = \"1h\"\ntoken_secret = \"0123456789abcdef0123456789abcdef\"\nusers = [{ username = \"nacos\", password = \"pw\" }]",
        )
        .unwrap();
        let settings = config.nacos.to_settings().unwrap();
        assert!(settings.auth.is_some());
        assert_eq!(settings.token_ttl.as_secs(), 3600);
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
