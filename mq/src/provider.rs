//! The mq Provider: `new(ctx, config, opts)` → `Arc<dyn Provider>`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use keel_clog::{Context, Logger};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::standalone::StandaloneBroker;
use crate::backend::{Backend, Outgoing, TopicInfo};
use crate::config::check_name;
use crate::consumer::{Handler, Subscription, SubscriptionSpec};
use crate::message::{Delivery, Message};
use crate::{Config, ConsumerOptions, Error, Mode, Result};

/// Dependencies of the mq provider.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Parent logger; the provider logs under `<namespace>.mq`.
    pub logger: Logger,
    /// Standalone mode: the broker to use; providers given the same broker share topics and
    /// groups. `None` creates a private one.
    pub standalone: Option<StandaloneBroker>,
}

/// Called once with the outcome of a fire-and-forget send.
pub type DeliveryCallback = Box<dyn FnOnce(Result<Delivery>) + Send + 'static>;

/// Producer, consumer groups and topic administration.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Creates a topic with `partitions` partitions (1..=10000). [`Error::TopicExists`] if it exists.
    async fn create_topic(&self, ctx: &Context, name: &str, partitions: i32) -> Result<()>;
    /// Deletes a topic and its messages.
    async fn delete_topic(&self, ctx: &Context, name: &str) -> Result<()>;
    /// Every topic, sorted by name.
    async fn list_topics(&self, ctx: &Context) -> Result<Vec<TopicInfo>>;
    /// Sends and waits until the broker has stored the message. The Context's trace (and
    /// deadline) travel in the message headers.
    async fn send(&self, ctx: &Context, topic: &str, message: Message) -> Result<Delivery>;
    /// Sends without waiting; `callback` gets the outcome. `close` waits for these.
    fn send_with_callback(
        &self,
        ctx: &Context,
        topic: &str,
        message: Message,
        callback: DeliveryCallback,
    );
    /// Joins consumer group `group` for `topics` and runs `handler` for every message,
    /// at-least-once (see [`Subscription`]). The topics and their dead-letter topics must exist.
    async fn subscribe(
        &self,
        ctx: &Context,
        group: &str,
        topics: &[&str],
        handler: Arc<dyn Handler>,
        options: ConsumerOptions,
    ) -> Result<Subscription>;
    /// Waits until every fire-and-forget send so far has its outcome.
    async fn flush(&self, ctx: &Context) -> Result<()>;
    /// The logger of this provider.
    fn logger(&self) -> &Logger;
    /// Flushes pending sends (up to `flush_timeout`), drains subscriptions and closes.
    /// Idempotent.
    async fn close(&self) -> Result<()>;
}

/// Builds the provider described by `config`.
pub async fn new(ctx: &Context, config: Config, opts: Options) -> Result<Arc<dyn Provider>> {
    config.validate()?;
    let logger = opts.logger.named("mq");
    let backend: Arc<dyn Backend> = match config.mode {
        Mode::Standalone => Arc::new(
            opts.standalone
                .unwrap_or_else(|| StandaloneBroker::new(config.retention_records)),
        ),
        #[cfg(feature = "kafka")]
        Mode::Distributed => {
            let connect = crate::backend::kafka::KafkaBackend::connect(&config);
            Arc::new(
                ctx.with_timeout(config.request_timeout)
                    .run(connect)
                    .await??,
            )
        }
        #[cfg(not(feature = "kafka"))]
        Mode::Distributed => {
            unreachable!("validate() refuses distributed mode without the kafka feature")
        }
    };
    logger.span(ctx, "new").in_scope(|| {
        tracing::info!(mode = ?config.mode, brokers = config.brokers, "mq ready");
    });
    Ok(Arc::new(Mq {
        backend,
        config,
        logger,
        sends: TaskTracker::new(),
        subscriptions: TaskTracker::new(),
        stop: CancellationToken::new(),
        abort: CancellationToken::new(),
        closed: AtomicBool::new(false),
    }))
}

struct Mq {
    backend: Arc<dyn Backend>,
    config: Config,
    logger: Logger,
    /// Fire-and-forget sends in flight, so `flush` and `close` can wait for them.
    sends: TaskTracker,
    /// Running subscriptions, so `close` can wait for them to drain.
    subscriptions: TaskTracker,
    stop: CancellationToken,
    /// Aborts subscriptions that did not drain within `flush_timeout` at close.
    abort: CancellationToken,
    closed: AtomicBool,
}

impl Mq {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn prepare(&self, ctx: &Context, topic: &str, message: Message) -> Result<Outgoing> {
        self.check_open()?;
        check_name("topic", topic)?;
        let message = Outgoing {
            headers: crate::trace::headers(ctx, message.headers),
            key: message.key,
            payload: message.payload,
        };
        let size = message.size();
        if size > self.config.max_message_bytes {
            return Err(Error::MessageTooLarge {
                topic: topic.to_owned(),
                size,
                limit: self.config.max_message_bytes,
            });
        }
        Ok(message)
    }

