//! Load balancing over a service's cached instances: round robin, weighted random, least
//! outstanding requests and consistent hashing.
//!
//! Every strategy treats weight 0 as "drained": such an instance is never picked unless every
//! instance has weight 0 (then they count as equal, so a service whose operator zeroed every
//! weight still answers). Every [`Picked`] counts as one request in flight on its instance
//! until it is dropped; least-outstanding reads those counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwapOption;
use rand::Rng;

use crate::{Discovery, InstanceView, LoadBalance};

/// Points each instance gets on the consistent-hash ring: enough that each instance's share
/// of the keys stays within a few percent of 1/N (the figure Ketama made common).
pub const VIRTUAL_NODES: usize = 160;

/// An instance chosen for one request. It counts as a request in flight on that instance
/// (for [`LoadBalance::LeastOutstanding`]) until it is dropped: keep it for the request's
/// duration.
pub struct Picked {
    list: Arc<Discovery>,
    index: usize,
    in_flight: Arc<AtomicUsize>,
}

impl Picked {
    /// The instance.
    pub fn instance(&self) -> &InstanceView {
        &self.list.instances[self.index]
    }

    /// `host:port` (an IPv6 host in brackets), ready for a URL or a socket address.
    pub fn address(&self) -> String {
        let i = &self.instance().instance;
        if i.host.contains(':') {
            format!("[{}]:{}", i.host, i.port)
        } else {
            format!("{}:{}", i.host, i.port)
        }
    }

    /// Requests in flight on this instance from this client, this one included.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl std::ops::Deref for Picked {
    type Target = InstanceView;

    fn deref(&self) -> &InstanceView {
        self.instance()
    }
}

impl Drop for Picked {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Picked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Picked")
            .field("instance_id", &self.instance().instance.instance_id)
            .field("address", &self.address())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// The balancing state of one service: the round-robin position and the per-instance
/// in-flight counters, plus what is derived from the current list (built once per list).
#[derive(Default)]
pub(crate) struct Balancer {
    next: AtomicUsize,
    prepared: ArcSwapOption<Prepared>,
    /// Serialises rebuilding, so two pickers never make two counters for one new instance.
    rebuild: Mutex<()>,
}

/// What picking needs from one instance list.
struct Prepared {
    list: Arc<Discovery>,
    /// Indexes of the instances that may be picked (weight > 0, or all when every weight is 0).
    eligible: Vec<usize>,
    /// Running sums of the eligible instances' weights (1 each when every weight is 0).
    cumulative: Vec<f64>,
    /// In-flight counters by instance index; carried over by id from the previous list, so
    /// requests in flight during a list change are still counted when they end.
    counters: Vec<Arc<AtomicUsize>>,
    ring: OnceLock<Ring>,
}

impl Balancer {
    /// Picks an instance of `list` with `strategy`; `key` is what consistent hashing hashes
    /// (without one it falls back to round robin). `None` when the list is empty.
    pub(crate) fn pick(
        &self,
        list: &Arc<Discovery>,
        strategy: LoadBalance,
        key: Option<&[u8]>,
    ) -> Option<Picked> {
        let prepared = self.prepared(list);
        let count = prepared.eligible.len();
        if count == 0 {
            return None;
        }
        let slot = match (strategy, key) {
            (LoadBalance::RoundRobin, _) | (LoadBalance::ConsistentHash, None) => {
                self.next.fetch_add(1, Ordering::Relaxed) % count
            }
            (LoadBalance::WeightedRandom, _) => prepared.weighted_random(),
            (LoadBalance::LeastOutstanding, _) => {
                prepared.least_outstanding(self.next.fetch_add(1, Ordering::Relaxed))
            }
            (LoadBalance::ConsistentHash, Some(key)) => prepared.ring().slot(key),
        };
        let index = prepared.eligible[slot];
        let in_flight = Arc::clone(&prepared.counters[index]);
        in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Picked {
            list: Arc::clone(&prepared.list),
            index,
            in_flight,
        })
    }

