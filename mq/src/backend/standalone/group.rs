//! A consumer group: its members, who owns which partition, and the committed offsets.

use std::collections::BTreeMap;

use super::{FastMap, Topic};

#[derive(Default)]
pub(super) struct Group {
    /// member id → subscribed topics
    members: BTreeMap<u64, Vec<String>>,
    /// topic → each partition's owner and committed position. Keyed by topic, then indexed by
    /// partition, so an acknowledgement is one lookup of a `&str`, without building a key.
    partitions: FastMap<String, Vec<Slot>>,
    /// Bumped on every rebalance; members compare it with the one they last saw.
    pub(super) generation: u64,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    owner: Option<u64>,
    /// The next offset to consume; 0 until something was acknowledged.
    committed: i64,
}

impl Group {
    pub(super) fn join(&mut self, member: u64, topics: &[String], all: &FastMap<String, Topic>) {
        self.members.insert(member, topics.to_vec());
        self.rebalance(all);
    }

    pub(super) fn leave(&mut self, member: u64, all: &FastMap<String, Topic>) {
        self.members.remove(&member);
        self.rebalance(all);
    }

    /// Forgets a deleted topic's offsets and reassigns what is left.
    pub(super) fn forget_topic(&mut self, name: &str, all: &FastMap<String, Topic>) {
        self.partitions.remove(name);
        self.rebalance(all);
    }

    /// Round-robin assignment of every subscribed partition over the members subscribed to it;
    /// committed positions stay.
    fn rebalance(&mut self, all: &FastMap<String, Topic>) {
        let mut subscribed: BTreeMap<&String, Vec<u64>> = BTreeMap::new();
        for (member, member_topics) in &self.members {
            for topic in member_topics {
                subscribed.entry(topic).or_default().push(*member);
            }
        }
        for slots in self.partitions.values_mut() {
            slots.iter_mut().for_each(|slot| slot.owner = None);
        }
        for (topic, members) in subscribed {
            let Some(t) = all.get(topic) else { continue };
            let count = t.partitions.len();
            let slots = self.partitions.entry(topic.clone()).or_default();
            if slots.len() < count {
                slots.resize(count, Slot::default());
            }
            for (p, slot) in slots.iter_mut().take(count).enumerate() {
                slot.owner = Some(members[p % members.len()]);
            }
        }
        self.generation += 1;
    }

    /// The partitions `member` owns, with the committed position of each.
    pub(super) fn owned_by(&self, member: u64) -> impl Iterator<Item = (&str, i32, i64)> {
        self.partitions.iter().flat_map(move |(topic, slots)| {
            slots
                .iter()
                .enumerate()
                .filter(move |(_, slot)| slot.owner == Some(member))
                .map(move |(p, slot)| (topic.as_str(), p as i32, slot.committed))
        })
    }

    /// Moves the committed position past `offset`, if `member` still owns the partition
    /// (otherwise the partition's new owner decides) and it is not behind already.
    pub(super) fn ack(&mut self, member: u64, topic: &str, partition: i32, offset: i64) {
        let slot = usize::try_from(partition)
            .ok()
            .and_then(|p| self.partitions.get_mut(topic)?.get_mut(p));
        if let Some(slot) = slot
            && slot.owner == Some(member)
        {
            slot.committed = slot.committed.max(offset + 1);
        }
    }
}
