//! [`Config`] of the coordination provider, with per-environment defaults.

use std::time::Duration;

use keel_clog::Env;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The provider's mode (shared by every keel crate; see `keel_clog::Mode`).
pub use keel_clog::Mode;

/// Static settings of the coordination provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Standalone: an in-process store with etcd's semantics. Distributed: etcd v3 (feature `etcd`).
    pub mode: Mode,
    /// etcd endpoints (`http://host:2379`), used in distributed mode.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Prefix put in front of every key (e.g. `/keel`), so several systems can share one etcd.
    /// Empty, or starts with `/` and does not end with `/`.
    #[serde(default)]
    pub namespace: String,
    /// etcd user name (with `password`), if etcd auth is on.
    #[serde(default)]
    pub username: Option<String>,
    /// etcd password.
    #[serde(default)]
    pub password: Option<String>,
    /// How long connecting may take.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Upper bound of one request when the Context has no earlier deadline.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest value accepted by `put` (etcd's own default limit is 1.5 MiB).
    pub max_value_bytes: usize,
    /// Standalone: how many change events are kept for watches that resume from an older
    /// revision; older history is compacted automatically.
    pub history_limit: usize,
}

impl Config {
    /// Development: standalone. Production: etcd on `http://127.0.0.1:2379` (set `endpoints`).
    pub fn for_env(env: Env) -> Self {
        let base = Config {
            mode: Mode::Standalone,
            endpoints: Vec::new(),
            namespace: String::new(),
            username: None,
            password: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_value_bytes: 1024 * 1024,
            history_limit: 100_000,
        };
        match env {
            Env::Development => base,
            Env::Production => Config {
                mode: Mode::Distributed,
                endpoints: vec!["http://127.0.0.1:2379".into()],
                ..base
            },
        }
    }

    /// Checks every field without side effects.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(Error::InvalidConfig(msg));
        if self.mode == Mode::Distributed {
            if self.endpoints.is_empty() {
                return invalid(
                    "endpoints is empty; distributed mode needs at least one etcd URL".into(),
                );
            }
            for e in &self.endpoints {
                if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() < 10 {
                    return invalid(format!("endpoint {e:?} must look like http://host:2379"));
                }
            }
            if !cfg!(feature = "etcd") {
                return invalid(
                    "mode is distributed but keel-coord was built without its `etcd` feature"
                        .into(),
                );
            }
        }
        if !self.namespace.is_empty() {
            if !self.namespace.starts_with('/') || self.namespace.ends_with('/') {
                return invalid(format!(
                    "namespace {:?} must start with '/' and not end with '/', e.g. \"/keel\"",
                    self.namespace
                ));
            }
            crate::keys::validate_key(&self.namespace)?;
        }
        if self.username.is_some() != self.password.is_some() {
            return invalid("username and password go together".into());
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return invalid("connect_timeout and request_timeout must be positive".into());
        }
        if self.max_value_bytes == 0 || self.max_value_bytes > 16 * 1024 * 1024 {
            return invalid(format!(
                "max_value_bytes {} must be in 1..=16MiB",
                self.max_value_bytes
            ));
        }
        if self.history_limit < 100 {
            return invalid(format!(
                "history_limit {} must be at least 100",
                self.history_limit
            ));
        }
        Ok(())
    }
}
