//! Consumer groups with at-least-once delivery, written once over any backend.
//!
//! A fetch task takes records from the backend's group member and hands each partition's records
//! to that partition's worker — a fetched run of one partition as one batch, so queueing and
//! waking cost per batch, not per message — which processes them one at a time (so order within
//! a partition — within a key — is kept) while different partitions proceed in parallel. A
//! worker:
//! 1. runs the handler under the Context carried in the message headers (the trace, not the
//!    deadline);
//! 2. on failure retries with exponential backoff, up to `max_attempts`;
//! 3. then sends the message to the dead-letter topic (with where it came from and why) and
//!    only after that is acknowledged goes on — a message is never dropped silently;
//! 4. acknowledges the offset **only after** the handler succeeded or the dead letter was stored.
//!
//! [`Subscription::close`] stops fetching, lets every worker finish the message it is on, commits
//! and leaves the group. [`Subscription::abort`] stops at once: whatever was not acknowledged is
//! redelivered to the group.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keel_clog::{Context, Logger};
use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, Outgoing, RawConsumer, RawRecord, RawRun};
use crate::message::{Message, Received, dead_letter_headers};
use crate::trace::TraceContexts;
use crate::{ConsumerOptions, HandlerError};

/// Records fetched ahead for one partition before fetching pauses.
const PARTITION_QUEUE: usize = 256;

/// Most records taken from the backend in one fetch.
const FETCH_BATCH: usize = 256;

/// A worker gives room back to the fetch loop in steps of this many records (and when it has
/// finished a batch): a semaphore operation per message was a measurable part of its cost.
const ROOM_STEP: usize = 16;

/// The queue feeding one partition's worker, and the worker.
struct PartitionWorker {
    batches: mpsc::UnboundedSender<Vec<RawRecord>>,
    /// One permit per record that may be queued: the worker returns one per record it is done
    /// with, so at most `PARTITION_QUEUE` records wait, however they were batched.
    room: Arc<Semaphore>,
    task: JoinHandle<()>,
}

// A fetched run must fit a partition's queue in one piece.
const _: () = assert!(FETCH_BATCH <= PARTITION_QUEUE);

/// Processes messages of a subscription.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one message. `Err` means "not processed": it is retried and eventually
    /// dead-lettered. `ctx` continues the producer's trace.
    async fn handle(&self, ctx: &Context, message: &Received) -> Result<(), HandlerError>;
}

/// A [`Handler`] from an async closure: `handler_fn(|ctx, msg| async move { ... })`.
pub fn handler_fn<F, Fut>(f: F) -> impl Handler
where
    F: Fn(Context, Received) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    struct FnHandler<F>(F);
    #[async_trait]
    impl<F, Fut> Handler for FnHandler<F>
    where
        F: Fn(Context, Received) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        async fn handle(&self, ctx: &Context, message: &Received) -> Result<(), HandlerError> {
            (self.0)(ctx.clone(), message.clone()).await
        }
    }
    FnHandler(f)
}

/// A running subscription. Close it to drain; dropping it aborts.
pub struct Subscription {
    stop: CancellationToken,
    abort: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// Stops fetching, waits for each in-flight message to finish (handled, retried out or
    /// dead-lettered), commits and leaves the group. Idempotent.
    pub async fn close(&self) {
        self.stop.cancel();
        let task = self.task.lock().await.take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Stops now, without waiting for handlers: unacknowledged messages are redelivered to the
    /// group (as after a crash).
    pub async fn abort(&self) {
        self.abort.cancel();
        self.stop.cancel();
        let task = self.task.lock().await.take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.abort.cancel();
        self.stop.cancel();
    }
}

pub(crate) struct SubscriptionSpec {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) raw: Box<dyn RawConsumer>,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) options: ConsumerOptions,
    pub(crate) logger: Logger,
    pub(crate) provider_stop: CancellationToken,
    /// Cancelled when the provider's close gives up waiting: aborts the subscription.
    pub(crate) provider_abort: CancellationToken,
}

pub(crate) fn spawn(
    spec: SubscriptionSpec,
    tracker: &tokio_util::task::TaskTracker,
) -> Subscription {
    let stop = spec.provider_stop.child_token();
    let abort = spec.provider_abort.child_token();
    let task = tracker.spawn(run(spec, stop.clone(), abort.clone()));
    Subscription {
        stop,
        abort,
        task: Mutex::new(Some(task)),
    }
}

