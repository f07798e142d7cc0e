//! Discovery: a service's instances read once, then kept current by one long-polling task
//! per service; the handle applications read (and pick instances) from. Push-empty
//! protection is described on [`ServiceHandle`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::balance::{Balancer, Picked};
use super::error::{Error, Result};
use super::http::Fetched;
use super::snapshot::{self, Snapshot};
use crate::{Discovery, InstanceView, LoadBalance, ServiceId};

/// A discovered service: its instances as last received, kept current in the background
/// while the [`RegistryClient`](super::RegistryClient) that made it is open. Cheap to clone;
/// every clone reads the same cache. Each list applied is also written to the snapshot
/// directory (when one is set).
///
/// **Push-empty protection.** An empty list that follows a non-empty one is far more often a
/// fault (a registry node that lost its data, a partition that expired every lease, an
/// operator's mistake) than every instance of a service really going away at once — and
/// applying it would turn a registry hiccup into an outage of every caller. So such a list is
/// *held back*: the handle keeps serving the previous instances, and
/// [`empty_confirm_delay`](super::ClientConfig::empty_confirm_delay) later the client reads
/// the service again (a plain read, not a long poll). Only when that read is empty too is the
/// empty list applied; a non-empty answer is applied instead. While a list is held back,
/// [`empty_held_back`](Self::empty_held_back) is true. A service that is empty from the start
/// is simply empty.
#[derive(Clone)]
pub struct ServiceHandle {
    inner: Arc<Watched>,
}

/// What the handles and the service's task share.
struct Watched {
    service: ServiceId,
    current: watch::Sender<Arc<Discovery>>,
    from_snapshot: AtomicBool,
    empty_held: AtomicBool,
    balancer: Balancer,
}

impl std::fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.current();
        f.debug_struct("ServiceHandle")
            .field("service", &self.inner.service)
            .field("revision", &current.revision)
            .field("instances", &current.instances.len())
            .field("from_snapshot", &self.from_snapshot())
            .field("empty_held_back", &self.empty_held_back())
            .finish()
    }
}

impl ServiceHandle {
    fn new(service: ServiceId, first: Discovery, from_snapshot: bool) -> Self {
        ServiceHandle {
            inner: Arc::new(Watched {
                service,
                current: watch::Sender::new(Arc::new(first)),
                from_snapshot: AtomicBool::new(from_snapshot),
                empty_held: AtomicBool::new(false),
                balancer: Balancer::default(),
            }),
        }
    }

    /// Tenant, group and name of the service.
    pub fn service(&self) -> &ServiceId {
        &self.inner.service
    }

    /// The service's instances as last applied (UP and healthy ones, or every one with
    /// `healthy: false` marks when the protect threshold triggered), with its revision and
    /// default load-balancing strategy. Never touches the network.
    pub fn current(&self) -> Arc<Discovery> {
        Arc::clone(&self.inner.current.borrow())
    }

    /// The instances as last applied (a copy; [`current`](Self::current) shares instead).
    pub fn instances(&self) -> Vec<InstanceView> {
        self.inner.current.borrow().instances.clone()
    }

    /// The revision of the list held.
    pub fn revision(&self) -> i64 {
        self.inner.current.borrow().revision
    }

    /// Every list applied from now on: `changed().await`, then `borrow()`. The channel closes
    /// once the client is closed and every handle is dropped.
    pub fn watch(&self) -> watch::Receiver<Arc<Discovery>> {
        self.inner.current.subscribe()
    }

    /// True while the list held came from the local snapshot: no server answered when the
    /// service was first discovered, and none has answered since.
    pub fn from_snapshot(&self) -> bool {
        self.inner.from_snapshot.load(Ordering::Acquire)
    }

    /// True while an empty list is held back awaiting confirmation (see push-empty protection
    /// above); the previous instances are served meanwhile.
    pub fn empty_held_back(&self) -> bool {
        self.inner.empty_held.load(Ordering::Acquire)
    }

    /// An instance for one request, by the service's default strategy (`loadBalance` of the
    /// service; consistent hashing without a key falls back to round robin). `None` when the
    /// service has no instances. Keep the [`Picked`] for the request's duration.
    pub fn pick(&self) -> Option<Picked> {
        let current = self.current();
        self.inner
            .balancer
            .pick(&current, current.load_balance, None)
    }

    /// An instance for one request by `strategy`; `key` is what
    /// [`LoadBalance::ConsistentHash`] hashes (a user id, a session): the same key goes to the
    /// same instance while it lives, and the other strategies ignore it.
    pub fn pick_with(&self, strategy: LoadBalance, key: Option<&[u8]>) -> Option<Picked> {
        let current = self.current();
        self.inner.balancer.pick(&current, strategy, key)
    }
}

