//! One circuit breaker: closed → open → half-open → closed.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::{Error, Policy};

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Calls go through; outcomes are counted.
    Closed,
    /// Calls are rejected until the open timeout passes.
    Open,
    /// A limited number of trial calls decide whether to close or open again.
    HalfOpen,
}

#[derive(Debug)]
struct Counts {
    state: State,
    window_start: Duration,
    successes: u32,
    failures: u32,
    consecutive_failures: u32,
    opened_at: Duration,
    trials_in_flight: u32,
    trial_successes: u32,
}

/// A named circuit breaker. Cheap to share (`Arc<Breaker>`); every method is thread-safe.
pub struct Breaker {
    name: String,
    policy: Policy,
    clock: Arc<dyn Clock>,
    counts: Mutex<Counts>,
    opened: AtomicU64,
    rejected: AtomicU64,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .finish()
    }
}

/// Permission to make one call. Report the outcome with [`Permit::success`] or
/// [`Permit::failure`]; dropping it unreported (a cancelled call) frees its trial slot without
/// counting either way.
#[derive(Debug)]
pub struct Permit {
    breaker: Arc<Breaker>,
    trial: bool,
    reported: bool,
}

impl Breaker {
    pub(crate) fn new(name: &str, policy: Policy, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        Breaker {
            name: name.to_owned(),
            policy,
            clock,
            counts: Mutex::new(Counts {
                state: State::Closed,
                window_start: now,
                successes: 0,
                failures: 0,
                consecutive_failures: 0,
                opened_at: now,
                trials_in_flight: 0,
                trial_successes: 0,
            }),
            opened: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy it runs with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// How many times it opened.
    pub fn times_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// How many calls it rejected.
    pub fn rejections(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Every update completes before anything can panic; a poisoned lock is consistent.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves time-driven transitions forward: a closed window rolls over, an open breaker whose
    /// timeout passed becomes half-open.
    fn refresh(&self, counts: &mut Counts, now: Duration) {
        match counts.state {
            State::Closed if now.saturating_sub(counts.window_start) >= self.policy.window => {
                counts.window_start = now;
                counts.successes = 0;
                counts.failures = 0;
            }
            State::Open if now.saturating_sub(counts.opened_at) >= self.policy.open_timeout => {
                self.transition(counts, State::HalfOpen, now);
            }
            _ => {}
        }
    }

    fn transition(&self, counts: &mut Counts, to: State, now: Duration) {
        let from = counts.state;
        counts.state = to;
        match to {
            State::Open => {
                counts.opened_at = now;
                self.opened.fetch_add(1, Ordering::Relaxed);
            }
            State::HalfOpen => {
                counts.trials_in_flight = 0;
                counts.trial_successes = 0;
            }
            State::Closed => {
                counts.window_start = now;
                counts.successes = 0;
                counts.failures = 0;
                counts.consecutive_failures = 0;
            }
        }
        tracing::warn!(
            breaker = self.name,
            ?from,
            ?to,
            "circuit breaker changed state"
        );
    }

    /// The state now.
    pub fn state(&self) -> State {
        let mut counts = self.lock();
        self.refresh(&mut counts, self.clock.now());
        counts.state
    }

    /// Asks to make a call: `None` when the breaker rejects it.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut counts = self.lock();
        self.refresh(&mut counts, self.clock.now());
        let trial = match counts.state {
            State::Closed => false,
            State::HalfOpen if counts.trials_in_flight < self.policy.half_open_max_requests => {
                counts.trials_in_flight += 1;
                true
            }
            State::Open | State::HalfOpen => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        Some(Permit {
            breaker: Arc::clone(self),
            trial,
            reported: false,
        })
    }

    fn record(&self, trial: bool, success: bool) {
        let now = self.clock.now();
        let mut counts = self.lock();
        self.refresh(&mut counts, now);
        if trial {
            counts.trials_in_flight = counts.trials_in_flight.saturating_sub(1);
        }
        match (counts.state, success) {
            (State::HalfOpen, true) if trial => {
                counts.trial_successes += 1;
                if counts.trial_successes >= self.policy.success_threshold {
                    self.transition(&mut counts, State::Closed, now);
                }
            }
            (State::HalfOpen, false) if trial => self.transition(&mut counts, State::Open, now),
            (State::Closed, true) => {
                counts.successes += 1;
                counts.consecutive_failures = 0;
            }
            (State::Closed, false) => {
                counts.failures += 1;
                counts.consecutive_failures += 1;
                let total = counts.successes + counts.failures;
                let by_streak = self
                    .policy
                    .consecutive_failures
                    .is_some_and(|n| counts.consecutive_failures >= n);
                let by_ratio = self.policy.failure_ratio.is_some_and(|r| {
                    total >= self.policy.minimum_requests
                        && f64::from(counts.failures) / f64::from(total) >= r
                });
                if by_streak || by_ratio {
                    self.transition(&mut counts, State::Open, now);
                }
            }
            // An outcome from before the last transition (a call that started closed and ended
            // after the breaker opened) does not count.
            _ => {}
        }
    }

    /// Runs `f` if the breaker allows it; `is_failure` decides which errors count against it
    /// (errors it does not count are returned but do not trip the breaker).
    pub async fn call<T, E, F, Fut>(
        self: &Arc<Self>,
        f: F,
        is_failure: impl Fn(&E) -> bool,
    ) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(permit) = self.try_acquire() else {
            return Err(Error::Open(self.name.clone()));
        };
        match f().await {
            Ok(value) => {
                permit.success();
                Ok(value)
            }
            Err(err) => {
                if is_failure(&err) {
                    permit.failure();
                } else {
                    permit.success();
                }
                Err(Error::Inner(err))
            }
        }
    }

    /// Like [`Breaker::call`], but when the breaker rejects the call, `fallback` answers instead.
    /// The fallback runs only on rejection, never after a failed call.
    pub async fn call_or_else<T, E, F, Fut, G, GFut>(
        self: &Arc<Self>,
        f: F,
        is_failure: impl Fn(&E) -> bool,
        fallback: G,
    ) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        G: FnOnce() -> GFut,
        GFut: Future<Output = Result<T, E>>,
    {
        match self.call(f, is_failure).await {
            Ok(value) => Ok(value),
            Err(Error::Open(_)) => fallback().await,
            Err(Error::Inner(err)) => Err(err),
        }
    }
}

impl Permit {
    /// The call succeeded.
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.record(self.trial, true);
    }

    /// The call failed in a way that counts against the breaker.
    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.record(self.trial, false);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.reported && self.trial {
            let mut counts = self.breaker.lock();
            counts.trials_in_flight = counts.trials_in_flight.saturating_sub(1);
        }
    }
}
