//! Counters for metrics, and a gate that keeps repeated warnings from flooding the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// What one resource's rule did since it was (re)loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResourceStats {
    /// The resource.
    pub resource: String,
    /// Requests let through.
    pub allowed: u64,
    /// Requests refused.
    pub denied: u64,
    /// Decisions made by `on_backend_error` because the backend did not answer.
    pub backend_fallbacks: u64,
    /// Keys held by the local buckets.
    pub local_keys: usize,
    /// Live local keys dropped to stay within `max_keys`.
    pub evicted_keys: u64,
}

/// Everything the limiter counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests for resources without a rule (answered by `unknown_rule`).
    pub unknown_rule: u64,
    /// Per resource, sorted by name.
    pub resources: Vec<ResourceStats>,
}

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Lets a warning through at most once per interval, counting what it held back, so an outage
/// that affects every request logs a line every few seconds, not a line per request.
#[derive(Debug)]
pub(crate) struct LogGate {
    epoch: Instant,
    interval: Duration,
    /// Milliseconds since `epoch` of the last line let through, plus one (0 = never).
    last: AtomicU64,
    held_back: AtomicU64,
}

impl LogGate {
    pub(crate) fn new(interval: Duration) -> Self {
        LogGate {
            epoch: Instant::now(),
            interval,
            last: AtomicU64::new(0),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(held back since the last line)` when a line may be written now.
    pub(crate) fn pass(&self) -> Option<u64> {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.interval.as_millis() as u64;
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held_back.swap(0, Ordering::Relaxed));
        }
        self.held_back.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_gate_passes_once_per_interval_and_counts_the_rest() {
        let gate = LogGate::new(Duration::from_secs(3600));
        assert_eq!(gate.pass(), Some(0));
        assert_eq!(gate.pass(), None);
        assert_eq!(gate.pass(), None);
        let open = LogGate::new(Duration::ZERO);
        assert_eq!(open.pass(), Some(0));
        assert_eq!(open.pass(), Some(0));
    }
}
