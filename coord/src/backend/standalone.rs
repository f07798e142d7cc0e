//! The standalone backend: an in-process store with etcd's semantics.
//!
//! - one store-wide revision, increased by every write; keys carry create/mod revisions and a
//!   version, exactly as in etcd;
//! - a bounded log of recent events, so a watch can start from (or resume at) an older revision;
//!   asking for a revision older than the log is answered with `Compacted`, as etcd does;
//! - leases with TTLs on tokio's clock; an expired lease deletes its keys in one revision.
//!
//! A [`StandaloneStore`] is a cheap handle: clone it into the `Options` of several providers
//! and they share one store, like several processes sharing one etcd.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::{Backend, CasOp, RawWatch};
use crate::types::{EventKind, Expect, KeyValue, LeaseId, Listing, WatchEvent};
use crate::{Error, Result};

/// Batches a raw watch may have queued before it is cut off (and resumes from the log).
const WATCH_QUEUE: usize = 1024;

/// A shared in-process coordination store.
#[derive(Clone)]
pub struct StandaloneStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StandaloneStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("StandaloneStore")
            .field("revision", &state.revision)
            .field("keys", &state.keys.len())
            .field("leases", &state.leases.len())
            .finish()
    }
}

struct Inner {
    state: Mutex<State>,
    /// Wakes the lease-expiry task when a deadline may have moved earlier.
    expiry_changed: Arc<Notify>,
    history_limit: usize,
    expiry_task_started: std::sync::atomic::AtomicBool,
}

struct Entry {
    value: Vec<u8>,
    create_revision: i64,
    mod_revision: i64,
    version: i64,
    lease: LeaseId,
}

struct LoggedEvent {
    event: WatchEvent,
    /// Whether the key existed just before this event (needed to answer `keys_at`).
    existed_before: bool,
}

struct RawWatcher {
    key: String,
    prefix: bool,
    tx: mpsc::Sender<RawWatch>,
}

impl RawWatcher {
    fn matches(&self, key: &str) -> bool {
        if self.prefix {
            key.starts_with(&self.key)
        } else {
            key == self.key
        }
    }
}

struct LeaseEntry {
    ttl_secs: i64,
    deadline: Instant,
    keys: BTreeSet<String>,
}

struct State {
    revision: i64,
    compact_revision: i64,
    keys: BTreeMap<String, Entry>,
    log: VecDeque<LoggedEvent>,
    watchers: Vec<RawWatcher>,
    leases: HashMap<LeaseId, LeaseEntry>,
    /// When to look at each lease again: a lower bound of its deadline (renewals move only
    /// the lease's own deadline). Entries of revoked leases linger until due, then are dropped.
    expiries: BTreeSet<(Instant, LeaseId)>,
    next_lease: LeaseId,
    /// Set by `disconnect_watches`: new watches fail as if the store were unreachable.
    watches_refused: bool,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-written: every mutation
        // completes before anything that can panic. Keep serving rather than cascade.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for StandaloneStore {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl StandaloneStore {
    /// A new, empty store keeping the last `history_limit` events for resuming watches.
    pub fn new(history_limit: usize) -> Self {
        StandaloneStore {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    revision: 1,
                    compact_revision: 0,
                    keys: BTreeMap::new(),
                    log: VecDeque::new(),
                    watchers: Vec::new(),
                    leases: HashMap::new(),
                    expiries: BTreeSet::new(),
                    next_lease: 0x1000,
                    watches_refused: false,
                }),
                expiry_changed: Arc::new(Notify::new()),
                history_limit: history_limit.max(100),
                expiry_task_started: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The current store revision.
    pub fn revision(&self) -> i64 {
        self.inner.lock().revision
    }

    /// Simulates a watch outage: cuts every open watch as a dropped connection would, and
    /// refuses new ones until [`StandaloneStore::reconnect_watches`]. Watches made through a
    /// provider keep retrying and resume from their last revision (or re-sync if that revision
    /// was compacted meanwhile). For testing components built on coord.
    pub fn disconnect_watches(&self) {
        let mut state = self.inner.lock();
        state.watches_refused = true;
        for w in state.watchers.drain(..) {
            let _ =
                w.tx.try_send(RawWatch::Broken("disconnected by the store".into()));
        }
    }

