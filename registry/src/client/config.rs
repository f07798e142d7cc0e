//! [`ClientConfig`]: where the registry's servers are, who the client is, and how long to wait.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// Static settings of a [`RegistryClient`](super::RegistryClient).
///
/// Build it with struct-update syntax over [`Default`] (or deserialize it: durations are
/// humantime strings such as `"30s"`):
///
/// ```
/// use keel_registry::client::ClientConfig;
///
/// let config = ClientConfig {
///     servers: vec!["http://127.0.0.1:8848".into(), "http://10.0.0.2:8848".into()],
///     tenant: Some("shop".into()),
///     snapshot_dir: Some("/var/lib/orders/registry-snapshots".into()),
///     ..ClientConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Base URLs of the registry's nodes (`http://host:port`), tried in this order; a node
    /// that fails is skipped for [`server_cooldown`](Self::server_cooldown) and the one that
    /// answered last is asked first.
    pub servers: Vec<String>,
    /// The tenant (`X-Tenant-Id`); `None` is the server's `default` tenant.
    pub tenant: Option<String>,
    /// The register token of groups that restrict registration (`Authorization: Bearer`).
    pub token: Option<String>,
    /// Where the last instance list of each discovered service is kept, to start from when
    /// no server answers. `None`: no snapshots (discovering while every server is down fails).
    pub snapshot_dir: Option<PathBuf>,
    /// How long any request other than the long poll (and connecting) may take. Default 5s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long one discovery long poll waits for a change (the server caps it at 120s).
    /// Default 30s.
    #[serde(with = "humantime_serde")]
    pub long_poll_wait: Duration,
    /// How long a server that failed is skipped while others are left. Default 10s.
    #[serde(with = "humantime_serde")]
    pub server_cooldown: Duration,
    /// The first pause after every server failed (heartbeats, watches); it doubles up to
    /// [`max_retry_interval`](Self::max_retry_interval). Default 1s.
    #[serde(with = "humantime_serde")]
    pub retry_interval: Duration,
    /// The longest pause between rounds of failed servers. Heartbeats never pause longer
    /// than their interval. Default 30s.
    #[serde(with = "humantime_serde")]
    pub max_retry_interval: Duration,
    /// Push-empty protection: an empty instance list that follows a non-empty one is held
    /// back this long and applied only if a fresh read then is empty too. Default 1s.
    #[serde(with = "humantime_serde")]
    pub empty_confirm_delay: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            servers: Vec::new(),
            tenant: None,
            token: None,
            snapshot_dir: None,
            request_timeout: Duration::from_secs(5),
            long_poll_wait: Duration::from_secs(30),
            server_cooldown: Duration::from_secs(10),
            retry_interval: Duration::from_secs(1),
            max_retry_interval: Duration::from_secs(30),
            empty_confirm_delay: Duration::from_secs(1),
        }
    }
}

/// The token is a credential: never in logs.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("servers", &self.servers)
            .field("tenant", &self.tenant)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("snapshot_dir", &self.snapshot_dir)
            .field("request_timeout", &self.request_timeout)
            .field("long_poll_wait", &self.long_poll_wait)
            .field("server_cooldown", &self.server_cooldown)
            .field("retry_interval", &self.retry_interval)
            .field("max_retry_interval", &self.max_retry_interval)
            .field("empty_confirm_delay", &self.empty_confirm_delay)
            .finish()
    }
}

impl ClientConfig {
    /// Checks the settings without touching the network or the disk.
    pub fn validate(&self) -> Result<()> {
        keel_client_kit::check_servers(&self.servers, "registry")?;
        if let Some(tenant) = &self.tenant {
            // The tenant becomes a header and a snapshot directory name.
            crate::validate_name("tenant", tenant).map_err(|e| Error::Config(e.to_string()))?;
        }
        if let Some(token) = &self.token
            && (token.is_empty() || token.bytes().any(|b| b <= b' ' || b == 0x7f))
        {
            return Err(Error::Config(
                "token must be non-empty and have no spaces or control characters".into(),
            ));
        }
        keel_client_kit::check_long_poll("long_poll_wait", self.long_poll_wait)?;
        keel_client_kit::check_not_zero(&[
            ("request_timeout", self.request_timeout),
            ("retry_interval", self.retry_interval),
            ("empty_confirm_delay", self.empty_confirm_delay),
        ])?;
        keel_client_kit::check_retry_intervals(self.retry_interval, self.max_retry_interval)?;
        Ok(())
    }

    /// The tenant requests act in.
    pub(crate) fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(crate::DEFAULT_TENANT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ClientConfig {
        ClientConfig {
            servers: vec!["http://127.0.0.1:8848".into()],
            ..ClientConfig::default()
        }
    }

    #[test]
    fn defaults_plus_servers_are_valid() {
        valid().validate().unwrap();
        assert_eq!(valid().tenant(), "default");
        ClientConfig {
            servers: vec!["http://localhost:8848/".into()],
            tenant: Some("shop".into()),
            token: Some("s3cret-token".into()),
            ..valid()
        }
        .validate()
        .unwrap();
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
                "registry client settings: server \"https://h:1\": https is not supported by \
                 this client yet; reach the registry over http",
            ),
            (
                ClientConfig {
                    tenant: Some("a/b".into()),
                    ..valid()
                },
                "tenant",
            ),
            (
                ClientConfig {
                    token: Some("a b".into()),
                    ..valid()
                },
                "token",
            ),
            (
                ClientConfig {
                    long_poll_wait: Duration::from_secs(600),
                    ..valid()
                },
                "long_poll_wait",
            ),
            (
                ClientConfig {
                    empty_confirm_delay: Duration::ZERO,
                    ..valid()
                },
                "empty_confirm_delay",
            ),
            (
                ClientConfig {
                    max_retry_interval: Duration::from_millis(1),
                    ..valid()
                },
                "max_retry_interval",
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
    fn deserializes_with_humantime_durations_and_hides_the_token() {
        let config: ClientConfig = serde_json::from_value(serde_json::json!({
            "servers": ["http://127.0.0.1:8848"], "token": "s3cret-token",
            "long_poll_wait": "45s", "request_timeout": "800ms"
        }))
        .unwrap();
        assert_eq!(config.long_poll_wait, Duration::from_secs(45));
        assert_eq!(config.request_timeout, Duration::from_millis(800));
        assert_eq!(config.empty_confirm_delay, Duration::from_secs(1));
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
