//! [`View`]: a node's in-memory copy of the registry's live state, fed by one watch on the
//! coord prefix. Discovery, heartbeats and watches read it without touching the store; every
//! change the store makes — whichever node wrote it, and lease expiries nobody wrote —
//! arrives through the watch and becomes per-service change events.

mod state;

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use keel_clog::Context;
use keel_coord::{Provider, StartAt};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

pub use state::ChangeEvent;
pub(crate) use state::{Beatable, Entry, ServiceState, State};

use crate::keys::ROOT;
use crate::{Error, Result};

/// Change events of every service kept for slow global subscribers (the event publisher).
const GLOBAL_EVENT_BACKLOG: usize = 8192;
/// The key a sync barrier writes (under the watched prefix, ignored by the state).
const BARRIER_KEY: &str = "/keel/registry/sync";

/// The live state, shared by the handlers of one node.
pub(crate) struct View {
    state: RwLock<State>,
    /// The store revision applied last, for read-your-writes waits.
    applied: watch::Sender<i64>,
    /// Every change event, for the event publisher and metrics.
    changes: broadcast::Sender<Arc<ChangeEvent>>,
    /// The last sync barrier: when its write started, and its revision.
    barrier: tokio::sync::Mutex<Option<(Instant, i64)>>,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("revision", &*self.applied.borrow())
            .finish_non_exhaustive()
    }
}

impl View {
    /// Lists the registry's keys, then follows them in the background until `stop`.
    pub(crate) async fn start(
        ctx: &Context,
        coord: Arc<dyn Provider>,
        stop: CancellationToken,
    ) -> Result<Arc<View>> {
        let listing = coord.list(ctx, ROOT).await?;
        let revision = listing.revision;
        let view = Arc::new(View {
            state: RwLock::new(State::from_listing(listing.kvs, revision)),
            applied: watch::Sender::new(revision),
            changes: broadcast::Sender::new(GLOBAL_EVENT_BACKLOG),
            barrier: tokio::sync::Mutex::new(None),
        });
        let watcher = coord
            .watch(ctx, ROOT, true, StartAt::Revision(revision + 1))
            .await?;
        tokio::spawn(follow(Arc::downgrade(&view), watcher, stop));
        Ok(view)
    }

    /// Reads the state.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (apply only inserts and
        // removes whole entries), so a poisoned lock is still usable.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the state (only to create a watcher's empty service entry).
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Every change event from now on.
    pub(crate) fn subscribe_all(&self) -> broadcast::Receiver<Arc<ChangeEvent>> {
        self.changes.subscribe()
    }

    /// Waits until the view has applied `revision` (a write this node just made), so a read
    /// right after a write sees it. Gives up after `limit`: the write is durable either way.
    pub(crate) async fn caught_up(&self, revision: i64, limit: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|applied| *applied >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until the view has applied every write the store had made when this was called:
    /// for a lookup that missed, in case the write happened on another node a moment ago.
    ///
    /// The barrier is a write under the watched prefix (the store's own revision may belong
    /// to keys this view never sees). A lookup may share a barrier only if that barrier was
    /// started after the lookup missed — an older one could precede the write it looks for —
    /// so a crowd of clients with stale ids (after a standalone restart) costs about two
    /// barrier writes per burst, not one each.
    pub(crate) async fn sync(
        &self,
        ctx: &Context,
        coord: &dyn Provider,
        limit: Duration,
    ) -> Result<()> {
        let missed = Instant::now();
        let target = {
            let mut last = self.barrier.lock().await;
            match *last {
                Some((started, revision)) if started >= missed => revision,
                _ => {
                    let started = Instant::now();
                    let revision = coord.put(ctx, BARRIER_KEY, Vec::new(), None).await?;
                    *last = Some((started, revision));
                    revision
                }
            }
        };
        if self.caught_up(target, limit).await {
            Ok(())
        } else {
            Err(Error::Unavailable(
                "the registry's view lags behind the coordination store; retry".into(),
            ))
        }
    }
}

/// How long a registration or update took to reach this node's watchers: from the write's
/// `updatedAt` to the view applying it (the moment long polls and streams are woken).
/// Expiries carry no write time and are not measured.
fn record_push_latency(change: &ChangeEvent, now: i64) {
    for view in change.added.iter().chain(&change.modified) {
        let lag = now - view.instance.updated_at;
        // Older than a minute: a health change of an old record, not a fresh write.
        if (0..60_000).contains(&lag) {
            metrics::histogram!("keel_registry_push_latency_seconds").record(lag as f64 / 1000.0);
        }
    }
}

/// Counts instances removed because their heartbeats stopped. A ttl instance's heartbeat
/// marker expires (at `unhealthyTimeout`) before its record does (at `deleteTimeout`), so a
/// record that goes while the instance already reads unhealthy went by expiry; an explicit
/// deregistration removes a healthy instance. (Deregistering an instance that had already
/// missed its heartbeats is counted as an expiry too — it was one in all but name.)
fn record_expirations(change: &ChangeEvent) {
    let expired = change
        .removed
        .iter()
        .filter(|v| {
            v.instance.ephemeral
                && v.instance.health_check.kind == crate::CheckKind::Ttl
                && !v.healthy
        })
        .count();
    if expired > 0 {
        metrics::counter!("keel_registry_expirations_total").increment(expired as u64);
    }
}

/// Applies watch batches until stopped or the store closes.
async fn follow(
    view: std::sync::Weak<View>,
    mut watcher: keel_coord::Watcher,
    stop: CancellationToken,
) {
    loop {
        let batch = tokio::select! {
            _ = stop.cancelled() => return,
            batch = watcher.next_batch() => batch,
        };
        let Some(batch) = batch else {
            tracing::warn!("registry view: the coordination store closed its watch");
            return;
        };
        let Some(view) = view.upgrade() else { return };
        let revision = batch.iter().map(|e| e.revision()).max().unwrap_or(0);
        let changes = {
            let mut state = view.write();
            state.apply(batch)
        };
        let now = crate::now_millis();
        for change in changes {
            record_push_latency(&change, now);
            record_expirations(&change);
            let _ = view.changes.send(change);
        }
        view.applied.send_if_modified(|applied| {
            let moved = revision > *applied;
            if moved {
                *applied = revision;
            }
            moved
        });
    }
}
