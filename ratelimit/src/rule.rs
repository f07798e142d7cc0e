//! [`Rule`] and [`Rules`]: what a resource may do, as stored in coord.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Where a rule's buckets live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleMode {
    /// In this process (governor): each process enforces the limit on its own.
    #[default]
    Local,
    /// In Redis through keel-cache, on the server's clock: every process shares one limit.
    Distributed,
}

/// What to answer when the limiter cannot decide: the rule is unknown, or (distributed rules)
/// the backend did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailPolicy {
    /// Let the request through.
    Open,
    /// Refuse the request.
    #[default]
    Closed,
    /// Distributed rules only: apply the same rule in this process until the backend is back
    /// (each process then enforces the limit on its own).
    Local,
}

/// The limit of one resource: a token bucket per key that refills `rate` tokens per second up
/// to `burst`; a request takes one token (or `n` with `allow_n`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Tokens per second; fractions allowed (`0.5` = one every two seconds).
    pub rate: f64,
    /// Bucket size: the most requests let through at once after a quiet spell. Defaults to
    /// one second's worth of `rate` (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Local (per process) or distributed (one limit across processes).
    #[serde(default)]
    pub mode: RuleMode,
    /// Distributed rules: what to answer while the backend is down.
    #[serde(default)]
    pub on_backend_error: FailPolicy,
}

/// The fastest refill accepted: one token per nanosecond is governor's resolution.
const MAX_RATE: f64 = 1e9;
/// The longest time a bucket may take to refill completely (keel-cache's bound on key TTLs).
const MAX_REFILL: Duration = Duration::from_secs(10 * 365 * 86_400);

impl Rule {
    /// A local rule of `rate` per second with the default burst.
    pub fn local(rate: f64) -> Self {
        Rule {
            rate,
            burst: None,
            mode: RuleMode::Local,
            on_backend_error: FailPolicy::Closed,
        }
    }

    /// A distributed rule of `rate` per second with the default burst.
    pub fn distributed(rate: f64) -> Self {
        Rule {
            mode: RuleMode::Distributed,
            ..Rule::local(rate)
        }
    }

    /// The same rule with `burst`.
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// The same rule with `policy` while the backend is down.
    pub fn on_backend_error(mut self, policy: FailPolicy) -> Self {
        self.on_backend_error = policy;
        self
    }

    /// The bucket size in force: `burst`, or one second's worth of `rate` (at least 1).
    pub fn effective_burst(&self) -> u32 {
        self.burst
            .unwrap_or_else(|| self.rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32)
    }

    /// The time one token takes to come back.
    pub(crate) fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate)
    }

    /// Checks the rule without side effects; `name` is used in the message.
    pub fn validate(&self, name: &str) -> Result<(), Error> {
        let invalid = |why: String| Err(Error::InvalidRule(format!("rule {name:?}: {why}")));
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= MAX_RATE) {
            return invalid(format!(
                "rate must be a number of tokens per second in (0, 1e9]; got {}",
                self.rate
            ));
        }
        if self.burst == Some(0) {
            return invalid("burst must be at least 1 (or left out for one second's worth)".into());
        }
        let refill = f64::from(self.effective_burst()) / self.rate;
        if refill > MAX_REFILL.as_secs_f64() {
            return invalid(format!(
                "burst / rate = {refill:.0} s; a bucket must refill within 10 years"
            ));
        }
        Ok(())
    }
}

/// Every rule of a service, as stored in coord under `/config/{env}/{service}/ratelimit/`:
/// `unknown_rule` (a JSON string) and `rules/{resource}` (one [`Rule`] each).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// What a resource without a rule gets: closed (refused) unless set to open.
    #[serde(default)]
    pub unknown_rule: FailPolicy,
    /// The rule of each resource, by resource name.
    #[serde(default)]
    pub rules: BTreeMap<String, Rule>,
}

impl Rules {
    /// The same set with `rule` for `resource`.
    pub fn with(mut self, resource: &str, rule: Rule) -> Self {
        self.rules.insert(resource.to_owned(), rule);
        self
    }

    /// Checks every rule; the whole set is refused if one is wrong.
    pub fn validate(&self) -> Result<(), Error> {
        if self.unknown_rule == FailPolicy::Local {
            return Err(Error::InvalidRule(
                "unknown_rule must be \"open\" or \"closed\": there is no rule to apply locally"
                    .into(),
            ));
        }
        for (name, rule) in &self.rules {
            if name.is_empty() {
                return Err(Error::InvalidRule("a rule needs a resource name".into()));
            }
            rule.validate(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_with_defaults() {
        let rules: Rules = serde_json::from_str(
            r#"{"unknown_rule":"open","rules":{"login":{"rate":0.5},"api":{"rate":100,"burst":20,"mode":"distributed","on_backend_error":"local"}}}"#,
        )
        .unwrap();
        assert_eq!(rules.unknown_rule, FailPolicy::Open);
        let login = &rules.rules["login"];
        assert_eq!(login.effective_burst(), 1);
        assert_eq!(login.mode, RuleMode::Local);
        assert_eq!(login.on_backend_error, FailPolicy::Closed);
        assert_eq!(rules.rules["api"].effective_burst(), 20);
        assert_eq!(Rule::local(7.2).effective_burst(), 8);
        rules.validate().unwrap();
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let bad = [
            (Rule::local(0.0), "rate"),
            (Rule::local(f64::NAN), "rate"),
            (Rule::local(2e9), "rate"),
            (Rule::local(1.0).with_burst(0), "burst"),
            (Rule::local(1e-9).with_burst(1_000), "10 years"),
        ];
        for (rule, word) in bad {
            let err = Rules::default().with("r", rule).validate().unwrap_err();
            assert!(err.to_string().contains(word), "{err}");
        }
        let unknown_local = Rules {
            unknown_rule: FailPolicy::Local,
            ..Rules::default()
        };
        assert!(unknown_local.validate().is_err());
        assert!(serde_json::from_str::<Rules>(r#"{"rules":{"a":{"rate":1,"brust":2}}}"#).is_err());
    }
}
