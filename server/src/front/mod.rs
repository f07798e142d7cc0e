//! The HTTP front of `keel serve`: its own accept loop, which answers and parks
//! single-namespace long polls — native ones, and Nacos listener polls on one config — and
//! answers config reads (native and Nacos) and Nacos heartbeats itself, and hands every other
//! request to hyper unchanged.
//!
//! Why: a long poll parked inside hyper is a whole HTTP connection — read and write buffers,
//! the handler's boxed future, a task: ~24 KB — and a release woke each one separately through
//! the whole request stack. Parked here, a poll is its socket, the key its client holds and a
//! deadline (a few hundred bytes), grouped per namespace in a [`lot`] whose one task writes one
//! answer, encoded once per release, to all of them. See docs/architecture.md.
//!
//! - `accept`: the accept loop and graceful shutdown;
//! - `connection`: one connection at a request boundary — a long poll, or hyper from here on;
//! - `head`: recognising a long-poll head; `rewind`: replaying what was read to hyper;
//! - `poll`: validating, answering at once or parking a long poll; `lot`: the parked polls of
//!   one namespace, native and Nacos alike; `parked`: one parked poll and what its client
//!   holds; `read`: config reads and Nacos listener polls; `beat`: Nacos heartbeats;
//!   `answer`: the encoded answers; `route_metrics`: the request metrics of what is answered here.

mod accept;
mod answer;
mod beat;
mod connection;
mod head;
mod lot;
mod parked;
mod poll;
mod read;
mod rewind;
mod route_metrics;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use keel_clog::Context;
use keel_config_center::{ConfigCenter, NamespaceId};
use keel_ratelimit::{KeySource, RateLimiter};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

pub(crate) use accept::serve;

/// How many long polls are parked here, for `keel_config_parked_long_polls`.
#[derive(Debug, Default)]
pub(crate) struct ParkedCounts {
    /// Polls parked in lots.
    parked: AtomicUsize,
    /// Lots holding a receiver of the notifier (one each, counted in its `waiting()`).
    receivers: AtomicUsize,
}

impl ParkedCounts {
    /// The long polls waiting on this node: the notifier's receivers (polls parked inside
    /// hyper, WebSocket subscriptions) less the lots' own, plus the polls parked in lots.
    pub(crate) fn parked_long_polls(&self, center: &ConfigCenter) -> usize {
        (center.notifier().waiting() + self.parked.load(Ordering::Relaxed))
            .saturating_sub(self.receivers.load(Ordering::Relaxed))
    }
}

/// The lot of a namespace as clients name it, served by the namespace its name resolves to.
type LotKey = (NamespaceId, NamespaceId);

/// Everything a connection of `keel serve` needs.
pub(crate) struct Front {
    router: Router,
    center: Arc<ConfigCenter>,
    limiter: Arc<RateLimiter>,
    key: KeySource,
    /// Cancelled when the server shuts down.
    stopping: Context,
    /// Every task serving a connection or a lot: shutdown waits for them.
    tracker: TaskTracker,
    lots: Mutex<HashMap<LotKey, mpsc::UnboundedSender<parked::Parked>>>,
    counts: Arc<ParkedCounts>,
    metrics: route_metrics::RouteMetrics,
    /// The Nacos API the router serves (its reads, listener polls and heartbeats are answered
    /// here too).
    nacos: keel_nacos::Nacos,
}

impl Front {
    /// `router` serves everything; long polls parked here are checked against `limiter`'s
    /// `api` rule first, as the router's layer would.
    pub(crate) fn new(
        router: Router,
        center: Arc<ConfigCenter>,
        limiter: Arc<RateLimiter>,
        key: KeySource,
        counts: Arc<ParkedCounts>,
        nacos: keel_nacos::Nacos,
    ) -> Arc<Self> {
        Arc::new(Front {
            router,
            stopping: center.shutdown_context(),
            center,
            limiter,
            key,
            tracker: TaskTracker::new(),
            lots: Mutex::new(HashMap::new()),
            counts,
            metrics: route_metrics::RouteMetrics::new(),
            nacos,
        })
    }

    fn lots(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<LotKey, mpsc::UnboundedSender<parked::Parked>>> {
        self.lots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front").finish_non_exhaustive()
    }
}
