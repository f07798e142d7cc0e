//! The standalone broker: Kafka's model in process.
//!
//! Topics have partitions, each an append-only log with offsets (bounded by
//! `retention_records`). A keyed message goes to `murmur2(key) % partitions` — the hash Kafka's
//! Java clients use — so one key keeps one partition and its order. Consumer groups assign
//! partitions round-robin over their members and rebalance when a member joins or leaves; each
//! group keeps committed offsets, and a partition's new owner starts at the committed offset. An
//! acknowledgement from a member that no longer owns the partition is ignored, so a rebalance
//! can redeliver a message in flight (at-least-once) but never moves an offset backwards.
//!
//! A [`StandaloneBroker`] is a cheap handle: give the same one to several providers and they
//! share topics and groups.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use super::{Backend, RawConsumer, RawRecord, TopicInfo};
use crate::message::{Delivery, Message};
use crate::{Error, Result};

type TopicPartition = (String, i32);

/// A shared in-process message broker.
#[derive(Clone)]
pub struct StandaloneBroker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StandaloneBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandaloneBroker").finish_non_exhaustive()
    }
}

struct Inner {
    state: Mutex<State>,
    /// Bumped on every produce and rebalance; consumers wait on it.
    changes: watch::Sender<u64>,
    retention: usize,
}

/// A stored record. Handing it to a consumer clones three reference counts, not the data.
struct Stored {
    key: Option<Bytes>,
    payload: Bytes,
    headers: Arc<[(String, Vec<u8>)]>,
}

#[derive(Default)]
struct Partition {
    base_offset: i64,
    records: VecDeque<Stored>,
}

struct Topic {
    /// The name, shared with every record handed out.
    name: Arc<str>,
    partitions: Vec<Partition>,
    next_keyless: usize,
}

#[derive(Default)]
struct Group {
    /// member id → subscribed topics
    members: BTreeMap<u64, Vec<String>>,
    assignment: HashMap<TopicPartition, u64>,
    committed: HashMap<TopicPartition, i64>,
    generation: u64,
}

#[derive(Default)]
struct State {
    topics: HashMap<String, Topic>,
    groups: HashMap<String, Group>,
    next_member: u64,
}

impl Default for StandaloneBroker {
    fn default() -> Self {
        Self::new(1_000_000)
    }
}

impl StandaloneBroker {
    /// A broker keeping at most `retention_records` records per partition.
    pub fn new(retention_records: usize) -> Self {
        StandaloneBroker {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                changes: watch::channel(0).0,
                retention: retention_records.max(1),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Mutations complete before anything that can panic; a poisoned lock is still consistent.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.inner.changes.send_modify(|v| *v += 1);
    }
}

/// Kafka's murmur2 (the Java client's default partitioner), so keys land where a Java producer
/// would put them.
pub(crate) fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// Round-robin assignment of every subscribed partition over the members subscribed to it.
fn rebalance(group: &mut Group, topics: &HashMap<String, Topic>) {
    let mut assignment = HashMap::new();
    let mut subscribed: BTreeMap<&String, Vec<u64>> = BTreeMap::new();
    for (member, member_topics) in &group.members {
        for topic in member_topics {
            subscribed.entry(topic).or_default().push(*member);
        }
    }
    for (topic, members) in subscribed {
        let Some(t) = topics.get(topic) else { continue };
        for partition in 0..t.partitions.len() {
            assignment.insert(
                (topic.clone(), partition as i32),
                members[partition % members.len()],
            );
        }
    }
    group.assignment = assignment;
    group.generation += 1;
}

impl StandaloneBroker {
    /// Appends to the partition the key picks (round-robin without a key).
    fn append(&self, topic: &str, message: Message) -> Result<Delivery> {
        let mut state = self.lock();
        let t = state
            .topics
            .get_mut(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let count = t.partitions.len();
        let index = match &message.key {
            Some(key) => (murmur2(key) & 0x7fff_ffff) as usize % count,
            None => {
                t.next_keyless = t.next_keyless.wrapping_add(1);
                t.next_keyless % count
            }
        };
        let partition = &mut t.partitions[index];
        let offset = partition.base_offset + partition.records.len() as i64;
        partition.records.push_back(Stored {
            key: message.key,
            payload: message.payload,
            headers: message.headers.into(),
        });
        while partition.records.len() > self.inner.retention {
            partition.records.pop_front();
            partition.base_offset += 1;
        }
        drop(state);
        self.changed();
        Ok(Delivery {
            topic: topic.to_owned(),
            partition: index as i32,
            offset,
        })
    }
}

#[async_trait]
impl Backend for StandaloneBroker {
    async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let mut state = self.lock();
        if state.topics.contains_key(name) {
            return Err(Error::TopicExists(name.to_owned()));
        }
        let partitions = (0..partitions).map(|_| Partition::default()).collect();
        state.topics.insert(
            name.to_owned(),
            Topic {
                name: Arc::from(name),
                partitions,
                next_keyless: 0,
            },
        );
        Ok(())
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        let mut state = self.lock();
        if state.topics.remove(name).is_none() {
            return Err(Error::UnknownTopic(name.to_owned()));
        }
        let State { topics, groups, .. } = &mut *state;
        for group in groups.values_mut() {
            group.committed.retain(|(t, _), _| t != name);
            rebalance(group, topics);
        }
        drop(state);
        self.changed();
        Ok(())
    }

