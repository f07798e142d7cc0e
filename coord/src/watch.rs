//! Watches that never lose or repeat an event from the subscriber's point of view.
//!
//! A raw backend watch ends when the connection breaks or when its start revision has been
//! compacted. The task here hides both:
//! - **broken**: re-open the raw watch at the revision after the last one delivered; events the
//!   backend sends again (at or below that point) are dropped;
//! - **compacted**: the missed events are gone, so re-list the watched range and emit the
//!   difference from what the subscriber knows — a put for every key modified since the last
//!   delivered revision, a delete for every key the subscriber believes exists and that is
//!   gone — then continue after the listing's revision. Intermediate values in the compacted
//!   window are collapsed into the final state.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::backend::{Backend, RawWatch};
use crate::keys::Namespace;
use crate::types::{EventKind, KeyValue, WatchEvent};

/// Batches (revisions) buffered for a slow subscriber before the watch task waits.
const SUBSCRIBER_QUEUE: usize = 1024;

/// The changes to a key or a prefix, in revision order. Dropping it stops the watch.
pub struct Watcher {
    rx: mpsc::Receiver<Vec<WatchEvent>>,
    buffered: VecDeque<WatchEvent>,
    _stop: DropGuard,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Watcher {
    /// The next event; `None` once the provider is closed.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        if self.buffered.is_empty() {
            self.buffered.extend(self.rx.recv().await?);
        }
        self.buffered.pop_front()
    }

    /// All events of the next revision (a transaction or a lease expiry can change several keys
    /// at once); `None` once the provider is closed. Do not mix with [`Watcher::next`] unless
    /// you drain the batch first.
    pub async fn next_batch(&mut self) -> Option<Vec<WatchEvent>> {
        if !self.buffered.is_empty() {
            return Some(self.buffered.drain(..).collect());
        }
        self.rx.recv().await
    }
}

pub(crate) struct WatchSpec {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) namespace: Namespace,
    pub(crate) key: String,
    pub(crate) prefix: bool,
    pub(crate) start_revision: i64,
    /// Keys (full) that exist at `start_revision - 1`.
    pub(crate) present: HashSet<String>,
    pub(crate) stop: CancellationToken,
    pub(crate) logger: keel_clog::Logger,
}

pub(crate) fn spawn(spec: WatchSpec) -> Watcher {
    let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
    let stop = spec.stop.child_token();
    let guard = stop.clone().drop_guard();
    tokio::spawn(run(spec, stop, tx));
    Watcher {
        rx,
        buffered: VecDeque::new(),
        _stop: guard,
    }
}

struct Backoff(Duration);

impl Backoff {
    fn reset(&mut self) {
        self.0 = Duration::from_millis(50);
    }
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
        d
    }
}

