//! What a backend provides: topic administration, produce-and-await, and a raw group consumer.
//! Retries, dead letters, per-partition ordering, trace propagation and draining shutdown are
//! written once above it (`consumer.rs`, `provider.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::Result;
use crate::message::{Delivery, Message};

/// Message headers once they are final: shared, not copied, from producer to broker to handler.
pub(crate) type Headers = Arc<[(String, Vec<u8>)]>;

/// A message on its way to the broker: validated, with keel's headers added.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) key: Option<Bytes>,
    pub(crate) payload: Bytes,
    pub(crate) headers: Headers,
}

impl Outgoing {
    /// Key + payload + headers, the size `max_message_bytes` limits.
    pub(crate) fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Bytes::len)
            + self.payload.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

impl From<Message> for Outgoing {
    fn from(message: Message) -> Self {
        Outgoing {
            key: message.key,
            payload: message.payload,
            headers: message.headers.into(),
        }
    }
}

#[cfg(feature = "kafka")]
pub(crate) mod kafka;
pub(crate) mod standalone;

/// A topic and its partition count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The name.
    pub name: String,
    /// How many partitions.
    pub partitions: i32,
}

/// Records of one partition fetched by a raw consumer, in offset order.
#[derive(Debug)]
pub(crate) struct RawRun {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) records: Vec<RawRecord>,
}

/// A record fetched by a raw consumer (its topic and partition are its run's).
#[derive(Debug)]
pub(crate) struct RawRecord {
    pub(crate) offset: i64,
    pub(crate) key: Option<Bytes>,
    pub(crate) payload: Bytes,
    pub(crate) headers: Headers,
}

#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    async fn create_topic(&self, name: &str, partitions: i32) -> Result<()>;
    async fn delete_topic(&self, name: &str) -> Result<()>;
    async fn list_topics(&self) -> Result<Vec<TopicInfo>>;
    /// Sends and waits for the broker's acknowledgement.
    async fn produce(&self, topic: &str, message: Outgoing) -> Result<Delivery>;
    /// Stores the message right away when the backend can (in process) and returns the
    /// outcome; `None` means "this backend must await the broker" and the caller uses `produce`.
    fn produce_now(
        &self,
        _topic: &str,
        _message: &mut Option<Outgoing>,
    ) -> Option<Result<Delivery>> {
        None
    }
    /// Joins `group` for `topics`.
    async fn consumer(&self, group: &str, topics: &[String]) -> Result<Box<dyn RawConsumer>>;
    async fn close(&self);
}

/// One member of a consumer group.
#[async_trait]
pub(crate) trait RawConsumer: Send + Sync {
    /// The next records (at least one, at most `max` in all) of partitions this member owns
    /// (waits for one), as runs of one partition each. A partition may have several runs;
    /// their order is its offset order.
    async fn recv(&self, max: usize) -> Result<Vec<RawRun>>;
    /// Marks `offset` processed: the group's committed position becomes `offset + 1`. Ignored
    /// when the partition is no longer this member's (it was rebalanced away).
    fn ack(&self, topic: &str, partition: i32, offset: i64);
    /// Makes the acknowledged offsets durable now.
    async fn commit(&self) -> Result<()>;
    /// Leaves the group.
    async fn close(&self);
}
