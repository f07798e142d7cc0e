//! Messages going out and coming in.
//!
//! Keys and payloads are [`Bytes`]: handing a message from producer to broker to handler shares
//! one buffer instead of copying it at every hop; headers are shared the same way once stored.

use std::sync::Arc;

use bytes::Bytes;

/// A message to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Messages with the same key go to the same partition, so they are consumed in order.
    /// `None` spreads messages over partitions.
    pub key: Option<Bytes>,
    /// The body.
    pub payload: Bytes,
    /// Application headers. keel adds `traceparent` (and `keel-timeout-ms` when the Context has
    /// a deadline) from the sending Context.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Message {
    /// A message with a key.
    pub fn keyed(key: impl Into<Bytes>, payload: impl Into<Bytes>) -> Self {
        Message {
            key: Some(key.into()),
            payload: payload.into(),
            headers: Vec::new(),
        }
    }

    /// A message without a key.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Message {
            payload: payload.into(),
            ..Message::default()
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Where a sent message was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
}

/// A message handed to a consumer's handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The topic it came from.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The body.
    pub payload: Bytes,
    /// All headers, including keel's.
    pub headers: Arc<[(String, Vec<u8>)]>,
    /// 1 on the first delivery to the handler, 2 on the first retry, ...
    pub attempt: u32,
}

impl Received {
    /// The first header called `name`, as UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Dead-letter headers: where the message came from and why it was given up.
pub mod dead_letter_headers {
    /// The original topic.
    pub const TOPIC: &str = "keel-dlq-topic";
    /// The original partition.
    pub const PARTITION: &str = "keel-dlq-partition";
    /// The original offset.
    pub const OFFSET: &str = "keel-dlq-offset";
    /// How many times the handler failed.
    pub const ATTEMPTS: &str = "keel-dlq-attempts";
    /// The last handler error.
    pub const ERROR: &str = "keel-dlq-error";
}
