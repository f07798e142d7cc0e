//! [`Config`] of the mq provider and [`ConsumerOptions`] of a subscription.

use std::collections::BTreeMap;
use std::time::Duration;

use keel_clog::Env;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The provider's mode (shared by every keel crate; see `keel_clog::Mode`).
pub use keel_clog::Mode;

/// Static settings of the mq provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Standalone: the in-process broker. Distributed: Kafka (feature `kafka`).
    pub mode: Mode,
    /// Kafka bootstrap servers (`host:9092,host:9092`), distributed mode.
    #[serde(default)]
    pub brokers: String,
    /// The client id brokers see.
    pub client_id: String,
    /// Upper bound of one admin call or delivery wait when the Context has no earlier deadline.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long `close` waits for messages still being delivered.
    #[serde(with = "humantime_serde")]
    pub flush_timeout: Duration,
    /// Largest message (key + payload + headers).
    pub max_message_bytes: usize,
    /// Kafka: replicas of each topic created through `create_topic` (use 3 on a real cluster).
    pub replication_factor: i32,
    /// Standalone: records kept per partition; older ones are dropped (a consumer behind them
    /// continues at the oldest kept record, as with Kafka retention).
    pub retention_records: usize,
    /// Extra librdkafka producer properties (e.g. `linger.ms`, `compression.type`).
    #[serde(default)]
    pub producer_properties: BTreeMap<String, String>,
    /// Extra librdkafka consumer properties (e.g. `session.timeout.ms`).
    #[serde(default)]
    pub consumer_properties: BTreeMap<String, String>,
}

impl Config {
    /// Development: the standalone broker. Production: Kafka on `127.0.0.1:9092`.
    pub fn for_env(env: Env) -> Self {
        let base = Config {
            mode: Mode::Standalone,
            brokers: String::new(),
            client_id: "keel".into(),
            request_timeout: Duration::from_secs(10),
            flush_timeout: Duration::from_secs(10),
            max_message_bytes: 1024 * 1024,
            replication_factor: 1,
            retention_records: 1_000_000,
            producer_properties: BTreeMap::new(),
            consumer_properties: BTreeMap::new(),
        };
        match env {
            Env::Development => base,
            Env::Production => Config {
                mode: Mode::Distributed,
                brokers: "127.0.0.1:9092".into(),
                ..base
            },
        }
    }

    /// Checks every field without side effects.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(Error::InvalidConfig(msg));
        if self.mode == Mode::Distributed {
            if self.brokers.trim().is_empty() {
                return invalid(
                    "brokers is empty; distributed mode needs host:port of a Kafka broker".into(),
                );
            }
            if !cfg!(feature = "kafka") {
                return invalid(
                    "mode is distributed but keel-mq was built without its `kafka` feature".into(),
                );
            }
        }
        if self.client_id.is_empty() {
            return invalid("client_id must not be empty".into());
        }
        if self.request_timeout.is_zero() || self.flush_timeout.is_zero() {
            return invalid("request_timeout and flush_timeout must be positive".into());
        }
        if self.max_message_bytes == 0 || self.max_message_bytes > 100 * 1024 * 1024 {
            return invalid(format!(
                "max_message_bytes {} must be in 1..=100MiB",
                self.max_message_bytes
            ));
        }
        if !(1..=16).contains(&self.replication_factor) {
            return invalid(format!(
                "replication_factor {} must be in 1..=16",
                self.replication_factor
            ));
        }
        if self.retention_records == 0 {
            return invalid("retention_records must be at least 1".into());
        }
        for key in self
            .producer_properties
            .keys()
            .chain(self.consumer_properties.keys())
        {
            if matches!(
                key.as_str(),
                "enable.auto.offset.store" | "group.id" | "bootstrap.servers"
            ) {
                return invalid(format!(
                    "property {key:?} is managed by keel-mq and cannot be overridden"
                ));
            }
        }
        Ok(())
    }
}

/// How a subscription handles failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// Handler attempts per message before it goes to the dead-letter topic (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles per attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Where messages go after `max_attempts` failures: `Some("{topic}.dlq")` by default
    /// (`{topic}` is replaced by the source topic). `None` keeps retrying forever — a message is
    /// never dropped silently. The topic must exist.
    pub dead_letter_topic: Option<String>,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            dead_letter_topic: Some("{topic}.dlq".into()),
        }
    }
}

impl ConsumerOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::InvalidArgument(
                "max_attempts must be at least 1".into(),
            ));
        }
        if self.initial_backoff > self.max_backoff {
            return Err(Error::InvalidArgument(
                "initial_backoff must not exceed max_backoff".into(),
            ));
        }
        Ok(())
    }

    /// The dead-letter topic for messages from `topic`.
    pub fn dead_letter_for(&self, topic: &str) -> Option<String> {
        self.dead_letter_topic
            .as_ref()
            .map(|t| t.replace("{topic}", topic))
    }
}

/// A topic or group name: `[A-Za-z0-9._-]{1,249}`, as Kafka allows.
pub(crate) fn check_name(kind: &'static str, name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > 249 {
        Some("longer than 249 characters")
    } else if name == "." || name == ".." {
        Some("\".\" and \"..\" are not allowed")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        Some("only letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            name: format!("{kind} {}", name.chars().take(64).collect::<String>()),
            reason,
        }),
        None => Ok(()),
    }
}
