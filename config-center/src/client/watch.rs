//! Change push: the background task that long-polls the config center and applies each
//! release, and the subscribers it tells (callbacks and a broadcast channel).

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use keel_clog::Context;
use tokio::sync::broadcast;

use super::http::Polled;
use super::state::Shared;

/// How many events a slow stream subscriber may fall behind before it misses some (it is told
/// how many it missed, and can re-read the whole namespace with `get_namespace`).
const EVENT_BUFFER: usize = 1024;

/// A release of a namespace, as applied by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangeEvent {
    /// The namespace, as the client names it.
    pub namespace: String,
    /// The release now current.
    pub release_key: String,
    /// Keys that are new.
    pub added: BTreeMap<String, String>,
    /// Keys whose value changed (the new values).
    pub updated: BTreeMap<String, String>,
    /// Keys that are gone.
    pub deleted: Vec<String>,
}

impl ChangeEvent {
    pub(crate) fn between(
        namespace: &str,
        old: &BTreeMap<String, String>,
        new: &BTreeMap<String, String>,
        release_key: &str,
    ) -> Self {
        let mut event = ChangeEvent {
            namespace: namespace.to_owned(),
            release_key: release_key.to_owned(),
            added: BTreeMap::new(),
            updated: BTreeMap::new(),
            deleted: old
                .keys()
                .filter(|k| !new.contains_key(*k))
                .cloned()
                .collect(),
        };
        for (key, value) in new {
            match old.get(key) {
                None => {
                    event.added.insert(key.clone(), value.clone());
                }
                Some(previous) if previous != value => {
                    event.updated.insert(key.clone(), value.clone());
                }
                Some(_) => {}
            }
        }
        event
    }
}

/// Identifies a callback registered with `on_change`, to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallbackId(u64);

type Callback = Arc<dyn Fn(&ChangeEvent) + Send + Sync>;

/// Whoever wants to hear about changes.
pub(crate) struct Subscribers {
    events: broadcast::Sender<ChangeEvent>,
    callbacks: Mutex<Vec<(CallbackId, Callback)>>,
    next_id: AtomicU64,
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers {
            events: broadcast::channel(EVENT_BUFFER).0,
            callbacks: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        }
    }
}

impl Subscribers {
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.events.subscribe()
    }

    pub(crate) fn add(&self, callback: Callback) -> CallbackId {
        let id = CallbackId(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.lock().push((id, callback));
        id
    }

    pub(crate) fn remove(&self, id: CallbackId) -> bool {
        let mut callbacks = self.lock();
        let before = callbacks.len();
        callbacks.retain(|(each, _)| *each != id);
        callbacks.len() != before
    }

    /// Calls every callback (a panicking one is logged and does not stop the others or the
    /// watch), then sends the event to the channel.
    fn publish(&self, event: &ChangeEvent) {
        // Call outside the lock: a callback may register or remove callbacks.
        let callbacks: Vec<Callback> = self.lock().iter().map(|(_, c)| Arc::clone(c)).collect();
        for callback in callbacks {
            if catch_unwind(AssertUnwindSafe(|| callback(event))).is_err() {
                tracing::error!(namespace = %event.namespace, "a configuration change callback panicked");
            }
        }
        // No receiver is not an error: nobody subscribed to the stream.
        let _ = self.events.send(event.clone());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(CallbackId, Callback)>> {
        // A callback panic is caught outside the lock, so a poisoned list is still whole.
        self.callbacks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The watch task: long poll, apply each release, tell the subscribers; until `stop`.
pub(crate) async fn run(shared: Arc<Shared>, stop: Context) {
    let first_pause = shared.config.retry_interval;
    let mut pause = first_pause;
    loop {
        let watches = shared.watches();
        let polled = tokio::select! {
            _ = stop.done() => return,
            polled = shared.transport.long_poll(&watches, shared.config.poll_timeout) => polled,
        };
        let settled = match polled {
            Ok(Polled::Timeout) => true,
            Ok(Polled::NodeLeaving(server)) => {
                tracing::info!(%server, "config center node is shutting down; polling another");
                true
            }
            Ok(Polled::Changed(changed)) => {
                tokio::select! {
                    _ = stop.done() => return,
                    applied = apply(&shared, &changed) => applied,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?pause, "cannot watch the configuration");
                false
            }
        };
        if settled {
            pause = first_pause;
            continue;
        }
        tokio::select! {
            _ = stop.done() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(shared.config.max_retry_interval);
    }
}

/// Fetches and applies the namespaces the poll named. False when any could not be fetched or
/// nothing was new (a node behind the one that answered the poll): the caller pauses rather
/// than poll again at once.
async fn apply(shared: &Shared, changed: &[(String, String)]) -> bool {
    let mut all_fine = true;
    let mut applied = false;
    for (name, key) in changed {
        let Some(held) = shared.namespace(name) else {
            continue; // not ours (the server echoes what was asked, so this is defensive)
        };
        if held.release_key == *key {
            continue;
        }
        match shared.refresh(name).await {
            Ok(Some(event)) => {
                tracing::info!(
                    namespace = %name,
                    release_key = %event.release_key,
                    added = event.added.len(),
                    updated = event.updated.len(),
                    deleted = event.deleted.len(),
                    "configuration changed"
                );
                shared.subscribers.publish(&event);
                applied = true;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(namespace = %name, error = %e, "cannot fetch the new release");
                all_fine = false;
            }
        }
    }
    all_fine && applied
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn events_list_added_updated_and_deleted_keys() {
        let old = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let new = map(&[("a", "1"), ("b", "20"), ("d", "4")]);
        let event = ChangeEvent::between("application", &old, &new, "r2");
        assert_eq!(event.added, map(&[("d", "4")]));
        assert_eq!(event.updated, map(&[("b", "20")]));
        assert_eq!(event.deleted, vec!["c".to_owned()]);
        assert_eq!(event.release_key, "r2");
    }

    #[test]
    fn callbacks_are_called_a_panicking_one_is_contained_and_removal_works() {
        let subscribers = Subscribers::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let _panics = subscribers.add(Arc::new(|_| panic!("callback bug")));
        let sink = Arc::clone(&seen);
        let id = subscribers.add(Arc::new(move |e: &ChangeEvent| {
            sink.lock().unwrap().push(e.release_key.clone());
        }));
        let mut stream = subscribers.subscribe();
        let event = ChangeEvent::between("application", &map(&[]), &map(&[("a", "1")]), "r1");
        subscribers.publish(&event);
        assert_eq!(*seen.lock().unwrap(), vec!["r1".to_owned()]);
        assert_eq!(stream.try_recv().unwrap(), event);
        assert!(subscribers.remove(id));
        assert!(!subscribers.remove(id));
        subscribers.publish(&event);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}
