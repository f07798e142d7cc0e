//! [`LocalLimiter`]: one rule's buckets in this process, on governor.
//!
//! governor implements GCRA, which is the token bucket written as one timestamp per key: a key
//! whose theoretical arrival time is `tat` holds `burst - (tat - now) / period` tokens. A
//! request for `n` fits when that is at least `n`, and when it does not, the wait is
//! `(n - tokens) / rate` — exactly what keel-cache's token bucket answers (tested against
//! `keel_cache::bucket_step` in this module).

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock, QuantaClock, QuantaInstant};
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::{Quota, RateLimiter};

use crate::key_store::KeyStore;
use crate::{Error, Rule};

thread_local! {
    /// The instant [`DecisionClock`] last read on this thread.
    static LAST_READING: Cell<Option<QuantaInstant>> = const { Cell::new(None) };
}

/// A clock that can tell the instant it last gave on this thread. A refusal's `retry_after`
/// is measured from the instant governor decided at, without reading the clock again (a
/// second read was most of what a refusal cost over an allowed check).
pub(crate) trait LastReading: Clock {
    /// The instant this clock last returned on the calling thread (or now).
    fn last_reading(&self) -> Self::Instant;
}

/// quanta's clock (what governor uses by default), remembering its last reading per thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct DecisionClock(QuantaClock);

impl Clock for DecisionClock {
    type Instant = QuantaInstant;

    fn now(&self) -> QuantaInstant {
        let now = self.0.now();
        LAST_READING.with(|last| last.set(Some(now)));
        now
    }
}

impl LastReading for DecisionClock {
    fn last_reading(&self) -> QuantaInstant {
        // `check` asks right after governor read the clock, on the same thread, with nothing
        // in between that could read it for another limiter.
        LAST_READING.with(Cell::get).unwrap_or_else(|| self.now())
    }
}

impl LastReading for FakeRelativeClock {
    fn last_reading(&self) -> Self::Instant {
        self.now()
    }
}

/// The bucket's answer to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Answer {
    pub(crate) allowed: bool,
    /// Tokens left: whole tokens when allowed (governor reports whole tokens), the exact
    /// fraction when refused.
    pub(crate) remaining: f64,
    pub(crate) retry_after: Duration,
}

/// The buckets of one rule, one per key, bounded in number.
pub(crate) struct LocalLimiter<C: LastReading = DecisionClock> {
    limiter: RateLimiter<u64, KeyStore, C, StateInformationMiddleware>,
    /// Keys are stored by a hash with a per-process random key (see `key_store`).
    hasher: RandomState,
    evicted: Arc<AtomicU64>,
    rate: f64,
}

impl<C: LastReading> LocalLimiter<C> {
    /// Buckets for `rule` (already validated), keeping at most `max_keys` keys.
    pub(crate) fn new(rule: &Rule, max_keys: usize, clock: C) -> Result<Self, Error> {
        let burst = NonZeroU32::new(rule.effective_burst())
            .ok_or_else(|| Error::InvalidRule("burst must be at least 1".into()))?;
        let quota = Quota::with_period(rule.period())
            .ok_or_else(|| Error::InvalidRule(format!("rate {} is too high", rule.rate)))?
            .allow_burst(burst);
        let evicted = Arc::new(AtomicU64::new(0));
        let store = KeyStore::new(max_keys, Arc::clone(&evicted));
        Ok(LocalLimiter {
            limiter: RateLimiter::<u64, KeyStore, C, NoOpMiddleware<C::Instant>>::new(
                quota, store, clock,
            )
            .with_middleware(),
            hasher: RandomState::new(),
            evicted,
            rate: rule.rate,
        })
    }

    /// Takes `n` tokens from `key`'s bucket if it holds them.
    pub(crate) fn check(&self, key: &str, n: NonZeroU32) -> Result<Answer, Error> {
        let hash = self.hasher.hash_one(key);
        let outcome = if n.get() == 1 {
            self.limiter.check_key(&hash)
        } else {
            self.limiter.check_key_n(&hash, n).map_err(|e| {
                Error::InvalidRequest(format!(
                    "asked for {n} tokens but the bucket holds at most {}: {e}",
                    e.0
                ))
            })?
        };
        Ok(match outcome {
            Ok(snapshot) => Answer {
                allowed: true,
                remaining: f64::from(snapshot.remaining_burst_capacity()),
                retry_after: Duration::ZERO,
            },
            Err(not_until) => {
                let retry_after = not_until.wait_time_from(self.limiter.clock().last_reading());
                // The wait is (n - tokens) / rate, so the tokens held are known exactly.
                let tokens = f64::from(n.get()) - retry_after.as_secs_f64() * self.rate;
                Answer {
                    allowed: false,
                    remaining: tokens.max(0.0),
                    retry_after,
                }
            }
        })
    }