/// Reads the service for the first time: from the first server that answers, or — when
/// none does — from its snapshot (a warning says so). A refusal fails at once.
pub(crate) async fn load(shared: &Shared, service: ServiceId) -> Result<ServiceHandle> {
    let fetched = shared
        .transport
        .instances(&service.service, &service.group, None)
        .await;
    let why = match fetched {
        Ok(Fetched::Changed(discovery)) => {
            save_snapshot(shared, &service, &discovery).await;
            return Ok(ServiceHandle::new(service, discovery, false));
        }
        // The transport answers a plain read with data or an error only.
        Ok(Fetched::NotModified | Fetched::NodeLeaving(_)) => {
            "the server answered a plain read with 304".to_owned()
        }
        Err(e @ Error::Unavailable(_)) => e.to_string(),
        Err(other) => return Err(other),
    };
    let Some(snapshots) = &shared.snapshots else {
        return Err(Error::NoSource(format!(
            "cannot discover service {service}: {why}; and snapshot_dir is not set, so there is \
             no local copy to start from. Check that the servers are reachable, or set \
             snapshot_dir so the next start can survive an outage"
        )));
    };
    let file = snapshot::file(snapshots, &service);
    let path = file.path();
    let Some(snapshot) = file.load::<Snapshot>().await? else {
        return Err(Error::NoSource(format!(
            "cannot discover service {service}: {why}; and there is no snapshot at {} (one is \
             written after the first successful read). Check that the servers are reachable",
            path.display()
        )));
    };
    tracing::warn!(
        %service,
        revision = snapshot.discovery.revision,
        instances = snapshot.discovery.instances.len(),
        snapshot = %path.display(),
        saved_at = snapshot.saved_at,
        error = %why,
        "no registry server answered; starting from the local snapshot"
    );
    Ok(ServiceHandle::new(service, snapshot.discovery, true))
}

/// The service's task: long poll, apply each new list (holding back a suspicious empty one
/// until confirmed), snapshot it; until `stop`.
pub(crate) async fn follow(shared: Arc<Shared>, handle: ServiceHandle, stop: CancellationToken) {
    let config = &shared.config;
    let watched = &handle.inner;
    let service = &watched.service;
    let mut pause = config.retry_interval;
    loop {
        let settled = if watched.empty_held.load(Ordering::Acquire) {
            if !sleep_or_stop(&stop, config.empty_confirm_delay).await {
                return;
            }
            let read = tokio::select! {
                () = stop.cancelled() => return,
                read = shared.transport.instances(&service.service, &service.group, None) => read,
            };
            match read {
                Ok(Fetched::Changed(discovery)) => {
                    if discovery.instances.is_empty() {
                        tracing::warn!(%service, revision = discovery.revision, "the empty instance list is confirmed; applying it");
                    } else {
                        tracing::info!(%service, revision = discovery.revision, instances = discovery.instances.len(), "the empty instance list was not confirmed; applying the new list instead");
                    }
                    apply(&shared, watched, discovery).await;
                    true
                }
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(%service, error = %e, retry_in = ?pause, "cannot confirm the empty instance list; keeping the previous one");
                    false
                }
            }
        } else {
            let held = handle.current();
            let poll = Some((held.revision, config.long_poll_wait));
            let polled = tokio::select! {
                () = stop.cancelled() => return,
                polled = shared.transport.instances(&service.service, &service.group, poll) => polled,
            };
            match polled {
                Ok(Fetched::NotModified) => true,
                Ok(Fetched::NodeLeaving(server)) => {
                    tracing::info!(%service, %server, "registry node is shutting down; polling another");
                    true
                }
                // A node behind the one that answered: wait rather than poll again at once.
                Ok(Fetched::Changed(discovery)) if discovery.revision == held.revision => false,
                Ok(Fetched::Changed(discovery)) => {
                    offer(&shared, watched, &held, discovery).await;
                    true
                }
                Err(e) => {
                    tracing::warn!(%service, error = %e, retry_in = ?pause, "cannot watch the service's instances");
                    false
                }
            }
        };
        if settled {
            pause = config.retry_interval;
            continue;
        }
        if !sleep_or_stop(&stop, pause).await {
            return;
        }
        pause = (pause * 2).min(config.max_retry_interval);
    }
}

