//! The distributed backend on Kafka through rdkafka (bundled librdkafka).
//!
//! Producer: acks from all in-sync replicas, idempotence on. Consumer: `enable.auto.offset.store`
//! is off — an offset is stored only when the consumer loop acknowledges it (after the handler
//! succeeded or the dead letter was stored) — and stored offsets are committed every second, on
//! `commit`, and when the consumer leaves the group.

use std::time::Duration;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::{Backend, Outgoing, RawConsumer, RawRecord, RawRun, TopicInfo};
use crate::message::Delivery;
use crate::{Config, Error, Result};

pub(crate) struct KafkaBackend {
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    config: Config,
}

fn unavailable(context: &str, err: &KafkaError) -> Error {
    Error::Unavailable(format!("kafka {context}: {err}"))
}

fn base_config(config: &Config) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", &config.client_id);
    client
}

impl KafkaBackend {
    pub(crate) async fn connect(config: &Config) -> Result<Self> {
        let mut producer_config = base_config(config);
        producer_config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            // Kafka's Java clients (and keel's standalone broker) hash keys with murmur2;
            // librdkafka's default (CRC32) would put a key in another partition than a Java
            // producer does, breaking per-key order for mixed producers.
            .set("partitioner", "murmur2_random")
            .set(
                "message.timeout.ms",
                config.request_timeout.as_millis().to_string(),
            );
        for (k, v) in &config.producer_properties {
            producer_config.set(k, v);
        }
        let producer: FutureProducer = producer_config
            .create()
            .map_err(|e| Error::InvalidConfig(format!("kafka producer: {e}")))?;
        let admin: AdminClient<DefaultClientContext> = base_config(config)
            .create()
            .map_err(|e| Error::InvalidConfig(format!("kafka admin client: {e}")))?;
        let backend = KafkaBackend {
            producer,
            admin,
            config: config.clone(),
        };
        // Prove a broker answers before reporting success.
        backend.list_topics().await.map_err(|e| {
            Error::Unavailable(format!(
                "no Kafka broker answers at {}: {e}",
                config.brokers
            ))
        })?;
        Ok(backend)
    }

    fn admin_options(&self) -> AdminOptions {
        AdminOptions::new()
            .operation_timeout(Some(self.config.request_timeout))
            .request_timeout(Some(self.config.request_timeout))
    }
}

#[async_trait]
impl Backend for KafkaBackend {
    async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let topic = NewTopic::new(
            name,
            partitions,
            TopicReplication::Fixed(self.config.replication_factor),
        );
        let results = self
            .admin
            .create_topics(&[topic], &self.admin_options())
            .await
            .map_err(|e| unavailable("create topic", &e))?;
        match results.into_iter().next() {
            Some(Ok(_)) | None => Ok(()),
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {
                Err(Error::TopicExists(name.to_owned()))
            }
            Some(Err((_, code))) => Err(Error::Unavailable(format!(
                "kafka create topic {name:?}: {code}"
            ))),
        }
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        let results = self
            .admin
            .delete_topics(&[name], &self.admin_options())
            .await
            .map_err(|e| unavailable("delete topic", &e))?;
        match results.into_iter().next() {
            Some(Ok(_)) | None => Ok(()),
            Some(Err((
                _,
                RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic,
            ))) => Err(Error::UnknownTopic(name.to_owned())),
            Some(Err((_, code))) => Err(Error::Unavailable(format!(
                "kafka delete topic {name:?}: {code}"
            ))),
        }
    }

    async fn list_topics(&self) -> Result<Vec<TopicInfo>> {
        let producer = self.producer.clone();
        let timeout = self.config.request_timeout;
        // fetch_metadata blocks the calling thread.
        let metadata =
            tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout))
                .await
                .map_err(|e| Error::Unavailable(format!("kafka metadata task: {e}")))?
                .map_err(|e| unavailable("metadata", &e))?;
        let mut topics: Vec<TopicInfo> = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none() && !t.name().starts_with("__"))
            .map(|t| TopicInfo {
                name: t.name().to_owned(),
                partitions: t.partitions().len() as i32,
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    async fn produce(&self, topic: &str, message: Outgoing) -> Result<Delivery> {
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.len());
        for (key, value) in message.headers.iter() {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut record = FutureRecord::to(topic)
            .payload(message.payload.as_ref())
            .headers(headers);
        if let Some(key) = &message.key {
            record = record.key(key.as_ref());
        }
        match self
            .producer
            .send(record, self.config.request_timeout)
            .await
        {
            Ok(delivery) => Ok(Delivery {
                topic: topic.to_owned(),
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((
                KafkaError::MessageProduction(
                    RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic,
                ),
                _,
            )) => Err(Error::UnknownTopic(topic.to_owned())),
            Err((err, _)) => Err(unavailable("produce", &err)),
        }
    }

    async fn consumer(&self, group: &str, topics: &[String]) -> Result<Box<dyn RawConsumer>> {
        let mut consumer_config = base_config(&self.config);
        consumer_config
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        for (k, v) in &self.config.consumer_properties {
            consumer_config.set(k, v);
        }
        let consumer: StreamConsumer = consumer_config
            .create()
            .map_err(|e| Error::InvalidConfig(format!("kafka consumer: {e}")))?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&names)
            .map_err(|e| unavailable("subscribe", &e))?;
        Ok(Box::new(KafkaConsumer {
            consumer: Arc::new(consumer),
        }))
    }

    async fn close(&self) {
        let producer = self.producer.clone();
        let timeout = self.config.flush_timeout;
        let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!(?timeout, "kafka producer did not flush within the timeout");
        }
    }
}

struct KafkaConsumer {
    consumer: Arc<StreamConsumer>,
}

#[async_trait]
impl RawConsumer for KafkaConsumer {
    async fn recv(&self, _max: usize) -> Result<Vec<RawRun>> {
        let message = self
            .consumer
            .recv()
            .await
            .map_err(|e| unavailable("fetch", &e))?;
        let headers: Vec<(String, Vec<u8>)> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|header| {
                        (
                            header.key.to_owned(),
                            header.value.map(<[u8]>::to_vec).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        // librdkafka prefetches and queues; one message per call keeps the borrow simple.
        Ok(vec![RawRun {
            topic: Arc::from(message.topic()),
            partition: message.partition(),
            records: vec![RawRecord {
                offset: message.offset(),
                key: message.key().map(Bytes::copy_from_slice),
                payload: message
                    .payload()
                    .map(Bytes::copy_from_slice)
                    .unwrap_or_default(),
                headers: headers.into(),
            }],
        }])
    }

    fn ack(&self, topic: &str, partition: i32, offset: i64) {
        // librdkafka stores offset + 1, and refuses partitions this member no longer owns.
        if let Err(err) = self.consumer.store_offset(topic, partition, offset) {
            tracing::debug!(topic, partition, offset, %err, "offset not stored (partition rebalanced away?)");
        }
    }

    async fn commit(&self) -> Result<()> {
        // A synchronous commit blocks its thread until the broker answers.
        let consumer = Arc::clone(&self.consumer);
        let committed =
            tokio::task::spawn_blocking(move || consumer.commit_consumer_state(CommitMode::Sync))
                .await
                .map_err(|e| Error::Unavailable(format!("kafka commit task: {e}")))?;
        match committed {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(err) => Err(unavailable("commit", &err)),
        }
    }

    async fn close(&self) {
        self.consumer.unsubscribe();
    }
}

impl Drop for KafkaBackend {
    fn drop(&mut self) {
        // Anything still queued in librdkafka gets a last, bounded chance.
        let _ = self.producer.flush(Duration::from_millis(100));
    }
}
