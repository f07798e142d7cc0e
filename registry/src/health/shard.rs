//! Which node of a cluster probes which instance: rendezvous (highest-random-weight) hashing.
//!
//! Every node scores each (node, instance) pair with the same hash and the highest score owns
//! the instance. Nodes agree without talking to each other as long as they see the same member
//! list, and a node joining or leaving moves only the instances it gains or loses — about
//! `1/n` of them — instead of reshuffling everything as `hash % n` would.
//!
//! The hash is XXH64 (seed 0), a published algorithm whose output is fixed by its
//! specification: nodes running different keel versions still agree. Hashers meant for hash
//! tables (SipHash with random keys, foldhash) promise no such stability.

use xxhash_rust::xxh64::Xxh64;

/// The node in `nodes` that should probe `instance_id`, or `None` when `nodes` is empty.
///
/// Deterministic for a given set of node names (their order does not matter); duplicates are
/// harmless. Ties, which need a 64-bit collision, go to the smaller node name.
pub fn owner<'a>(instance_id: &str, nodes: &'a [String]) -> Option<&'a str> {
    nodes
        .iter()
        .map(|node| (score(node, instance_id), node.as_str()))
        // Highest score wins; on a tie the smaller name, so the result is order-independent.
        .max_by(|(sa, na), (sb, nb)| sa.cmp(sb).then_with(|| nb.cmp(na)))
        .map(|(_, node)| node)
}

/// The weight of `instance_id` on `node`.
fn score(node: &str, instance_id: &str) -> u64 {
    let mut h = Xxh64::new(0);
    // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
    h.update(&(node.len() as u64).to_le_bytes());
    h.update(node.as_bytes());
    h.update(instance_id.as_bytes());
    h.digest()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn ids() -> impl Iterator<Item = String> {
        (0..10_000).map(|i| format!("instance-{i:05}"))
    }

    #[test]
    fn no_nodes_no_owner() {
        assert_eq!(owner("x", &[]), None);
        assert_eq!(owner("x", &nodes(&["only"])), Some("only"));
    }

    #[test]
    fn deterministic_and_order_independent() {
        let a = nodes(&["node-a", "node-b", "node-c"]);
        let b = nodes(&["node-c", "node-a", "node-b"]);
        for id in ids().take(1000) {
            assert_eq!(owner(&id, &a), owner(&id, &a));
            assert_eq!(owner(&id, &a), owner(&id, &b));
        }
        // Pinned: a change of hash would silently split a mixed-version cluster.
        assert_eq!(
            xxhash_rust::xxh64::xxh64(b"abc", 0),
            0x44bc_2cf5_ad77_0999,
            "XXH64(\"abc\", seed 0) from the reference implementation"
        );
        // And the way node and instance are fed to it.
        assert_eq!(score("node-a", "instance-00000"), 0xe153_4edb_597b_97a0);
    }

    #[test]
    fn balanced_within_twenty_percent() {
        let n = nodes(&["10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"]);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in ids() {
            *counts.entry(owner(&id, &n).unwrap()).or_default() += 1;
        }
        let fair = 10_000.0 / 3.0;
        for node in &n {
            let c = counts.get(node.as_str()).copied().unwrap_or(0) as f64;
            assert!(
                (c - fair).abs() <= fair * 0.2,
                "{node} owns {c} of 10000 ids: {counts:?}"
            );
        }
    }

    #[test]
    fn removing_a_node_moves_only_its_instances() {
        let all = nodes(&["a", "b", "c"]);
        let without_b = nodes(&["a", "c"]);
        let mut moved = 0;
        for id in ids() {
            let before = owner(&id, &all).unwrap();
            let after = owner(&id, &without_b).unwrap();
            if before == "b" {
                moved += 1;
                assert_ne!(after, "b");
            } else {
                assert_eq!(before, after, "{id} moved from {before} to {after}");
            }
        }
        assert!(moved > 0);
    }
}
