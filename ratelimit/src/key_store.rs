//! [`KeyStore`]: governor's per-key state, bounded in memory.
//!
//! governor keeps one number per key: the theoretical arrival time (TAT) of the next request.
//! Keys come from clients (IPs, user ids, header values), so an unbounded map is a memory leak
//! an attacker can drive. This store:
//!
//! - is keyed by a 64-bit keyed hash of the key (the limiter hashes), so an entry has a fixed size whatever the key's
//!   length, and checking a key allocates nothing. Two keys sharing a hash would share a bucket
//!   (stricter, never looser); with a per-process random hash key an attacker cannot aim for
//!   that, and by chance it is ~1 in 10⁹ among 100 000 live keys;
//! - holds at most `max_keys`; when a shard is full it drops the entries whose TAT is oldest.
//!   An entry whose TAT has passed is a full bucket, indistinguishable from a fresh one, so
//!   dropping it loses nothing; only under a flood of live keys does a bucket close to full get
//!   dropped (and start full again);
//! - drops idle (full) buckets on [`ShrinkableKeyedStateStore::retain_recent`], which the
//!   limiter's sweeper calls periodically.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::ShrinkableKeyedStateStore;

/// Shards: enough that two cores rarely meet on one lock, few enough to scan cheaply.
const SHARDS: usize = 16;

/// The map key is already a good hash; hashing it again would only cost time.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the keys are u64); fold anything else in for completeness.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<u64, u64, BuildHasherDefault<PassThrough>>;

/// Per-key limiter state, bounded to `max_keys` entries.
pub(crate) struct KeyStore {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    /// Shared with the owner, which cannot reach the store once governor holds it.
    evicted: Arc<AtomicU64>,
}

impl KeyStore {
    /// A store holding at most about `max_keys` keys (rounded up to a multiple of the shards);
    /// `evicted` counts the live keys dropped to keep that bound.
    pub(crate) fn new(max_keys: usize, evicted: Arc<AtomicU64>) -> Self {
        let per_shard = max_keys.div_ceil(SHARDS).max(1);
        KeyStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
            evicted,
        }
    }

    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, Shard> {
        // The high bits pick the shard; the map inside uses all of them.
        let index = (hash >> 60) as usize % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes room in a full shard: drops the eighth of its entries with the oldest TATs.
    fn make_room(&self, shard: &mut Shard) {
        let mut tats: Vec<u64> = shard.values().copied().collect();
        let cut = (tats.len() / 8).max(1) - 1;
        let (_, threshold, _) = tats.select_nth_unstable(cut);
        let threshold = *threshold;
        let before = shard.len();
        shard.retain(|_, tat| *tat > threshold);
        self.evicted
            .fetch_add((before - shard.len()) as u64, Ordering::Relaxed);
    }
}

impl StateStore for KeyStore {
    type Key = u64;

    fn measure_and_replace<T, F, E>(&self, key: &u64, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut shard = self.shard(*key);
        let previous = shard.get(key).copied();
        let (outcome, tat) = f(previous.map(Nanos::new))?;
        if previous.is_none() && shard.len() >= self.per_shard {
            self.make_room(&mut shard);
        }
        shard.insert(*key, tat.as_u64());
        Ok(outcome)
    }
}

impl ShrinkableKeyedStateStore<u64> for KeyStore {
    fn retain_recent(&self, drop_below: Nanos) {
        let drop_below = drop_below.as_u64();
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            shard.retain(|_, tat| *tat >= drop_below);
        }
    }

    fn shrink_to_fit(&self) {
        for shard in self.shards.iter() {
            shard
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(store: &KeyStore, key: u64, tat: u64) {
        store
            .measure_and_replace(&key, |_| Ok::<_, ()>(((), Nanos::new(tat))))
            .unwrap();
    }

    #[test]
    fn the_bound_holds_and_the_oldest_entries_go_first() {
        let evicted = Arc::new(AtomicU64::new(0));
        let store = KeyStore::new(SHARDS * 8, Arc::clone(&evicted));
        // Same shard for every key (equal high bits), TAT = key.
        for k in 0..1_000u64 {
            put(&store, k, k);
        }
        let len = ShrinkableKeyedStateStore::len(&store);
        assert!(len <= 8, "{len}");
        assert!(evicted.load(Ordering::Relaxed) >= 992);
        // The survivors are the newest.
        let shard = store.shard(0);
        assert!(shard.keys().all(|k| *k >= 990), "{shard:?}");
    }

    #[test]
    fn retain_recent_drops_only_idle_entries() {
        let store = KeyStore::new(1_000, Arc::default());
        for k in 0..10u64 {
            put(&store, k << 60, k * 100);
        }
        store.retain_recent(Nanos::new(500));
        assert_eq!(ShrinkableKeyedStateStore::len(&store), 5);
    }
}