    /// Ends the outage started by [`StandaloneStore::disconnect_watches`].
    pub fn reconnect_watches(&self) {
        self.inner.lock().watches_refused = false;
    }

    fn ensure_expiry_task(&self) {
        use std::sync::atomic::Ordering;
        if !self.inner.expiry_task_started.swap(true, Ordering::SeqCst) {
            tokio::spawn(expire_leases(Arc::downgrade(&self.inner)));
        }
    }
}

/// Deletes the keys of leases whose deadline passed. Ends when the store is dropped.
async fn expire_leases(store: Weak<Inner>) {
    loop {
        let Some(inner) = store.upgrade() else { return };
        let next_deadline = {
            let mut state = inner.lock();
            let now = Instant::now();
            while let Some(&(deadline, id)) = state.expiries.first() {
                if deadline > now {
                    break;
                }
                state.expiries.pop_first();
                // The entry is a lower bound: a renewed lease is due later (check again then);
                // a revoked one is gone already.
                match state.leases.get(&id).map(|l| l.deadline) {
                    Some(actual) if actual > now => {
                        state.expiries.insert((actual, id));
                    }
                    Some(_) => {
                        revoke_locked(&mut state, inner.history_limit, id);
                    }
                    None => {}
                }
            }
            state.expiries.first().map(|(d, _)| *d)
        };
        // Wait without holding the store, so dropping the last handle ends this task.
        let wake = Arc::clone(&inner.expiry_changed);
        drop(inner);
        let notified = wake.notified();
        match next_deadline {
            // Re-check at least every second so a dropped store is noticed.
            Some(deadline) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = notified => {}
                }
            }
            None => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = notified => {}
                }
            }
        }
    }
}

fn kv_of(key: &str, e: &Entry) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: e.value.clone(),
        create_revision: e.create_revision,
        mod_revision: e.mod_revision,
        version: e.version,
        lease: e.lease,
    }
}

/// One key's change in a commit: `Some((value, lease))` writes, `None` deletes.
type Change = (String, Option<(Vec<u8>, LeaseId)>);

/// Applies puts/deletes as one revision, logs them and fans them out to watchers.
fn commit(state: &mut State, history_limit: usize, changes: Vec<Change>) -> i64 {
    state.revision += 1;
    let rev = state.revision;
    let mut events = Vec::with_capacity(changes.len());
    for (key, change) in changes {
        let existed_before = state.keys.contains_key(&key);
        match change {
            Some((value, lease)) => {
                let (create_revision, version, old_lease) = match state.keys.get(&key) {
                    Some(e) => (e.create_revision, e.version + 1, e.lease),
                    None => (rev, 1, 0),
                };
                // Lease 0 (none) is never in the map, so these only touch real leases.
                if old_lease != lease
                    && let Some(l) = state.leases.get_mut(&old_lease)
                {
                    l.keys.remove(&key);
                }
                if let Some(l) = state.leases.get_mut(&lease) {
                    l.keys.insert(key.clone());
                }
                let entry = Entry {
                    value,
                    create_revision,
                    mod_revision: rev,
                    version,
                    lease,
                };
                let kv = kv_of(&key, &entry);
                state.keys.insert(key, entry);
                events.push(LoggedEvent {
                    event: WatchEvent {
                        kind: EventKind::Put,
                        kv,
                    },
                    existed_before,
                });
            }
            None => {
                let Some(old) = state.keys.remove(&key) else {
                    continue;
                };
                if let Some(l) = state.leases.get_mut(&old.lease) {
                    l.keys.remove(&key);
                }
                events.push(LoggedEvent {
                    event: WatchEvent {
                        kind: EventKind::Delete,
                        kv: KeyValue {
                            key,
                            value: Vec::new(),
                            create_revision: 0,
                            mod_revision: rev,
                            version: 0,
                            lease: 0,
                        },
                    },
                    existed_before: true,
                });
            }
        }
    }
    // Fan out, one message per watcher for this revision. A watcher whose queue is full is
    // cut off: it resumes from the log at its last revision instead of blocking the store.
    state.watchers.retain(|w| {
        let batch: Vec<WatchEvent> = events
            .iter()
            .filter(|e| w.matches(&e.event.kv.key))
            .map(|e| e.event.clone())
            .collect();
        if batch.is_empty() {
            return !w.tx.is_closed();
        }
        w.tx.try_send(RawWatch::Events(batch)).is_ok()
    });
    state.log.extend(events);
    // Keep the log bounded, dropping whole revisions.
    while state.log.len() > history_limit {
        let Some(first) = state.log.front().map(|e| e.event.kv.mod_revision) else {
            break;
        };
        while state
            .log
            .front()
            .is_some_and(|e| e.event.kv.mod_revision == first)
        {
            state.log.pop_front();
        }
        state.compact_revision = state.compact_revision.max(first);
    }
    rev
}

