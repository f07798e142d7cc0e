//! Distributed checks: the bucket lives in the cache (Redis), on the server's clock, so every
//! process sharing the cache shares one limit. When the cache does not answer in time, the
//! rule's `on_backend_error` policy answers, and for `backend_recheck` the cache is not asked
//! at all, so an outage adds no latency to every request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use xxhash_rust::xxh64::xxh64;

/// Keys longer than this are stored by their hash (a client controls the key's length).
const MAX_PLAIN_KEY: usize = 200;

/// The cache key of `key`'s bucket for `resource`.
pub(crate) fn bucket_key(prefix: &str, resource: &str, key: &str) -> String {
    if key.len() <= MAX_PLAIN_KEY {
        format!("{prefix}{resource}:{key}")
    } else {
        // xxHash64 is stable across processes and versions, so every node finds the same key.
        format!(
            "{prefix}{resource}:#{:016x}{:016x}",
            xxh64(key.as_bytes(), 0),
            xxh64(key.as_bytes(), 1)
        )
    }
}

/// Remembers that the backend failed, until when to leave it alone.
#[derive(Debug)]
pub(crate) struct BackendGate {
    epoch: Instant,
    /// Nanoseconds since `epoch` until which the backend is considered down (0 = up).
    down_until: AtomicU64,
}

impl BackendGate {
    pub(crate) fn new() -> Self {
        BackendGate {
            epoch: Instant::now(),
            down_until: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The backend failed recently: answer by policy without asking it.
    pub(crate) fn is_down(&self) -> bool {
        let until = self.down_until.load(Ordering::Relaxed);
        until != 0 && self.now() < until
    }

    pub(crate) fn mark_down(&self, recheck: Duration) {
        let until = self.now() + recheck.as_nanos() as u64;
        self.down_until.store(until.max(1), Ordering::Relaxed);
    }

    pub(crate) fn mark_up(&self) {
        if self.down_until.load(Ordering::Relaxed) != 0 {
            self.down_until.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_hashed_and_short_ones_kept() {
        assert_eq!(bucket_key("rl:", "login", "alice"), "rl:login:alice");
        let long = "x".repeat(10_000);
        let hashed = bucket_key("rl:", "login", &long);
        assert_eq!(hashed.len(), "rl:login:#".len() + 32);
        assert_eq!(hashed, bucket_key("rl:", "login", &long));
        assert_ne!(hashed, bucket_key("rl:", "login", &"y".repeat(10_000)));
    }

    #[test]
    fn the_gate_reopens_after_the_recheck_interval() {
        let gate = BackendGate::new();
        assert!(!gate.is_down());
        gate.mark_down(Duration::from_secs(3600));
        assert!(gate.is_down());
        gate.mark_up();
        assert!(!gate.is_down());
        gate.mark_down(Duration::ZERO);
        assert!(!gate.is_down());
    }
}