async fn run(spec: SubscriptionSpec, stop: CancellationToken, abort: CancellationToken) {
    let raw: Arc<dyn RawConsumer> = Arc::from(spec.raw);
    let worker = Arc::new(Worker {
        backend: spec.backend,
        raw: Arc::clone(&raw),
        handler: spec.handler,
        options: spec.options,
        logger: spec.logger,
        abort: abort.clone(),
        stop: stop.clone(),
    });
    let mut partitions: HashMap<(Arc<str>, i32), PartitionWorker, foldhash::fast::RandomState> =
        HashMap::default();
    loop {
        let records = tokio::select! {
            _ = stop.cancelled() => break,
            records = raw.recv(FETCH_BATCH) => records,
        };
        match records {
            Ok(runs) => {
                for RawRun {
                    topic,
                    partition,
                    records: run,
                } in runs
                {
                    let queue = partitions.entry((topic, partition)).or_insert_with_key(
                        |(topic, partition)| {
                            let (batches, rx) = mpsc::unbounded_channel();
                            let room = Arc::new(Semaphore::new(PARTITION_QUEUE));
                            // The worker's own copy of the name: every message handed to
                            // the handler holds it, and a reference count touched by one
                            // worker only is cheaper than one shared with the fetch loop.
                            let task = tokio::spawn(Arc::clone(&worker).drain(
                                Arc::from(&**topic),
                                *partition,
                                rx,
                                Arc::clone(&room),
                            ));
                            PartitionWorker {
                                batches,
                                room,
                                task,
                            }
                        },
                    );
                    // A full queue (a slow or retrying partition) pauses fetching:
                    // backpressure instead of unbounded buffering.
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        // Given back by the worker, one per record. (The semaphore is never
                        // closed, so acquiring cannot fail.)
                        room = queue.room.acquire_many(run.len() as u32) => if let Ok(room) = room {
                            room.forget();
                        }
                    }
                    if queue.batches.send(run).is_err() {
                        // Cannot happen while workers catch handler panics; if it does, say so
                        // rather than dropping records quietly (they stay unacknowledged and
                        // are redelivered).
                        tracing::error!(
                            ns = worker.logger.namespace(),
                            "a partition worker stopped; its records will be redelivered"
                        );
                    }
                }
                if stop.is_cancelled() {
                    break;
                }
            }
            Err(crate::Error::Closed) => break,
            Err(err) => {
                tracing::warn!(ns = worker.logger.namespace(), %err, "fetching failed; retrying");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    }
    // Workers finish the message they are on; queued ones stay unacknowledged (redelivered).
    for (_, queue) in partitions {
        let PartitionWorker {
            batches, mut task, ..
        } = queue;
        drop(batches);
        // A handler stuck past the provider's close timeout is aborted, not waited for.
        tokio::select! {
            _ = &mut task => {}
            _ = abort.cancelled() => {
                task.abort();
                let _ = task.await;
            }
        }
    }
    if !abort.is_cancelled()
        && let Err(err) = raw.commit().await
    {
        tracing::warn!(ns = worker.logger.namespace(), %err, "final commit failed; uncommitted messages will be redelivered");
    }
    raw.close().await;
}

struct Worker {
    backend: Arc<dyn Backend>,
    raw: Arc<dyn RawConsumer>,
    handler: Arc<dyn Handler>,
    options: ConsumerOptions,
    logger: Logger,
    abort: CancellationToken,
    stop: CancellationToken,
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".into());
    format!("handler panicked: {text}")
}

impl Worker {
    /// Processes one partition's batches in order.
    async fn drain(
        self: Arc<Self>,
        topic: Arc<str>,
        partition: i32,
        mut batches: mpsc::UnboundedReceiver<Vec<RawRecord>>,
        room: Arc<Semaphore>,
    ) {
        let mut contexts = TraceContexts::default();
        while let Some(batch) = batches.recv().await {
            // Checked per batch, not per record: the token takes a lock that all partitions
            // share. An abort also closes the queue, which is checked after every record.
            if self.abort.is_cancelled() {
                return;
            }
            let mut done = 0;
            for record in batch {
                let ctx = contexts.context_for(&record.headers);
                self.process(ctx, Arc::clone(&topic), partition, record)
                    .await;
                done += 1;
                if done == ROOM_STEP {
                    room.add_permits(done);
                    done = 0;
                }
                // After a close, only the message in hand is finished.
                if batches.is_closed() {
                    return;
                }
            }
            room.add_permits(done);
        }
    }

    /// Handles one message until it is acknowledged (or the subscription stops). `ctx`
    /// continues the producer's trace, but not its deadline: a message consumed later (or
    /// retried after backoff) must not inherit a budget that ran out meanwhile.
    async fn process(&self, ctx: Context, topic: Arc<str>, partition: i32, record: RawRecord) {
        let mut received = Received {
            topic,
            partition,
            offset: record.offset,
            key: record.key,
            payload: record.payload,
            headers: record.headers,
            attempt: 0,
        };
        let mut backoff = self.options.initial_backoff;
        loop {
            received.attempt += 1;
            let span = self.logger.span(&ctx, "handle");
            let outcome = {
                use futures_util::FutureExt;
                use tracing::Instrument;
                // A panicking handler is a failing handler: retried, then dead-lettered —
                // never a silently dead partition.
                std::panic::AssertUnwindSafe(self.handler.handle(&ctx, &received).instrument(span))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(panic_message(&*panic).into()))
            };
            match outcome {
                Ok(()) => break,
                Err(err)
                    if received.attempt < self.options.max_attempts
                        || self.options.dead_letter_topic.is_none() =>
                {
                    tracing::warn!(
                        ns = self.logger.namespace(),
                        trace_id = %ctx.trace_id(),
                        topic = &*received.topic,
                        partition = received.partition,
                        offset = received.offset,
                        attempt = received.attempt,
                        %err,
                        ?backoff,
                        "handler failed; retrying"
                    );
                    // Closing stops retrying too; the message stays unacknowledged and is
                    // redelivered to the group.
                    tokio::select! {
                        _ = self.abort.cancelled() => return,
                        _ = self.stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
                Err(err) => {
                    if !self.dead_letter(&ctx, &received, &err.to_string()).await {
                        return; // aborted: the message stays unacknowledged
                    }
                    break;
                }
            }
        }
        self.raw
            .ack(&received.topic, received.partition, received.offset);
    }

    /// Stores the message in the dead-letter topic, retrying until it is stored (or the
    /// subscription is aborted: then false, and the message is redelivered later).
    async fn dead_letter(&self, ctx: &Context, received: &Received, error: &str) -> bool {
        let Some(topic) = self.options.dead_letter_for(&received.topic) else {
            return true;
        };
        let mut headers = received.headers.to_vec();
        for (name, value) in [
            (dead_letter_headers::TOPIC, received.topic.to_string()),
            (
                dead_letter_headers::PARTITION,
                received.partition.to_string(),
            ),
            (dead_letter_headers::OFFSET, received.offset.to_string()),
            (dead_letter_headers::ATTEMPTS, received.attempt.to_string()),
            (
                dead_letter_headers::ERROR,
                error.chars().take(1024).collect(),
            ),
        ] {
            headers.push((name.to_owned(), value.into_bytes()));
        }
        let message = Outgoing::from(Message {
            key: received.key.clone(),
            payload: received.payload.clone(),
            headers,
        });
        let mut wait = Duration::from_millis(100);
        loop {
            match self.backend.produce(&topic, message.clone()).await {
                Ok(delivery) => {
                    tracing::error!(
                        ns = self.logger.namespace(),
                        trace_id = %ctx.trace_id(),
                        topic = &*received.topic,
                        offset = received.offset,
                        attempts = received.attempt,
                        dead_letter = delivery.topic,
                        error,
                        "message dead-lettered"
                    );
                    return true;
                }
                Err(err) => {
                    tracing::warn!(ns = self.logger.namespace(), %err, dead_letter = topic, "storing a dead letter failed; retrying");
                    tokio::select! {
                        _ = self.abort.cancelled() => return false,
                        _ = self.stop.cancelled() => return false,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