    async fn list_topics(&self) -> Result<Vec<TopicInfo>> {
        let state = self.lock();
        let mut topics: Vec<TopicInfo> = state
            .topics
            .iter()
            .map(|(name, t)| TopicInfo {
                name: name.clone(),
                partitions: t.partitions.len() as i32,
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    async fn produce(&self, topic: &str, message: Message) -> Result<Delivery> {
        self.append(topic, message)
    }

    fn produce_now(&self, topic: &str, message: &mut Option<Message>) -> Option<Result<Delivery>> {
        message.take().map(|m| self.append(topic, m))
    }

    async fn consumer(&self, group: &str, topics: &[String]) -> Result<Box<dyn RawConsumer>> {
        let mut state = self.lock();
        if let Some(missing) = topics.iter().find(|t| !state.topics.contains_key(*t)) {
            return Err(Error::UnknownTopic(missing.clone()));
        }
        state.next_member += 1;
        let id = state.next_member;
        let State {
            topics: all,
            groups,
            ..
        } = &mut *state;
        let g = groups.entry(group.to_owned()).or_default();
        g.members.insert(id, topics.to_vec());
        rebalance(g, all);
        drop(state);
        self.changed();
        Ok(Box::new(StandaloneConsumer {
            broker: self.clone(),
            group: group.to_owned(),
            id,
            cursor: Mutex::new(Cursor::default()),
            changes: self.inner.changes.subscribe(),
            closed: AtomicBool::new(false),
        }))
    }

    async fn close(&self) {}
}

#[derive(Default)]
struct Cursor {
    generation: u64,
    /// Owned partitions (topic name shared with the broker) with the next offset to read.
    positions: Vec<((Arc<str>, i32), i64)>,
    /// Where the round-robin over owned partitions continues.
    next: usize,
}

struct StandaloneConsumer {
    broker: StandaloneBroker,
    group: String,
    id: u64,
    cursor: Mutex<Cursor>,
    changes: watch::Receiver<u64>,
    closed: AtomicBool,
}

impl StandaloneConsumer {
    /// Up to `max` waiting records of owned partitions, taken round-robin by partition.
    fn poll(&self, max: usize) -> Result<Vec<RawRecord>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let state = self.broker.lock();
        let group = state.groups.get(&self.group).ok_or(Error::Closed)?;
        let mut cursor = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
        if cursor.generation != group.generation {
            // Keep positions of partitions still ours (work continues where it was); start new
            // ones at the group's committed offset.
            let previous: HashMap<TopicPartition, i64> = cursor
                .positions
                .drain(..)
                .map(|((topic, partition), at)| ((topic.to_string(), partition), at))
                .collect();
            let mut positions: Vec<((Arc<str>, i32), i64)> = group
                .assignment
                .iter()
                .filter(|(_, owner)| **owner == self.id)
                .filter_map(|(tp, _)| {
                    let start = previous
                        .get(tp)
                        .or_else(|| group.committed.get(tp))
                        .copied()
                        .unwrap_or(0);
                    let name = Arc::clone(&state.topics.get(&tp.0)?.name);
                    Some(((name, tp.1), start))
                })
                .collect();
            positions.sort();
            cursor.positions = positions;
            cursor.generation = group.generation;
            cursor.next = 0;
        }
        let mut batch = Vec::new();
        let owned = cursor.positions.len();
        let mut idle = 0;
        // Take one record per partition per round until the batch is full or nothing waits.
        while batch.len() < max && idle < owned {
            let index = cursor.next % owned;
            cursor.next = (cursor.next + 1) % owned;
            let ((topic, partition), position) = &mut cursor.positions[index];
            let Some(log) = state
                .topics
                .get(&**topic)
                .and_then(|t| t.partitions.get(*partition as usize))
            else {
                idle += 1;
                continue;
            };
            let at = (*position).max(log.base_offset);
            match log.records.get((at - log.base_offset) as usize) {
                Some(stored) => {
                    idle = 0;
                    *position = at + 1;
                    batch.push(RawRecord {
                        topic: topic.clone(),
                        partition: *partition,
                        offset: at,
                        key: stored.key.clone(),
                        payload: stored.payload.clone(),
                        headers: stored.headers.clone(),
                    });
                }
                None => idle += 1,
            }
        }
        Ok(batch)
    }

    fn leave(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut state = self.broker.lock();
        let State { topics, groups, .. } = &mut *state;
        if let Some(group) = groups.get_mut(&self.group) {
            group.members.remove(&self.id);
            rebalance(group, topics);
        }
        drop(state);
        self.broker.changed();
    }
}

#[async_trait]
impl RawConsumer for StandaloneConsumer {
    async fn recv(&self, max: usize) -> Result<Vec<RawRecord>> {
        let mut changes = self.changes.clone();
        loop {
            changes.borrow_and_update();
            let batch = self.poll(max)?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            if changes.changed().await.is_err() {
                return Err(Error::Closed);
            }
        }
    }

    fn ack(&self, topic: &str, partition: i32, offset: i64) {
        let mut state = self.broker.lock();
        let Some(group) = state.groups.get_mut(&self.group) else {
            return;
        };
        let tp = (topic.to_owned(), partition);
        if group.assignment.get(&tp) == Some(&self.id) {
            let committed = group.committed.entry(tp).or_insert(0);
            *committed = (*committed).max(offset + 1);
        }
    }

    async fn commit(&self) -> Result<()> {
        // Acknowledgements are committed as they happen.
        Ok(())
    }

    async fn close(&self) {
        self.leave();
    }
}

impl Drop for StandaloneConsumer {
    fn drop(&mut self) {
        // A consumer dropped without close (a crash) leaves the group too; what it had not
        // acknowledged goes to the partition's next owner.
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::murmur2;

    #[test]
    fn murmur2_matches_kafka() {
        // Vectors from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }
}