    /// Drops the keys whose bucket is full again (they are indistinguishable from new ones).
    pub(crate) fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Keys held.
    pub(crate) fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Live keys dropped to keep the bound.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;
    use keel_cache::{Bucket, bucket_step};

    use super::*;

    /// A small deterministic generator, so a failure reproduces.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    /// The same request sequence gets the same answers from governor and from keel-cache's token
    /// bucket (the algorithm the distributed mode runs in Redis). The two compute differently
    /// (integer nanoseconds against floating-point tokens), so a request that lands exactly on
    /// the boundary may go either way; such a tie restarts both on a fresh key, and ties must
    /// stay rare.
    #[test]
    fn same_answers_as_the_cache_token_bucket() {
        for (rate, burst) in [
            (0.5, 3),
            (2.0, 1),
            (10.0, 5),
            (3.0, 10),
            (1000.0, 50),
            (0.1, 2),
        ] {
            let rule = Rule::local(rate).with_burst(burst);
            let clock = FakeRelativeClock::default();
            let local = LocalLimiter::new(&rule, 1_000, clock.clone()).unwrap();
            let period_us = (1e6 / rate) as u64;
            let mut rng = Lcg(u64::from(burst) ^ rate.to_bits());
            let (mut state, mut now_us, mut key, mut ties, mut denied) = (None, 0i64, 0, 0, 0);
            for _ in 0..3_000 {
                // Bursts of back-to-back requests, short gaps and pauses longer than a refill.
                let gap_us = match rng.below(3) {
                    0 => 0,
                    1 => rng.below(period_us),
                    _ => rng.below(3 * period_us * u64::from(burst)),
                };
                clock.advance(Duration::from_micros(gap_us));
                now_us += gap_us as i64;
                let cost = 1 + rng.below(u64::from(burst)) as u32;
                let bucket = Bucket {
                    rate,
                    burst: f64::from(burst),
                    cost: f64::from(cost),
                };
                let (expected, next) = bucket_step(&bucket, state, now_us);
                let got = local
                    .check(&format!("k{key}"), NonZeroU32::new(cost).unwrap())
                    .unwrap();
                if got.allowed != expected.allowed {
                    let before = if expected.allowed {
                        expected.remaining + bucket.cost
                    } else {
                        expected.remaining
                    };
                    assert!(
                        (before - bucket.cost).abs() < 1e-6,
                        "rate {rate} burst {burst}: {got:?} vs {expected:?}"
                    );
                    ties += 1;
                    key += 1;
                    state = None;
                    continue;
                }
                state = Some(next);
                denied += u32::from(!got.allowed);
                let wait_diff = got.retry_after.as_secs_f64() - expected.retry_after.as_secs_f64();
                assert!(
                    wait_diff.abs() <= 2e-6,
                    "rate {rate} burst {burst}: {got:?} vs {expected:?}"
                );
                let remaining_ok = if got.allowed {
                    got.remaining <= expected.remaining + 1e-6
                        && got.remaining > expected.remaining - 1.0
                } else {
                    (got.remaining - expected.remaining).abs() < 1e-5
                };
                assert!(
                    remaining_ok,
                    "rate {rate} burst {burst}: {got:?} vs {expected:?}"
                );
            }
            assert!(ties < 30, "rate {rate} burst {burst}: {ties} ties");
            assert!(
                denied > 100,
                "rate {rate} burst {burst}: the sequence must hit the limit"
            );
        }
    }

    #[test]
    fn asking_for_more_than_the_bucket_holds_is_an_error() {
        let local = LocalLimiter::new(
            &Rule::local(1.0).with_burst(3),
            10,
            FakeRelativeClock::default(),
        )
        .unwrap();
        let err = local.check("k", NonZeroU32::new(4).unwrap()).unwrap_err();
        assert!(err.to_string().contains("at most 3"), "{err}");
    }

    #[test]
    fn the_sweep_drops_full_buckets() {
        let clock = FakeRelativeClock::default();
        let local =
            LocalLimiter::new(&Rule::local(10.0).with_burst(2), 1_000, clock.clone()).unwrap();
        for k in 0..100 {
            assert!(
                local
                    .check(&format!("k{k}"), NonZeroU32::MIN)
                    .unwrap()
                    .allowed
            );
        }
        assert_eq!(local.len(), 100);
        clock.advance(Duration::from_secs(1));
        local.sweep();
        assert_eq!(local.len(), 0);
    }
}
