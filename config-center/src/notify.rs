//! [`Notifier`]: the current release key of each namespace clients watch, and a way to wait
//! for it to change.
//!
//! One `tokio::sync::watch` channel per watched namespace: a parked long poll is one receiver
//! (a few dozen bytes) and a release wakes exactly the receivers of its namespace. Channels are
//! created on first watch; those nobody waits on any more are dropped whenever the map has
//! doubled since the last sweep (amortised, so a server that saw many namespaces once does not
//! keep a channel for each forever).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::watch;

use crate::NamespaceId;

/// The last known release key of a namespace: `None` until it was read from storage,
/// `Some("")` for a namespace without releases.
type Known = Option<String>;

/// Current release keys and the clients waiting on them.
#[derive(Debug, Default)]
pub struct Notifier {
    channels: Mutex<HashMap<NamespaceId, Channel>>,
    /// Map size at which the next sweep of unwatched channels runs.
    sweep_at: AtomicUsize,
}

/// One watched namespace.
#[derive(Debug)]
struct Channel {
    sender: watch::Sender<Known>,
    /// When a release last changed the key (what fan-out times are measured from).
    changed_at: Option<Instant>,
}

impl Channel {
    fn new(known: Known) -> Self {
        Channel {
            sender: watch::channel(known).0,
            changed_at: None,
        }
    }
}

/// The smallest map that is swept.
const MIN_SWEEP: usize = 1_024;

impl Notifier {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<NamespaceId, Channel>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `release_key` is now current for `namespace` and wakes its watchers.
    pub fn publish(&self, namespace: &NamespaceId, release_key: &str) {
        let mut channels = self.channels();
        match channels.get_mut(namespace) {
            Some(channel) => {
                let changed = channel.sender.send_if_modified(|known| {
                    if known.as_deref() == Some(release_key) {
                        return false;
                    }
                    *known = Some(release_key.to_owned());
                    true
                });
                if changed {
                    channel.changed_at = Some(Instant::now());
                }
            }
            None => {
                channels.insert(
                    namespace.clone(),
                    Channel::new(Some(release_key.to_owned())),
                );
            }
        }
    }

    /// A receiver for `namespace`'s release key (`None` inside until someone [`seed`]s it).
    ///
    /// [`seed`]: Notifier::seed
    pub fn subscribe(&self, namespace: &NamespaceId) -> watch::Receiver<Known> {
        let mut channels = self.channels();
        if channels.len() >= self.sweep_at.load(Ordering::Relaxed).max(MIN_SWEEP) {
            channels.retain(|_, channel| channel.sender.receiver_count() > 0);
            self.sweep_at.store(2 * channels.len(), Ordering::Relaxed);
        }
        channels
            .entry(namespace.clone())
            .or_insert_with(|| Channel::new(None))
            .sender
            .subscribe()
    }

    /// Sets the key read from storage, unless a newer one was published meanwhile.
    pub fn seed(&self, namespace: &NamespaceId, release_key: &str) {
        if let Some(channel) = self.channels().get(namespace) {
            channel.sender.send_if_modified(|known| {
                if known.is_some() {
                    return false;
                }
                *known = Some(release_key.to_owned());
                true
            });
        }
    }

    /// Marks every watched namespace `within` says as gone (key `""`) and wakes its watchers:
    /// they find it deleted.
    pub fn clear(&self, within: impl Fn(&NamespaceId) -> bool) {
        for (namespace, channel) in self.channels().iter_mut() {
            if within(namespace) {
                channel.sender.send_if_modified(|known| {
                    if known.as_deref() == Some("") {
                        return false;
                    }
                    *known = Some(String::new());
                    true
                });
            }
        }
    }

    /// Forgets namespaces nobody waits on (their keys are read from storage again when needed).
    pub fn prune(&self) {
        self.channels()
            .retain(|_, channel| channel.sender.receiver_count() > 0);
    }

    /// When a release last changed `namespace`'s key on this node (its receivers were woken
    /// then); `None` if not since it was first watched.
    pub fn changed_at(&self, namespace: &NamespaceId) -> Option<Instant> {
        self.channels().get(namespace).and_then(|c| c.changed_at)
    }

    /// Receivers currently waiting (parked long polls, open subscriptions).
    pub fn waiting(&self) -> usize {
        self.channels()
            .values()
            .map(|channel| channel.sender.receiver_count())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str) -> NamespaceId {
        NamespaceId {
            env: "dev".into(),
            app: "a".into(),
            cluster: "default".into(),
            namespace: name.into(),
        }
    }

    #[tokio::test]
    async fn a_release_wakes_only_its_namespace() {
        let notifier = Notifier::default();
        let mut one = notifier.subscribe(&ns("one"));
        let two = notifier.subscribe(&ns("two"));
        notifier.seed(&ns("one"), "r1");
        assert_eq!(one.borrow_and_update().as_deref(), Some("r1"));
        assert_eq!(notifier.changed_at(&ns("one")), None);
        notifier.publish(&ns("one"), "r2");
        assert!(notifier.changed_at(&ns("one")).is_some());
        one.changed().await.unwrap();
        assert_eq!(one.borrow_and_update().as_deref(), Some("r2"));
        assert!(!two.has_changed().unwrap());
        // A seed never overwrites a published key.
        notifier.seed(&ns("one"), "r1");
        assert_eq!(one.borrow().as_deref(), Some("r2"));
        assert_eq!(notifier.waiting(), 2);
        drop((one, two));
        notifier.prune();
        assert_eq!(notifier.waiting(), 0);
    }

    #[test]
    fn unwatched_channels_are_swept_as_the_map_grows() {
        let notifier = Notifier::default();
        let kept = notifier.subscribe(&ns("kept"));
        for i in 0..10 * MIN_SWEEP {
            drop(notifier.subscribe(&ns(&format!("n{i}"))));
        }
        let channels = notifier.channels().len();
        assert!(channels <= MIN_SWEEP + 1, "{channels} channels kept");
        assert!(notifier.channels().contains_key(&ns("kept")));
        drop(kept);
    }
}