    async fn bounded<T>(
        &self,
        ctx: &Context,
        fut: impl Future<Output = Result<T>> + Send,
    ) -> Result<T> {
        ctx.with_timeout(self.config.request_timeout)
            .run(fut)
            .await?
    }
}

#[async_trait]
impl Provider for Mq {
    async fn create_topic(&self, ctx: &Context, name: &str, partitions: i32) -> Result<()> {
        self.check_open()?;
        check_name("topic", name)?;
        if !(1..=10_000).contains(&partitions) {
            return Err(Error::InvalidArgument(format!(
                "partitions {partitions} must be in 1..=10000"
            )));
        }
        self.bounded(ctx, self.backend.create_topic(name, partitions))
            .await
    }

    async fn delete_topic(&self, ctx: &Context, name: &str) -> Result<()> {
        self.check_open()?;
        check_name("topic", name)?;
        self.bounded(ctx, self.backend.delete_topic(name)).await
    }

    async fn list_topics(&self, ctx: &Context) -> Result<Vec<TopicInfo>> {
        self.check_open()?;
        self.bounded(ctx, self.backend.list_topics()).await
    }

    async fn send(&self, ctx: &Context, topic: &str, message: Message) -> Result<Delivery> {
        let message = self.prepare(ctx, topic, message)?;
        self.bounded(ctx, self.backend.produce(topic, message))
            .await
    }

    fn send_with_callback(
        &self,
        ctx: &Context,
        topic: &str,
        message: Message,
        callback: DeliveryCallback,
    ) {
        let message = match self.prepare(ctx, topic, message) {
            Ok(message) => message,
            Err(err) => return callback(Err(err)),
        };
        // An in-process broker stores at once: no task needed.
        let mut pending = Some(message);
        if let Some(outcome) = self.backend.produce_now(topic, &mut pending) {
            return callback(outcome);
        }
        let Some(message) = pending else { return };
        let backend = Arc::clone(&self.backend);
        let topic = topic.to_owned();
        let ctx = ctx.with_timeout(self.config.request_timeout.max(self.config.flush_timeout));
        self.sends.spawn(async move {
            let outcome = match ctx.run(backend.produce(&topic, message)).await {
                Ok(outcome) => outcome,
                Err(err) => Err(err.into()),
            };
            callback(outcome);
        });
    }

    async fn subscribe(
        &self,
        ctx: &Context,
        group: &str,
        topics: &[&str],
        handler: Arc<dyn Handler>,
        options: ConsumerOptions,
    ) -> Result<Subscription> {
        self.check_open()?;
        check_name("group", group)?;
        if topics.is_empty() {
            return Err(Error::InvalidArgument(
                "subscribe needs at least one topic".into(),
            ));
        }
        options.validate()?;
        for topic in topics {
            check_name("topic", topic)?;
        }
        let existing = self.list_topics(ctx).await?;
        let exists = |name: &str| existing.iter().any(|t| t.name == name);
        for topic in topics {
            if !exists(topic) {
                return Err(Error::UnknownTopic((*topic).to_owned()));
            }
            if let Some(dead_letters) = options.dead_letter_for(topic)
                && !exists(&dead_letters)
            {
                return Err(Error::UnknownTopic(dead_letters));
            }
        }
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let raw = self
            .bounded(ctx, self.backend.consumer(group, &topics))
            .await?;
        Ok(crate::consumer::spawn(
            SubscriptionSpec {
                backend: Arc::clone(&self.backend),
                raw,
                handler,
                options,
                logger: self.logger.named(group),
                provider_stop: self.stop.clone(),
                provider_abort: self.abort.clone(),
            },
            &self.subscriptions,
        ))
    }

    async fn flush(&self, ctx: &Context) -> Result<()> {
        // `wait` completes once the tracker is closed and empty; sends may still be added
        // meanwhile (they are waited for too), and reopening lets later ones be tracked again.
        self.sends.close();
        let waited = ctx
            .with_timeout(self.config.flush_timeout)
            .run(self.sends.wait())
            .await;
        self.sends.reopen();
        waited.map_err(Error::from)
    }

    fn logger(&self) -> &Logger {
        &self.logger
    }

    async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Deliver what callers were promised first, then drain subscriptions.
        self.sends.close();
        if tokio::time::timeout(self.config.flush_timeout, self.sends.wait())
            .await
            .is_err()
        {
            tracing::warn!(ns = self.logger.namespace(), timeout = ?self.config.flush_timeout, "close: sends still pending after flush_timeout");
        }
        self.stop.cancel();
        self.subscriptions.close();
        if tokio::time::timeout(self.config.flush_timeout, self.subscriptions.wait())
            .await
            .is_err()
        {
            // A handler that does not finish must not keep running after close: abort, so
            // what it had not acknowledged is redelivered to the group.
            tracing::warn!(ns = self.logger.namespace(), timeout = ?self.config.flush_timeout, "close: handlers still running after flush_timeout; aborting them");
            self.abort.cancel();
            self.subscriptions.wait().await;
        }
        self.backend.close().await;
        Ok(())
    }
}