/// Applies a pushed list, unless it is an empty one after a non-empty one (held back).
async fn offer(shared: &Shared, watched: &Watched, held: &Discovery, discovery: Discovery) {
    if holds_back(held, &discovery) {
        tracing::warn!(
            service = %watched.service,
            revision = discovery.revision,
            previous = held.instances.len(),
            confirm_in = ?shared.config.empty_confirm_delay,
            "the registry pushed an empty instance list; keeping the previous one until a second read confirms it"
        );
        watched.empty_held.store(true, Ordering::Release);
    } else {
        apply(shared, watched, discovery).await;
    }
}

/// Push-empty protection's rule: an empty list replaces a non-empty one only once confirmed.
fn holds_back(held: &Discovery, incoming: &Discovery) -> bool {
    incoming.instances.is_empty() && !held.instances.is_empty()
}

async fn apply(shared: &Shared, watched: &Watched, discovery: Discovery) {
    tracing::debug!(
        service = %watched.service,
        revision = discovery.revision,
        instances = discovery.instances.len(),
        "instance list changed"
    );
    let discovery = Arc::new(discovery);
    watched.current.send_replace(Arc::clone(&discovery));
    // Cleared after the list is visible: while the flag reads true, the held-back list has not
    // been applied.
    watched.from_snapshot.store(false, Ordering::Release);
    watched.empty_held.store(false, Ordering::Release);
    // Readers first, the disk (an fsync) after.
    save_snapshot(shared, &watched.service, &discovery).await;
}

/// A snapshot that cannot be written costs only the next outage's start: log it.
/// The path comes from the validated `service` asked for, never from the answer's names.
async fn save_snapshot(shared: &Shared, service: &ServiceId, discovery: &Discovery) {
    let Some(snapshots) = &shared.snapshots else {
        return;
    };
    let file = snapshot::file(snapshots, service);
    if let Err(e) = file.save(Snapshot::of(discovery.clone())).await {
        tracing::warn!(%service, error = %e, "cannot write the instance snapshot");
    }
}

/// Sleeps `pause`; false when `stop` came first.
async fn sleep_or_stop(stop: &CancellationToken, pause: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(pause) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery(revision: i64, ids: &[&str]) -> Discovery {
        let instances = ids
            .iter()
            .map(|id| {
                serde_json::from_value(serde_json::json!({
                    "instanceId": id, "tenant": "default", "groupName": "DEFAULT_GROUP",
                    "serviceName": "orders", "host": "10.0.0.1", "port": 80, "weight": 1.0,
                    "metadata": {}, "tags": [], "ephemeral": true,
                    "healthCheck": {"type": "ttl", "interval": "1s"},
                    "status": "UP", "checkedHealth": "HEALTHY", "registeredAt": 0,
                    "updatedAt": 0, "healthy": true, "healthStatus": "HEALTHY"
                }))
                .unwrap()
            })
            .collect();
        Discovery {
            service: ServiceId::new("default", "DEFAULT_GROUP", "orders"),
            revision,
            protect_threshold_triggered: false,
            load_balance: LoadBalance::RoundRobin,
            instances,
        }
    }

    #[test]
    fn only_an_empty_list_after_a_non_empty_one_is_held_back() {
        assert!(holds_back(&discovery(1, &["a"]), &discovery(2, &[])));
        assert!(!holds_back(&discovery(1, &[]), &discovery(2, &[])));
        assert!(!holds_back(&discovery(1, &["a"]), &discovery(2, &["b"])));
        assert!(!holds_back(&discovery(1, &[]), &discovery(2, &["a"])));
    }

    #[test]
    fn the_server_answer_reads_back_into_a_discovery() {
        let d = discovery(7, &["a", "b"]);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["service"], "orders");
        assert_eq!(json["loadBalance"], "round_robin");
        let back: Discovery = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn handles_share_one_cache_and_pick_from_it() {
        let handle = ServiceHandle::new(
            ServiceId::new("default", "DEFAULT_GROUP", "orders"),
            discovery(3, &["a", "b"]),
            true,
        );
        let clone = handle.clone();
        let mut updates = clone.watch();
        assert!(handle.from_snapshot() && !handle.empty_held_back());
        handle
            .inner
            .current
            .send_replace(Arc::new(discovery(4, &["c"])));
        assert!(updates.has_changed().unwrap());
        assert_eq!(updates.borrow_and_update().revision, 4);
        assert_eq!(clone.revision(), 4);
        assert_eq!(clone.instances().len(), 1);
        let picked = clone.pick().unwrap();
        assert_eq!(picked.instance.instance_id, "c");
        assert!(
            clone
                .pick_with(LoadBalance::ConsistentHash, Some(b"user-1"))
                .is_some()
        );
    }
}