    fn prepared(&self, list: &Arc<Discovery>) -> Arc<Prepared> {
        // The fast path takes no lock: the list changes rarely, picks are frequent.
        if let Some(current) = self.prepared.load_full()
            && Arc::ptr_eq(&current.list, list)
        {
            return current;
        }
        let _guard = self.rebuild.lock().unwrap_or_else(|p| p.into_inner());
        let previous = self.prepared.load_full();
        if let Some(current) = &previous
            && Arc::ptr_eq(&current.list, list)
        {
            return Arc::clone(current);
        }
        let prepared = Arc::new(Prepared::new(Arc::clone(list), previous.as_deref()));
        self.prepared.store(Some(Arc::clone(&prepared)));
        prepared
    }
}

impl Prepared {
    fn new(list: Arc<Discovery>, previous: Option<&Prepared>) -> Self {
        let carried: HashMap<&str, &Arc<AtomicUsize>> = previous
            .map(|p| {
                p.list
                    .instances
                    .iter()
                    .zip(&p.counters)
                    .map(|(v, c)| (v.instance.instance_id.as_str(), c))
                    .collect()
            })
            .unwrap_or_default();
        let counters = list
            .instances
            .iter()
            .map(|v| {
                carried
                    .get(v.instance.instance_id.as_str())
                    .map_or_else(Arc::default, |c| Arc::clone(c))
            })
            .collect();
        let weights: Vec<f64> = list.instances.iter().map(weight).collect();
        let mut eligible: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0.0).collect();
        let all_zero = eligible.is_empty();
        if all_zero {
            eligible = (0..weights.len()).collect();
        }
        let mut total = 0.0;
        let cumulative = eligible
            .iter()
            .map(|&i| {
                total += if all_zero { 1.0 } else { weights[i] };
                total
            })
            .collect();
        Prepared {
            list,
            eligible,
            cumulative,
            counters,
            ring: OnceLock::new(),
        }
    }

    fn weighted_random(&self) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let point = rand::rng().random_range(0.0..total);
        // The first running sum above the point; a rounding edge lands on the last one.
        self.cumulative
            .partition_point(|&sum| sum <= point)
            .min(self.cumulative.len() - 1)
    }

    /// The eligible instance with the fewest requests in flight; ties go to the first one
    /// after a rotating start, so idle instances share the load instead of the first taking
    /// it all.
    fn least_outstanding(&self, rotation: usize) -> usize {
        let count = self.eligible.len();
        let start = rotation % count;
        let mut best = start;
        let mut fewest = usize::MAX;
        for offset in 0..count {
            let slot = (start + offset) % count;
            let in_flight = self.counters[self.eligible[slot]].load(Ordering::Relaxed);
            if in_flight < fewest {
                fewest = in_flight;
                best = slot;
            }
        }
        best
    }

    fn ring(&self) -> &Ring {
        self.ring.get_or_init(|| {
            Ring::new(
                self.eligible
                    .iter()
                    .map(|&i| self.list.instances[i].instance.instance_id.as_str()),
            )
        })
    }
}

/// A weight as a usable number: anything not finite or below 0 is 0.
fn weight(view: &InstanceView) -> f64 {
    let w = view.instance.weight;
    if w.is_finite() && w > 0.0 { w } else { 0.0 }
}

/// A consistent-hash ring: [`VIRTUAL_NODES`] points per instance, placed by hashing the
/// instance id (stable across clients and restarts: every client sends a key to the same
/// instance). Removing an instance removes only its points, so only its keys move.
struct Ring {
    /// (point, slot in the eligible list), sorted by point.
    points: Vec<(u64, usize)>,
}

