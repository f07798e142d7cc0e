//! Values the cache API returns.

use std::time::Duration;

/// The remaining life of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTtl {
    /// The key does not exist.
    Missing,
    /// The key exists and never expires.
    Persistent,
    /// The key expires after this long.
    Expires(Duration),
}

/// The answer of a token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenDecision {
    /// Whether the request may proceed (its tokens were taken).
    pub allowed: bool,
    /// Tokens left after this request.
    pub remaining: f64,
    /// When denied: how long until enough tokens are back. Zero when allowed.
    pub retry_after: Duration,
}

/// A token bucket: `rate` tokens per second refill up to `burst`; a request takes `cost`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Tokens added per second (fractions allowed: 0.5 = one every two seconds).
    pub rate: f64,
    /// Capacity, and the tokens a fresh bucket starts with.
    pub burst: f64,
    /// Tokens this request takes.
    pub cost: f64,
}

/// The longest time a bucket may take to refill completely (10 years).
const MAX_REFILL_SECS: f64 = 10.0 * 365.0 * 86_400.0;

impl Bucket {
    pub(crate) fn validate(&self) -> crate::Result<()> {
        let ok = self.rate.is_finite()
            && self.rate > 0.0
            && self.burst.is_finite()
            && self.burst >= 1.0
            && self.cost.is_finite()
            && self.cost > 0.0
            && self.cost <= self.burst
            // The bucket key lives burst/rate seconds; keep that within the 10-year TTL limit
            // (and far from where Duration or a millisecond count would overflow).
            && self.burst / self.rate <= MAX_REFILL_SECS;
        if ok {
            Ok(())
        } else {
            Err(crate::Error::InvalidArgument(format!(
                "token bucket needs rate > 0, burst >= 1, 0 < cost <= burst and burst/rate at most 10 years; got {self:?}"
            )))
        }
    }

    /// How long an untouched bucket lives before it would be full again anyway (its key's TTL).
    pub(crate) fn idle_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.burst / self.rate) + Duration::from_secs(1)
    }
}

/// The token-bucket step, shared by the standalone backend and mirrored line by line by the
/// Redis Lua script (both compute in IEEE doubles, so they give the same answers).
/// `state` is `(tokens, last refill in µs)`; returns the decision and the new state.
///
/// Public so that other token-bucket implementations (keel-ratelimit's local limiter) can be
/// checked against the exact algorithm the cache runs.
pub fn bucket_step(
    bucket: &Bucket,
    state: Option<(f64, i64)>,
    now_us: i64,
) -> (TokenDecision, (f64, i64)) {
    let (mut tokens, mut ts) = state.unwrap_or((bucket.burst, now_us));
    // A clock that moved back does not refill (or drain) anything.
    if now_us > ts {
        tokens = bucket
            .burst
            .min(tokens + (now_us - ts) as f64 * bucket.rate / 1_000_000.0);
        ts = now_us;
    }
    if tokens >= bucket.cost {
        tokens -= bucket.cost;
        (
            TokenDecision {
                allowed: true,
                remaining: tokens,
                retry_after: Duration::ZERO,
            },
            (tokens, ts),
        )
    } else {
        let wait_us = ((bucket.cost - tokens) * 1_000_000.0 / bucket.rate).ceil();
        (
            TokenDecision {
                allowed: false,
                remaining: tokens,
                retry_after: Duration::from_micros(wait_us as u64),
            },
            (tokens, ts),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_bucket_allows_burst_then_refills_at_rate() {
        let b = Bucket {
            rate: 0.5,
            burst: 2.0,
            cost: 1.0,
        };
        let (d, s) = bucket_step(&b, None, 0);
        assert!(d.allowed && d.remaining == 1.0);
        let (d, s) = bucket_step(&b, Some(s), 0);
        assert!(d.allowed && d.remaining == 0.0);
        let (d, s) = bucket_step(&b, Some(s), 1_000_000);
        assert!(!d.allowed);
        assert_eq!(
            d.retry_after,
            Duration::from_secs(1),
            "0.5 token left, 0.5/s"
        );
        let (d, _) = bucket_step(&b, Some(s), 2_000_000);
        assert!(d.allowed);
    }

    #[test]
    fn bad_buckets_are_refused() {
        for b in [
            Bucket {
                rate: 0.0,
                burst: 1.0,
                cost: 1.0,
            },
            Bucket {
                rate: 1.0,
                burst: 0.5,
                cost: 0.5,
            },
            Bucket {
                rate: 1.0,
                burst: 2.0,
                cost: 3.0,
            },
            Bucket {
                rate: f64::NAN,
                burst: 2.0,
                cost: 1.0,
            },
            Bucket {
                rate: 1e-300,
                burst: 2.0,
                cost: 1.0,
            },
        ] {
            assert!(b.validate().is_err(), "{b:?}");
        }
    }
}
