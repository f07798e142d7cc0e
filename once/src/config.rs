//! [`Config`] of the once provider, with per-environment defaults.

use std::time::Duration;

use keel_clog::Env;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The provider's mode (shared by every keel crate; see `keel_clog::Mode`).
pub use keel_clog::Mode;

/// Static settings of the once provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Standalone: a private in-process cache store (unless `Options::cache` is given).
    /// Distributed: the keel-cache in `Options::cache` (Redis), shared across processes.
    pub mode: Mode,
    /// Prefix of the cache keys (`{namespace}r:{key}` for results, `{namespace}l:{key}` for
    /// the placeholder lock).
    pub namespace: String,
    /// TTL of the placeholder held while the work runs, renewed every third of it: if the
    /// runner dies, another caller may run the work after at most this long.
    #[serde(with = "humantime_serde")]
    pub lock_ttl: Duration,
    /// How long a caller waits for another caller's run before giving up (the Context's
    /// deadline may end the wait earlier).
    #[serde(with = "humantime_serde")]
    pub wait_timeout: Duration,
    /// Longest idempotency key.
    pub max_key_bytes: usize,
    /// Largest result that is cached.
    pub max_result_bytes: usize,
}

impl Config {
    /// Development: standalone. Production: distributed (give it a Redis cache). Both keep
    /// the placeholder for 10 s (renewed) and wait up to 30 s.
    pub fn for_env(env: Env) -> Self {
        Config {
            mode: match env {
                Env::Development => Mode::Standalone,
                Env::Production => Mode::Distributed,
            },
            namespace: "once:".into(),
            lock_ttl: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(30),
            max_key_bytes: 256,
            max_result_bytes: 1024 * 1024,
        }
    }

    /// Checks every field without side effects.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(Error::InvalidConfig(msg));
        if self.lock_ttl < Duration::from_millis(300) {
            return invalid(format!(
                "lock_ttl {:?} must be at least 300ms (it is renewed every third)",
                self.lock_ttl
            ));
        }
        if self.wait_timeout.is_zero() {
            return invalid("wait_timeout must be positive".into());
        }
        if self.max_key_bytes == 0 || self.max_key_bytes > 512 {
            return invalid(format!(
                "max_key_bytes {} must be in 1..=512",
                self.max_key_bytes
            ));
        }
        if self.max_result_bytes == 0 || self.max_result_bytes > 64 * 1024 * 1024 {
            return invalid(format!(
                "max_result_bytes {} must be in 1..=64MiB",
                self.max_result_bytes
            ));
        }
        Ok(())
    }
}