impl Ring {
    fn new<'a>(ids: impl Iterator<Item = &'a str>) -> Self {
        let mut points = Vec::new();
        let mut label = String::new();
        for (slot, id) in ids.enumerate() {
            for node in 0..VIRTUAL_NODES {
                label.clear();
                label.push_str(id);
                label.push('#');
                label.push_str(&node.to_string());
                points.push((hash(label.as_bytes()), slot));
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    /// The slot owning the first point at or after the key's hash (wrapping around).
    fn slot(&self, key: &[u8]) -> usize {
        let h = hash(key);
        let at = self.points.partition_point(|&(point, _)| point < h);
        self.points
            .get(at)
            .or_else(|| self.points.first())
            .map_or(0, |&(_, slot)| slot)
    }
}

/// xxHash64 with seed 0: a frozen algorithm, so every client and version agrees.
fn hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh64::xxh64(bytes, 0)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::{
        CheckKind, HealthCheck, HealthStatus, Instance, InstanceStatus, LoadBalance, ServiceId,
    };

    fn view(id: &str, weight: f64) -> InstanceView {
        InstanceView {
            instance: Instance {
                instance_id: id.into(),
                tenant: "default".into(),
                group_name: "DEFAULT_GROUP".into(),
                service_name: "orders".into(),
                host: format!("10.0.0.{}", id.len()),
                port: 8080,
                weight,
                metadata: BTreeMap::new(),
                tags: Vec::new(),
                ephemeral: true,
                health_check: HealthCheck::of(CheckKind::Ttl),
                status: InstanceStatus::Up,
                checked_health: HealthStatus::Healthy,
                registered_at: 0,
                updated_at: 0,
            },
            healthy: true,
            health_status: HealthStatus::Healthy,
        }
    }

    fn list(instances: &[(&str, f64)]) -> Arc<Discovery> {
        Arc::new(Discovery {
            service: ServiceId::new("default", "DEFAULT_GROUP", "orders"),
            revision: 1,
            protect_threshold_triggered: false,
            load_balance: LoadBalance::RoundRobin,
            instances: instances.iter().map(|(id, w)| view(id, *w)).collect(),
        })
    }

    fn counts(
        balancer: &Balancer,
        list: &Arc<Discovery>,
        strategy: LoadBalance,
        picks: usize,
    ) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for _ in 0..picks {
            let picked = balancer.pick(list, strategy, None).unwrap();
            *counts
                .entry(picked.instance.instance_id.clone())
                .or_default() += 1;
        }
        counts
    }

    #[test]
    fn an_empty_list_picks_nothing() {
        let balancer = Balancer::default();
        for strategy in [
            LoadBalance::RoundRobin,
            LoadBalance::WeightedRandom,
            LoadBalance::LeastOutstanding,
            LoadBalance::ConsistentHash,
        ] {
            assert!(balancer.pick(&list(&[]), strategy, Some(b"k")).is_none());
        }
    }

    #[test]
    fn round_robin_takes_each_instance_in_turn_and_skips_weight_zero() {
        let balancer = Balancer::default();
        let l = list(&[("a", 1.0), ("b", 5.0), ("c", 1.0), ("drained", 0.0)]);
        let counts = counts(&balancer, &l, LoadBalance::RoundRobin, 300);
        assert_eq!(counts.get("a"), Some(&100));
        assert_eq!(counts.get("b"), Some(&100));
        assert_eq!(counts.get("c"), Some(&100));
        assert_eq!(counts.get("drained"), None);
        let first = balancer.pick(&l, LoadBalance::RoundRobin, None).unwrap();
        let second = balancer.pick(&l, LoadBalance::RoundRobin, None).unwrap();
        assert_ne!(first.instance.instance_id, second.instance.instance_id);
        assert_eq!(first.address(), "10.0.0.1:8080");
    }

    #[test]
    fn weighted_random_follows_the_weights_and_never_picks_weight_zero() {
        let balancer = Balancer::default();
        let l = list(&[("a", 1.0), ("b", 2.0), ("c", 7.0), ("drained", 0.0)]);
        let picks = 100_000;
        let counts = counts(&balancer, &l, LoadBalance::WeightedRandom, picks);
        assert_eq!(counts.get("drained"), None);
        for (id, share) in [("a", 0.1), ("b", 0.2), ("c", 0.7)] {
            let got = counts[id] as f64 / picks as f64;
            assert!((got - share).abs() < 0.02, "{id}: {got} vs {share}");
        }
    }

    #[test]
    fn when_every_weight_is_zero_all_are_equal() {
        let balancer = Balancer::default();
        let l = list(&[("a", 0.0), ("b", 0.0)]);
        let picks = 20_000;
        let counts = counts(&balancer, &l, LoadBalance::WeightedRandom, picks);
        let a = counts["a"] as f64 / picks as f64;
        assert!((a - 0.5).abs() < 0.03, "{a}");
        let rr = self::counts(&balancer, &l, LoadBalance::RoundRobin, 10);
        assert_eq!((rr["a"], rr["b"]), (5, 5));
    }

    #[test]
    fn least_outstanding_prefers_idle_instances_and_counts_until_drop() {
        let balancer = Balancer::default();
        let l = list(&[("a", 1.0), ("b", 1.0), ("c", 1.0)]);
        let held_a = balancer
            .pick(&l, LoadBalance::RoundRobin, None)
            .filter(|p| p.instance.instance_id == "a")
            .unwrap();
        let held_b = balancer.pick(&l, LoadBalance::RoundRobin, None).unwrap();
        assert_eq!(held_b.instance.instance_id, "b");
        // a and b are busy: c, the idle one, gets the next requests until it is as busy.
        let c = balancer
            .pick(&l, LoadBalance::LeastOutstanding, None)
            .unwrap();
        assert_eq!(c.instance.instance_id, "c");
        assert_eq!(c.in_flight(), 1);
        // Now all have one in flight; dropping b's makes b the idle one.
        drop(held_b);
        for _ in 0..5 {
            let next = balancer
                .pick(&l, LoadBalance::LeastOutstanding, None)
                .unwrap();
            assert_eq!(next.instance.instance_id, "b");
        }
        // Ties spread rather than all landing on the first instance.
        drop((held_a, c));
        let spread = counts(&balancer, &l, LoadBalance::LeastOutstanding, 300);
        assert_eq!(spread.len(), 3, "{spread:?}");
    }

    #[test]
    fn in_flight_counts_survive_a_list_change() {
        let balancer = Balancer::default();
        let before = list(&[("a", 1.0), ("b", 1.0)]);
        let held = balancer
            .pick(&before, LoadBalance::RoundRobin, None)
            .unwrap();
        assert_eq!(held.instance.instance_id, "a");
        let after = list(&[("a", 1.0), ("b", 1.0), ("c", 1.0)]);
        let picked: Vec<_> = (0..2)
            .map(|_| {
                balancer
                    .pick(&after, LoadBalance::LeastOutstanding, None)
                    .unwrap()
            })
            .collect();
        assert!(
            picked.iter().all(|p| p.instance.instance_id != "a"),
            "a still has a request in flight: {picked:?}"
        );
    }

    #[test]
    fn consistent_hash_keeps_keys_in_place_and_moves_only_the_removed_instances_keys() {
        let balancer = Balancer::default();
        let ids = ["i-0", "i-1", "i-2", "i-3", "i-4"];
        let all = list(&ids.map(|id| (id, 1.0)));
        let keys: Vec<String> = (0..20_000).map(|k| format!("user-{k}")).collect();
        let owner = |l: &Arc<Discovery>, key: &str| {
            balancer
                .pick(l, LoadBalance::ConsistentHash, Some(key.as_bytes()))
                .unwrap()
                .instance
                .instance_id
                .clone()
        };
        let before: Vec<String> = keys.iter().map(|k| owner(&all, k)).collect();
        // The same key goes to the same instance, every time.
        assert!(keys.iter().zip(&before).all(|(k, o)| owner(&all, k) == *o));
        // Each instance owns roughly a fifth of the keys.
        let mut share: HashMap<&str, usize> = HashMap::new();
        for o in &before {
            *share.entry(o.as_str()).or_default() += 1;
        }
        for id in ids {
            let got = share[id] as f64 / keys.len() as f64;
            assert!((got - 0.2).abs() < 0.06, "{id}: {got}");
        }

        let without = list(&ids[..4].iter().map(|id| (*id, 1.0)).collect::<Vec<_>>());
        let mut moved = 0;
        for (key, old) in keys.iter().zip(&before) {
            let new = owner(&without, key);
            if new != *old {
                assert_eq!(old, "i-4", "{key} moved from a surviving instance");
                moved += 1;
            }
        }
        let moved = moved as f64 / keys.len() as f64;
        assert!((moved - 0.2).abs() < 0.06, "{moved} of the keys moved");
        // Without a key, consistent hashing falls back to round robin.
        let rr = counts(&balancer, &without, LoadBalance::ConsistentHash, 8);
        assert!(rr.values().all(|&n| n == 2), "{rr:?}");
    }
}