async fn run(spec: WatchSpec, stop: CancellationToken, tx: mpsc::Sender<Vec<WatchEvent>>) {
    let WatchSpec {
        backend,
        namespace,
        key,
        prefix,
        start_revision,
        mut present,
        logger,
        ..
    } = spec;
    let mut next_revision = start_revision;
    let mut backoff = Backoff(Duration::from_millis(50));
    let mut resync_at: Option<i64> = None;
    let deliver = |events: Vec<WatchEvent>| {
        let events: Vec<WatchEvent> = events
            .into_iter()
            .map(|mut e| {
                e.kv.key = namespace.strip(std::mem::take(&mut e.kv.key));
                e
            })
            .collect();
        let tx = tx.clone();
        async move { tx.send(events).await.is_ok() }
    };

    loop {
        if stop.is_cancelled() {
            return;
        }
        if let Some(compact_revision) = resync_at {
            tracing::info!(
                ns = logger.namespace(),
                key,
                compact_revision,
                next_revision,
                "watch history compacted; re-listing"
            );
            match resync(backend.as_ref(), &key, prefix, next_revision, &mut present).await {
                Ok((batches, listing_revision)) => {
                    for batch in batches {
                        if !deliver(batch).await {
                            return;
                        }
                    }
                    next_revision = listing_revision + 1;
                    resync_at = None;
                }
                Err(err) => {
                    tracing::warn!(ns = logger.namespace(), %err, "re-listing after compaction failed; retrying");
                    if sleep_or_stop(&stop, backoff.next()).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let raw = tokio::select! {
            _ = stop.cancelled() => return,
            raw = backend.watch(&key, prefix, next_revision) => raw,
        };
        let mut raw = match raw {
            Ok(raw) => raw,
            Err(crate::Error::Closed) => return,
            Err(err) => {
                tracing::warn!(ns = logger.namespace(), %err, key, "opening watch failed; retrying");
                if sleep_or_stop(&stop, backoff.next()).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let item = tokio::select! {
                _ = stop.cancelled() => return,
                item = raw.recv() => item,
            };
            match item {
                Some(RawWatch::Events(events)) => {
                    backoff.reset();
                    // Group by revision and drop what was delivered before a resume.
                    let mut by_revision: BTreeMap<i64, Vec<WatchEvent>> = BTreeMap::new();
                    for e in events.into_iter().filter(|e| e.revision() >= next_revision) {
                        by_revision.entry(e.revision()).or_default().push(e);
                    }
                    for (revision, batch) in by_revision {
                        for e in &batch {
                            match e.kind {
                                EventKind::Put => present.insert(e.kv.key.clone()),
                                EventKind::Delete => present.remove(&e.kv.key),
                            };
                        }
                        if !deliver(batch).await {
                            return;
                        }
                        next_revision = revision + 1;
                    }
                }
                Some(RawWatch::Compacted(compact_revision)) => {
                    resync_at = Some(compact_revision);
                    break;
                }
                Some(RawWatch::Broken(reason)) => {
                    tracing::debug!(
                        ns = logger.namespace(),
                        key,
                        reason,
                        next_revision,
                        "watch broke; resuming"
                    );
                    if sleep_or_stop(&stop, backoff.next()).await {
                        return;
                    }
                    break;
                }
                None => {
                    if sleep_or_stop(&stop, backoff.next()).await {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// True when stopped while sleeping.
async fn sleep_or_stop(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

/// The difference between what the subscriber knows (`present`, everything before
/// `next_revision`) and the store now. Returns batches in revision order and the listing's
/// revision.
async fn resync(
    backend: &dyn Backend,
    key: &str,
    prefix: bool,
    next_revision: i64,
    present: &mut HashSet<String>,
) -> crate::Result<(Vec<Vec<WatchEvent>>, i64)> {
    let (kvs, revision) = if prefix {
        let listing = backend.range(key).await?;
        (listing.kvs, listing.revision)
    } else {
        // A single key: its state and the store revision, read as one listing of the key.
        let listing = backend.range(key).await?;
        (
            listing.kvs.into_iter().filter(|kv| kv.key == key).collect(),
            listing.revision,
        )
    };
    let mut batches: BTreeMap<i64, Vec<WatchEvent>> = BTreeMap::new();
    let now: HashSet<String> = kvs.iter().map(|kv| kv.key.clone()).collect();
    for kv in kvs
        .into_iter()
        .filter(|kv| kv.mod_revision >= next_revision)
    {
        batches
            .entry(kv.mod_revision)
            .or_default()
            .push(WatchEvent {
                kind: EventKind::Put,
                kv,
            });
    }
    let mut gone: Vec<String> = present.difference(&now).cloned().collect();
    gone.sort();
    if !gone.is_empty() {
        batches
            .entry(revision)
            .or_default()
            .extend(gone.into_iter().map(|key| WatchEvent {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key,
                    value: Vec::new(),
                    create_revision: 0,
                    mod_revision: revision,
                    version: 0,
                    lease: 0,
                },
            }));
    }
    *present = now;
    Ok((batches.into_values().collect(), revision))
}
