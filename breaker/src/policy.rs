//! [`Policy`]: when a breaker opens, how long it stays open, how it closes again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// What trips a breaker and how it recovers.
///
/// Closed: calls go through and outcomes are counted in a window of `window`. The breaker opens
/// when, with at least `minimum_requests` calls in the window, the failure ratio reaches
/// `failure_ratio` — or when `consecutive_failures` calls failed in a row (either trigger may be
/// left out, not both). Open: calls are rejected for `open_timeout`. Half-open: up to
/// `half_open_max_requests` trial calls at a time; `success_threshold` successes close it, any
/// failure opens it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Failure share (0 < r <= 1) that opens the breaker; `None` disables this trigger.
    pub failure_ratio: Option<f64>,
    /// Failures in a row that open the breaker; `None` disables this trigger.
    pub consecutive_failures: Option<u32>,
    /// Calls needed in the window before `failure_ratio` is judged.
    pub minimum_requests: u32,
    /// Length of the counting window.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long the breaker stays open before trying again.
    #[serde(with = "humantime_serde")]
    pub open_timeout: Duration,
    /// Trial calls allowed at once while half-open.
    pub half_open_max_requests: u32,
    /// Successful trial calls that close the breaker.
    pub success_threshold: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            failure_ratio: Some(0.5),
            consecutive_failures: Some(5),
            minimum_requests: 20,
            window: Duration::from_secs(10),
            open_timeout: Duration::from_secs(30),
            half_open_max_requests: 1,
            success_threshold: 1,
        }
    }
}

impl Policy {
    /// Checks every field without side effects.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::InvalidPolicy(msg));
        if self.failure_ratio.is_none() && self.consecutive_failures.is_none() {
            return invalid("set failure_ratio, consecutive_failures or both".into());
        }
        if let Some(r) = self.failure_ratio
            && !(r > 0.0 && r <= 1.0)
        {
            return invalid(format!("failure_ratio {r} must be in (0, 1]"));
        }
        if self.consecutive_failures == Some(0) {
            return invalid("consecutive_failures must be at least 1".into());
        }
        if self.window.is_zero() || self.open_timeout.is_zero() {
            return invalid("window and open_timeout must be positive".into());
        }
        if self.half_open_max_requests == 0 || self.success_threshold == 0 {
            return invalid(
                "half_open_max_requests and success_threshold must be at least 1".into(),
            );
        }
        Ok(())
    }
}

/// Every breaker's policy: a default and named overrides. This is the JSON stored in coord under
/// `/config/{env}/{service}/breaker/` (`default` and `breakers/<name>` keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Policies {
    /// For breakers without their own entry.
    pub default: Policy,
    /// Per breaker name.
    pub breakers: BTreeMap<String, Policy>,
}

impl Policies {
    /// The policy in force for `name`.
    pub fn for_breaker(&self, name: &str) -> &Policy {
        self.breakers.get(name).unwrap_or(&self.default)
    }

    /// Checks every policy.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.default.validate()?;
        for (name, policy) in &self.breakers {
            policy
                .validate()
                .map_err(|e| ConfigError::InvalidPolicy(format!("breaker {name:?}: {e}")))?;
        }
        Ok(())
    }
}