/// Moves a lease's deadline a full TTL past `now`; its TTL, or `None` when it is gone.
fn renew_locked(state: &mut State, lease: LeaseId, now: Instant) -> Option<i64> {
    let entry = state.leases.get_mut(&lease)?;
    // Only the deadline moves: the lease's entry in `expiries` stays where it is (a lower
    // bound) and is moved when it comes due. A renewal — the registry renews two leases per
    // heartbeat — thus costs no ordered-set work at all.
    entry.deadline = now + Duration::from_secs(entry.ttl_secs as u64);
    Some(entry.ttl_secs)
}

fn revoke_locked(state: &mut State, history_limit: usize, id: LeaseId) -> bool {
    let Some(lease) = state.leases.remove(&id) else {
        return false;
    };
    // Usually the entry; after renewals a stale one lingers until due (see `expiries`).
    state.expiries.remove(&(lease.deadline, id));
    if !lease.keys.is_empty() {
        let changes = lease.keys.into_iter().map(|k| (k, None)).collect();
        commit(state, history_limit, changes);
    }
    true
}

impl StandaloneStore {
    fn state(&self) -> Result<MutexGuard<'_, State>> {
        Ok(self.inner.lock())
    }

    fn check_lease(state: &State, lease: LeaseId) -> Result<()> {
        if lease != 0 && !state.leases.contains_key(&lease) {
            return Err(Error::LeaseNotFound(lease));
        }
        Ok(())
    }
}

