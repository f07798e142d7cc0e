//! [`Config`] (static settings) and [`Options`] (dependencies).

use std::sync::Arc;
use std::time::Duration;

use keel_clog::{Env, Logger, Mode};
use serde::{Deserialize, Serialize};

use crate::{Error, Rules};

/// Static settings of the rate limiter. The rules in `rules` apply until (or without) coord.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The service whose limits these are (the coord key `/config/{env}/{service}/ratelimit/`).
    pub service: String,
    /// The environment (for the coord key).
    pub env: Env,
    /// Standalone runs every rule in this process, `distributed` ones included, so the same
    /// rules work on a laptop without Redis. Distributed honours each rule's mode.
    pub mode: Mode,
    /// Rules in force until (or without) coord.
    #[serde(default)]
    pub rules: Rules,
    /// Most keys one local rule keeps (each ~24 bytes); beyond it the buckets closest to full
    /// are dropped.
    pub max_keys: usize,
    /// How often full (idle) local buckets are dropped.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Longest wait for the backend of a distributed rule before its `on_backend_error` policy
    /// answers instead.
    #[serde(with = "humantime_serde")]
    pub backend_timeout: Duration,
    /// After the backend failed, how long the policy answers without asking it (so an outage
    /// costs no latency); then it is asked again.
    #[serde(with = "humantime_serde")]
    pub backend_recheck: Duration,
    /// Prefix of the distributed buckets' keys in the cache (after the cache's own namespace).
    pub key_prefix: String,
}

impl Config {
    /// Development: standalone. Production: distributed (rules choose local or distributed).
    pub fn for_env(env: Env) -> Self {
        Config {
            service: "keel".into(),
            env,
            mode: match env {
                Env::Production => Mode::Distributed,
                _ => Mode::Standalone,
            },
            rules: Rules::default(),
            max_keys: 100_000,
            sweep_interval: Duration::from_secs(30),
            backend_timeout: Duration::from_millis(100),
            backend_recheck: Duration::from_secs(1),
            key_prefix: "ratelimit:".into(),
        }
    }

    /// Checks every field without side effects.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |why: &str| Err(Error::InvalidConfig(why.into()));
        if self.service.is_empty() {
            return invalid("service must name the service (it is part of the coord key)");
        }
        if self.max_keys == 0 {
            return invalid("max_keys must be at least 1");
        }
        if self.sweep_interval.is_zero() {
            return invalid("sweep_interval must be longer than zero");
        }
        if self.backend_timeout.is_zero() {
            return invalid("backend_timeout must be longer than zero");
        }
        self.rules.validate()
    }
}

/// Dependencies of the rate limiter.
#[derive(Clone, Default)]
pub struct Options {
    /// Parent logger; the limiter logs under `<namespace>.ratelimit`.
    pub logger: Logger,
    /// Where the rules live (`/config/{env}/{service}/ratelimit/`); `None` keeps `Config::rules`.
    pub coord: Option<Arc<dyn keel_coord::Provider>>,
    /// The cache holding distributed buckets; needed for distributed rules in distributed mode.
    pub cache: Option<Arc<dyn keel_cache::Provider>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("logger", &self.logger)
            .field("coord", &self.coord.is_some())
            .field("cache", &self.cache.is_some())
            .finish()
    }
}
