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
        if self.max_clock_backward > Duration::from_secs(10) {
            return Err(Error::InvalidConfig(format!(
                "max_clock_backward is {:?}; at most 10s, since callers block while waiting",
                self.max_clock_backward
            )));
        }
        Ok(())
    }
}