#[async_trait]
impl Backend for StandaloneStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let state = self.state()?;
        Ok(state.keys.get(key).map(|e| kv_of(key, e)))
    }

    async fn range(&self, prefix: &str) -> Result<Listing> {
        let state = self.state()?;
        let kvs = state
            .keys
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, e)| kv_of(k, e))
            .collect();
        Ok(Listing {
            kvs,
            revision: state.revision,
        })
    }

    async fn keys_at(&self, key: &str, prefix: bool, revision: i64) -> Result<Vec<String>> {
        let state = self.state()?;
        if revision < state.compact_revision {
            return Err(Error::Compacted {
                requested: revision,
                compact_revision: state.compact_revision,
            });
        }
        let matches = |k: &str| if prefix { k.starts_with(key) } else { k == key };
        // The earliest logged event after `revision` tells whether a key existed at it;
        // keys untouched since then are as they are now.
        let mut decided: HashMap<&str, bool> = HashMap::new();
        for logged in state
            .log
            .iter()
            .filter(|e| e.event.kv.mod_revision > revision)
        {
            let k = logged.event.kv.key.as_str();
            if matches(k) {
                decided.entry(k).or_insert(logged.existed_before);
            }
        }
        let mut keys: BTreeSet<String> = state
            .keys
            .keys()
            .filter(|k| matches(k) && !decided.contains_key(k.as_str()))
            .cloned()
            .collect();
        keys.extend(
            decided
                .into_iter()
                .filter(|(_, existed)| *existed)
                .map(|(k, _)| k.to_owned()),
        );
        Ok(keys.into_iter().collect())
    }

    async fn put(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> Result<i64> {
        let mut state = self.state()?;
        Self::check_lease(&state, lease)?;
        Ok(commit(
            &mut state,
            self.inner.history_limit,
            vec![(key.to_owned(), Some((value, lease)))],
        ))
    }

    async fn delete(&self, key: &str) -> Result<Option<i64>> {
        let mut state = self.state()?;
        if !state.keys.contains_key(key) {
            return Ok(None);
        }
        Ok(Some(commit(
            &mut state,
            self.inner.history_limit,
            vec![(key.to_owned(), None)],
        )))
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expect: Expect,
        op: CasOp,
    ) -> Result<std::result::Result<i64, i64>> {
        let mut state = self.state()?;
        let actual = state.keys.get(key).map_or(0, |e| e.mod_revision);
        if actual != expect.as_revision() {
            return Ok(Err(actual));
        }
        let change = match op {
            CasOp::Put { value, lease } => {
                Self::check_lease(&state, lease)?;
                Some((value, lease))
            }
            CasOp::Delete if actual == 0 => return Ok(Err(0)),
            CasOp::Delete => None,
        };
        Ok(Ok(commit(
            &mut state,
            self.inner.history_limit,
            vec![(key.to_owned(), change)],
        )))
    }

    async fn watch(
        &self,
        key: &str,
        prefix: bool,
        start_revision: i64,
    ) -> Result<mpsc::Receiver<RawWatch>> {
        let mut state = self.state()?;
        if state.watches_refused {
            return Err(Error::Unavailable(
                "watches are disconnected (simulated outage)".into(),
            ));
        }
        if start_revision <= state.compact_revision {
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(RawWatch::Compacted(state.compact_revision));
            return Ok(rx);
        }
        let watcher = RawWatcher {
            key: key.to_owned(),
            prefix,
            tx: mpsc::channel(1).0,
        };
        // Replay history from the log, grouped by revision, then go live.
        let mut replay: Vec<Vec<WatchEvent>> = Vec::new();
        for logged in state
            .log
            .iter()
            .filter(|e| e.event.kv.mod_revision >= start_revision)
        {
            if !watcher.matches(&logged.event.kv.key) {
                continue;
            }
            match replay.last_mut() {
                Some(batch) if batch[0].kv.mod_revision == logged.event.kv.mod_revision => {
                    batch.push(logged.event.clone())
                }
                _ => replay.push(vec![logged.event.clone()]),
            }
        }
        let (tx, rx) = mpsc::channel(WATCH_QUEUE + replay.len());
        for batch in replay {
            let _ = tx.try_send(RawWatch::Events(batch));
        }
        state.watchers.push(RawWatcher { tx, ..watcher });
        Ok(rx)
    }

    async fn lease_grant(&self, ttl_secs: i64) -> Result<LeaseId> {
        self.ensure_expiry_task();
        let mut state = self.state()?;
        state.next_lease += 1;
        let id = state.next_lease;
        let deadline = Instant::now() + Duration::from_secs(ttl_secs as u64);
        state.leases.insert(
            id,
            LeaseEntry {
                ttl_secs,
                deadline,
                keys: BTreeSet::new(),
            },
        );
        state.expiries.insert((deadline, id));
        drop(state);
        self.inner.expiry_changed.notify_one();
        Ok(id)
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<Option<i64>> {
        let mut state = self.state()?;
        Ok(renew_locked(&mut state, lease, Instant::now()))
    }

    async fn lease_keep_alive_many(&self, leases: &[LeaseId]) -> Result<Vec<Option<i64>>> {
        // One lock and one clock reading for the whole batch.
        let mut state = self.state()?;
        let now = Instant::now();
        Ok(leases
            .iter()
            .map(|&lease| renew_locked(&mut state, lease, now))
            .collect())
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        let mut state = self.state()?;
        if revoke_locked(&mut state, self.inner.history_limit, lease) {
            Ok(())
        } else {
            Err(Error::LeaseNotFound(lease))
        }
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let mut state = self.state()?;
        if revision > state.revision {
            return Err(Error::Unavailable(format!(
                "cannot compact to {revision}: the store is at revision {}",
                state.revision
            )));
        }
        if revision <= state.compact_revision {
            return Err(Error::Compacted {
                requested: revision,
                compact_revision: state.compact_revision,
            });
        }
        while state
            .log
            .front()
            .is_some_and(|e| e.event.kv.mod_revision <= revision)
        {
            state.log.pop_front();
        }
        state.compact_revision = revision;
        Ok(())
    }

    async fn close(&self) {
        // Providers sharing this store close their own handles; the store itself lives while
        // any handle does. Nothing to release per provider.
    }
}
