//! [`ClientConfig`]: where the servers are, which namespaces to read, and how long to wait.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use crate::{DEFAULT_CLUSTER, DEFAULT_NAMESPACE};

/// Static settings of a [`ConfigClient`](super::ConfigClient).
///
/// Build it with struct-update syntax over [`Default`] (or deserialize it: durations are
/// humantime strings such as `"30s"`):
///
/// ```
/// use keel_config_center::client::ClientConfig;
///
/// let config = ClientConfig {
///     servers: vec!["http://127.0.0.1:8848".into(), "http://10.0.0.2:8848".into()],
///     env: "dev".into(),
///     app: "shop".into(),
///     namespaces: vec!["application".into(), "gateway".into()],
///     snapshot_dir: Some("/var/lib/shop/config-snapshots".into()),
///     ..ClientConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Base URLs of the config center's nodes (`http://host:port`), tried in this order; a node
    /// that fails is skipped for [`server_cooldown`](Self::server_cooldown).
    pub servers: Vec<String>,
    /// The environment (`dev`, `prod`, ...).
    pub env: String,
    /// The application.
    pub app: String,
    /// The cluster this instance belongs to; namespaces it does not override come from
    /// `default`. Default: `default`.
    pub cluster: String,
    /// The namespaces to read and watch. Default: `["application"]`.
    pub namespaces: Vec<String>,
    /// Where the last configuration received is kept, to start from when no server answers.
    /// `None`: no snapshots (a start with every server down fails).
    pub snapshot_dir: Option<PathBuf>,
    /// How long one long poll waits for a release (the server caps it at 120s). Default 30s.
    #[serde(with = "humantime_serde")]
    pub poll_timeout: Duration,
    /// How long any other request (and connecting) may take. Default 5s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long a server that failed is skipped while others are left. Default 10s.
    #[serde(with = "humantime_serde")]
    pub server_cooldown: Duration,
    /// The first pause of the watch after every server failed; it doubles up to
    /// [`max_retry_interval`](Self::max_retry_interval). Default 1s.
    #[serde(with = "humantime_serde")]
    pub retry_interval: Duration,
    /// The longest pause of the watch between rounds of failed servers. Default 30s.
    #[serde(with = "humantime_serde")]
    pub max_retry_interval: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            servers: Vec::new(),
            env: String::new(),
            app: String::new(),
            cluster: DEFAULT_CLUSTER.into(),
            namespaces: vec![DEFAULT_NAMESPACE.into()],
            snapshot_dir: None,
            poll_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
            server_cooldown: Duration::from_secs(10),
            retry_interval: Duration::from_secs(1),
            max_retry_interval: Duration::from_secs(30),
        }
    }
}

impl ClientConfig {
    /// Checks the settings without touching the network or the disk.
    pub fn validate(&self) -> Result<()> {
        keel_client_kit::check_servers(&self.servers, "config center")?;
        check_name("env", &self.env)?;
        check_name("app", &self.app)?;
        check_name("cluster", &self.cluster)?;
        if self.namespaces.is_empty() {
            return Err(Error::Config(
                "namespaces is empty: name at least one (e.g. application)".into(),
            ));
        }
        for (i, namespace) in self.namespaces.iter().enumerate() {
            check_name("namespace", namespace)?;
            if self.namespaces[..i].contains(namespace) {
                return Err(Error::Config(format!(
                    "namespace {namespace:?} is listed twice"
                )));
            }
        }
        keel_client_kit::check_long_poll("poll_timeout", self.poll_timeout)?;
        keel_client_kit::check_not_zero(&[
            ("request_timeout", self.request_timeout),
            ("retry_interval", self.retry_interval),
        ])?;
        keel_client_kit::check_retry_intervals(self.retry_interval, self.max_retry_interval)?;
        Ok(())
    }
}

/// The names become URL path segments and snapshot file names; the server's rule (which
/// refuses `.` and `..`) keeps a snapshot from ever being written outside `snapshot_dir`.
fn check_name(what: &str, name: &str) -> Result<()> {
    crate::validate_name(what, name).map_err(|e| Error::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ClientConfig {
        ClientConfig {
            servers: vec!["http://127.0.0.1:8848".into()],
            env: "dev".into(),
            app: "shop".into(),
            ..ClientConfig::default()
        }
    }

    #[test]
    fn defaults_plus_servers_env_and_app_are_valid() {
        valid().validate().unwrap();
        let trailing_slash = ClientConfig {
            servers: vec!["http://localhost:8848/".into()],
            ..valid()
        };
        trailing_slash.validate().unwrap();
    }

    #[test]
    fn bad_settings_say_what_to_fix() {
        let cases = [
            (
                ClientConfig {
                    servers: vec![],
                    ..valid()
                },
                "servers is empty",
            ),
            // The URL rules themselves are keel-client-kit's (and tested there).
            (
                ClientConfig {
                    servers: vec!["https://h:1".into()],
                    ..valid()
                },
                "config client settings: server \"https://h:1\": https is not supported by this \
                 client yet; reach the config center over http",
            ),
            (
                ClientConfig {
                    env: String::new(),
                    ..valid()
                },
                "env name",
            ),
            (
                ClientConfig {
                    app: "..".into(),
                    ..valid()
                },
                "not . or ..",
            ),
            (
                ClientConfig {
                    namespaces: vec![],
                    ..valid()
                },
                "namespaces is empty",
            ),
            (
                ClientConfig {
                    namespaces: vec!["a".into(), "a".into()],
                    ..valid()
                },
                "twice",
            ),
            (
                ClientConfig {
                    poll_timeout: Duration::from_secs(600),
                    ..valid()
                },
                "poll_timeout",
            ),
            (
                ClientConfig {
                    request_timeout: Duration::ZERO,
                    ..valid()
                },
                "request_timeout",
            ),
        ];
        for (config, expected) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn deserializes_with_humantime_durations() {
        let config: ClientConfig = serde_json::from_value(serde_json::json!({
            "servers": ["http://127.0.0.1:8848"], "env": "dev", "app": "shop",
            "poll_timeout": "45s", "request_timeout": "800ms"
        }))
        .unwrap();
        assert_eq!(config.poll_timeout, Duration::from_secs(45));
        assert_eq!(config.request_timeout, Duration::from_millis(800));
        assert_eq!(config.namespaces, vec!["application".to_owned()]);
    }
}
