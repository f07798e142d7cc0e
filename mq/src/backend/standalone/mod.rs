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
//!
//! Locking is fine-grained so producers and consumers rarely wait for each other: the topic
//! map is read-locked by produce and fetch, which then lock one partition at a time; each group
//! has its own lock, taken by acknowledgements and rebalances. Locks are taken in the order
//! group → topic map → partition.

mod consumer;
mod group;
mod murmur2;
mod wakeup;

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use bytes::Bytes;

use super::{Backend, Headers, Outgoing, RawConsumer, TopicInfo};
use crate::message::Delivery;
use crate::{Error, Result};
use consumer::StandaloneConsumer;
use group::Group;
pub(crate) use murmur2::murmur2;
use wakeup::Wakeup;

/// The broker's maps are looked up for every record with names the application chose: a fast
/// hash, not a DoS-resistant one.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

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
    topics: RwLock<FastMap<String, Topic>>,
    /// Groups are created on first join and never removed, so members hold their group.
    groups: Mutex<FastMap<String, Arc<Mutex<Group>>>>,
    next_member: AtomicU64,
    /// Consumers waiting for records or a rebalance.
    changes: Wakeup,
    retention: usize,
}

/// A stored record. Handing it to a consumer clones three reference counts, not the data.
struct Stored {
    key: Option<Bytes>,
    payload: Bytes,
    headers: Headers,
}

#[derive(Default)]
struct Partition {
    base_offset: i64,
    records: VecDeque<Stored>,
}

struct Topic {
    /// The name, shared with every record handed out.
    name: Arc<str>,
    partitions: Vec<Mutex<Partition>>,
    next_keyless: AtomicUsize,
}

impl Default for StandaloneBroker {
    fn default() -> Self {
        Self::new(1_000_000)
    }
}

/// Locks `mutex`. Mutations complete before anything that can panic, so a poisoned lock is
/// still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl StandaloneBroker {
    /// A broker keeping at most `retention_records` records per partition.
    pub fn new(retention_records: usize) -> Self {
        StandaloneBroker {
            inner: Arc::new(Inner {
                topics: RwLock::default(),
                groups: Mutex::default(),
                next_member: AtomicU64::new(0),
                changes: Wakeup::default(),
                retention: retention_records.max(1),
            }),
        }
    }

    fn topics(&self) -> RwLockReadGuard<'_, FastMap<String, Topic>> {
        self.inner.topics.read().unwrap_or_else(|p| p.into_inner())
    }

    fn topics_mut(&self) -> RwLockWriteGuard<'_, FastMap<String, Topic>> {
        self.inner.topics.write().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.inner.changes.wake();
    }

    /// Appends to the partition the key picks (round-robin without a key).
    fn append(&self, topic: &str, message: Outgoing) -> Result<Delivery> {
        let stored = Stored {
            key: message.key,
            payload: message.payload,
            headers: message.headers,
        };
        let topics = self.topics();
        let t = topics
            .get(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let count = t.partitions.len();
        let index = match &stored.key {
            Some(key) => (murmur2(key) & 0x7fff_ffff) as usize % count,
            None => {
                t.next_keyless
                    .fetch_add(1, Ordering::Relaxed)
                    .wrapping_add(1)
                    % count
            }
        };
        let offset = {
            let mut partition = lock(&t.partitions[index]);
            let offset = partition.base_offset + partition.records.len() as i64;
            partition.records.push_back(stored);
            while partition.records.len() > self.inner.retention {
                partition.records.pop_front();
                partition.base_offset += 1;
            }
            offset
        };
        drop(topics);
        self.changed();
        Ok(Delivery {
            topic: topic.to_owned(),
            partition: index as i32,
            offset,
        })
    }

    /// The groups, to update each without holding the map.
    fn all_groups(&self) -> Vec<Arc<Mutex<Group>>> {
        lock(&self.inner.groups).values().cloned().collect()
    }
}

#[async_trait]
impl Backend for StandaloneBroker {
    async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let mut topics = self.topics_mut();
        if topics.contains_key(name) {
            return Err(Error::TopicExists(name.to_owned()));
        }
        let partitions = (0..partitions).map(|_| Mutex::default()).collect();
        topics.insert(
            name.to_owned(),
            Topic {
                name: Arc::from(name),
                partitions,
                next_keyless: AtomicUsize::new(0),
            },
        );
        Ok(())
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        if self.topics_mut().remove(name).is_none() {
            return Err(Error::UnknownTopic(name.to_owned()));
        }
        for group in self.all_groups() {
            lock(&group).forget_topic(name, &self.topics());
        }
        self.changed();
        Ok(())
    }

    async fn list_topics(&self) -> Result<Vec<TopicInfo>> {
        let mut topics: Vec<TopicInfo> = self
            .topics()
            .iter()
            .map(|(name, t)| TopicInfo {
                name: name.clone(),
                partitions: t.partitions.len() as i32,
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    async fn produce(&self, topic: &str, message: Outgoing) -> Result<Delivery> {
        self.append(topic, message)
    }

    fn produce_now(&self, topic: &str, message: &mut Option<Outgoing>) -> Option<Result<Delivery>> {
        message.take().map(|m| self.append(topic, m))
    }

    async fn consumer(&self, group: &str, topics: &[String]) -> Result<Box<dyn RawConsumer>> {
        if let Some(missing) = {
            let all = self.topics();
            topics.iter().find(|t| !all.contains_key(*t)).cloned()
        } {
            return Err(Error::UnknownTopic(missing));
        }
        let id = self.inner.next_member.fetch_add(1, Ordering::Relaxed) + 1;
        let handle = Arc::clone(
            lock(&self.inner.groups)
                .entry(group.to_owned())
                .or_default(),
        );
        lock(&handle).join(id, topics, &self.topics());
        self.changed();
        Ok(Box::new(StandaloneConsumer::new(self.clone(), handle, id)))
    }

    async fn close(&self) {}
}
