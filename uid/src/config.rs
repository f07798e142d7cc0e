//! [`Config`] of the id generator, with per-environment defaults.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keel_clog::Env;
use serde::{Deserialize, Serialize};

use crate::snowflake::MAX_WORKER_ID;
use crate::{Error, Result};

/// 2024-01-01T00:00:00Z: the default epoch, which leaves the 41-bit time field room until 2093.
pub const DEFAULT_EPOCH_UNIX_MS: u64 = 1_704_067_200_000;

/// Static settings of the id generator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Time zero of the 41-bit time field. Never change it for a running system: ids issued
    /// under two epochs can collide.
    #[serde(with = "humantime_serde")]
    pub epoch: SystemTime,
    /// This process's worker id, `0..=1023`; unique among the processes issuing ids together.
    pub worker_id: u16,
    /// How far the clock may step back before `next_id` fails instead of waiting.
    #[serde(with = "humantime_serde")]
    pub max_clock_backward: Duration,
    /// Take the worker id from keel-coord instead of `worker_id` (feature `coord`, and
    /// `Options::coord`): the smallest free id in `0..max_workers`, held under a lease.
    #[serde(default)]
    pub coord_worker: Option<CoordWorker>,
}

/// Worker-id allocation through keel-coord.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordWorker {
    /// The id space's name: processes issuing ids together use the same one.
    pub service: String,
    /// How many worker ids exist (at most 1024).
    #[serde(default = "default_max_workers")]
    pub max_workers: u16,
    /// The lease TTL: a dead process's id is free again after it.
    #[serde(with = "humantime_serde", default = "default_lease_ttl")]
    pub lease_ttl: Duration,
}

fn default_max_workers() -> u16 {
    MAX_WORKER_ID + 1
}

fn default_lease_ttl() -> Duration {
    Duration::from_secs(10)
}

impl CoordWorker {
    /// Allocation under `service` with 1024 ids and a 10 s lease.
    pub fn new(service: impl Into<String>) -> Self {
        CoordWorker {
            service: service.into(),
            max_workers: default_max_workers(),
            lease_ttl: default_lease_ttl(),
        }
    }
}

impl Config {
    /// Development tolerates clock steps of 100 ms (laptops sleep and resync); production 10 ms,
    /// so that a bad clock fails fast rather than stalling callers. Both use worker 0 and the
    /// default epoch.
    pub fn for_env(env: Env) -> Self {
        Config {
            epoch: UNIX_EPOCH + Duration::from_millis(DEFAULT_EPOCH_UNIX_MS),
            worker_id: 0,
            max_clock_backward: match env {
                Env::Development => Duration::from_millis(100),
                Env::Production => Duration::from_millis(10),
            },
            coord_worker: None,
        }
    }

    /// The epoch in ms since the Unix epoch.
    pub fn epoch_unix_ms(&self) -> Result<u64> {
        self.epoch
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .map_err(|_| Error::InvalidConfig("epoch is before 1970-01-01".into()))
    }

    /// Checks every field without side effects.
    pub fn validate(&self) -> Result<()> {
        if self.worker_id > MAX_WORKER_ID {
            return Err(Error::InvalidConfig(format!(
                "worker_id {} is out of range 0..={MAX_WORKER_ID}",
                self.worker_id
            )));
        }
        self.epoch_unix_ms()?;
        if self.epoch > SystemTime::now() {
            return Err(Error::InvalidConfig(
                "epoch is in the future; ids cannot be issued before it".into(),
            ));
        }
        if let Some(worker) = &self.coord_worker {
            if !cfg!(feature = "coord") {
                return Err(Error::InvalidConfig(
                    "coord_worker is set but keel-uid was built without its `coord` feature".into(),
                ));
            }
            if worker.max_workers == 0 || worker.max_workers > MAX_WORKER_ID + 1 {
                return Err(Error::InvalidConfig(format!(
                    "coord_worker.max_workers {} must be in 1..=1024",
                    worker.max_workers
                )));
            }
            if worker.lease_ttl < Duration::from_secs(1)
                || worker.lease_ttl > Duration::from_secs(300)
            {
                return Err(Error::InvalidConfig(format!(
                    "coord_worker.lease_ttl {:?} must be between 1s and 5m",
                    worker.lease_ttl
                )));
            }
        }
        if self.max_clock_backward > Duration::from_secs(10) {
            return Err(Error::InvalidConfig(format!(
                "max_clock_backward is {:?}; at most 10s, since callers block while waiting",
                self.max_clock_backward
            )));
        }
        Ok(())
    }
}
