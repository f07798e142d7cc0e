//! [`Config`] of the cache provider, with per-environment defaults.

use std::time::Duration;

use keel_clog::Env;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The provider's mode (shared by every keel crate; see `keel_clog::Mode`).
pub use keel_clog::Mode;

/// Static settings of the cache provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Standalone: in process, bounded, LRU eviction. Distributed: Redis (feature `redis`).
    pub mode: Mode,
    /// Redis URL (`redis://[:password@]host:6379/db`), distributed mode.
    #[serde(default)]
    pub url: String,
    /// Prefix of every key (e.g. `order:`), so services sharing one Redis cannot collide.
    #[serde(default)]
    pub namespace: String,
    /// How long connecting may take.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Upper bound of one command when the Context has no earlier deadline.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest value accepted.
    pub max_value_bytes: usize,
    /// Standalone: most keys kept; beyond it the least recently used keys are evicted.
    pub max_entries: usize,
}

impl Config {
    /// Development: standalone with 100 000 keys. Production: Redis on `redis://127.0.0.1:6379/`.
    pub fn for_env(env: Env) -> Self {
        let base = Config {
            mode: Mode::Standalone,
            url: String::new(),
            namespace: String::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            max_value_bytes: 16 * 1024 * 1024,
            max_entries: 100_000,
        };
        match env {
            Env::Development => base,
            Env::Production => Config {
                mode: Mode::Distributed,
                url: "redis://127.0.0.1:6379/".into(),
                ..base
            },
        }
    }

    /// Checks every field without side effects.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(Error::InvalidConfig(msg));
        if self.mode == Mode::Distributed {
            if !(self.url.starts_with("redis://") || self.url.starts_with("rediss://")) {
                return invalid(format!(
                    "url {:?} must look like redis://host:6379/",
                    crate::redact::redact_url(&self.url)
                ));
            }
            if !cfg!(feature = "redis") {
                return invalid(
                    "mode is distributed but keel-cache was built without its `redis` feature"
                        .into(),
                );
            }
        }
        if self.namespace.len() > 128
            || self
                .namespace
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return invalid(format!(
                "namespace {:?} must be at most 128 characters without spaces",
                self.namespace
            ));
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return invalid("connect_timeout and request_timeout must be positive".into());
        }
        if self.max_value_bytes == 0 || self.max_value_bytes > 512 * 1024 * 1024 {
            return invalid(format!(
                "max_value_bytes {} must be in 1..=512MiB",
                self.max_value_bytes
            ));
        }
        if self.max_entries == 0 {
            return invalid("max_entries must be at least 1".into());
        }
        Ok(())
    }
}
