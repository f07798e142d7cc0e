//! [`ConfigCenter`]: the domain over [`ConfigStore`] — validation, releases with idempotency,
//! gray releases, the in-memory cache of what clients are served, client reads (304,
//! incremental) and waiting for changes, and announcing releases to other nodes.
//!
//! - `writes`: everything that makes or ends a release, and what follows one (cache, wake-up,
//!   announcement, event);
//! - `served`: what a namespace serves (its current release and gray release), cached;
//! - `reads`: client reads and waits;
//! - `documents`: namespaces as one text with an MD5, for text clients (the Nacos API).

mod documents;
mod reads;
mod served;
mod waiting;
mod writes;

pub use documents::ServedDocument;
pub use reads::Serving;
pub use served::ClientId;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_clog::Context;
use keel_uid::UuidV7;
use serde::Serialize;

use crate::announce;
use crate::notify::Notifier;
use crate::{ConfigStore, Error, NamespaceId, Release, Result, validate_name};
use served::Served;

/// How long an `Idempotency-Key` of a release is remembered.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);
/// A cached current release older than this is read from the database again: the bound on
/// staleness if an announcement between nodes was lost (coord down while releasing).
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(30);

/// The topic release events are published to.
pub const RELEASE_TOPIC: &str = "keel.config.releases";

/// One release, as published to [`RELEASE_TOPIC`] (JSON, keyed by namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReleaseEvent {
    /// The namespace released.
    pub namespace: NamespaceId,
    /// The new current release.
    pub release_key: String,
    /// Its name.
    pub name: String,
    /// When it was made (Unix ms).
    pub created_at: i64,
    /// Who made it.
    pub created_by: String,
    /// For a rollback: the release it restores.
    pub rolled_back_from: Option<String>,
}

/// What a node of the config center is built from.
pub struct Dependencies {
    /// The storage.
    pub store: ConfigStore,
    /// Makes releases idempotent (in Redis when several nodes share it).
    pub once: Arc<dyn keel_once::Provider>,
    /// Announces releases to every node.
    pub coord: Arc<dyn keel_coord::Provider>,
    /// Where release events go; `None` publishes none.
    pub events: Option<Arc<dyn keel_mq::Provider>>,
}

impl std::fmt::Debug for Dependencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependencies")
            .field("events", &self.events.is_some())
            .finish_non_exhaustive()
    }
}

/// What a client read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigAnswer {
    /// The client's release is current.
    NotModified,
    /// The whole current release.
    Full(Arc<Release>),
    /// What changed since the client's release (boxed: it is much larger than the others).
    Changes(Box<Changes>),
}

/// The difference between two releases of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// The namespace the client was served (its own, or the default cluster's).
    pub namespace: NamespaceId,
    /// The release the changes lead to.
    pub release_key: String,
    /// The release the client had.
    pub since: String,
    /// Keys new in `release_key`.
    pub added: BTreeMap<String, String>,
    /// Keys whose value changed.
    pub updated: BTreeMap<String, String>,
    /// Keys gone.
    pub deleted: Vec<String>,
}

impl Changes {
    fn between(old: &Release, new: &Release) -> Self {
        let mut changes = Changes {
            namespace: new.namespace.clone(),
            release_key: new.release_key.clone(),
            since: old.release_key.clone(),
            added: BTreeMap::new(),
            updated: BTreeMap::new(),
            deleted: Vec::new(),
        };
        for (key, value) in &new.configs {
            match old.configs.get(key) {
                None => {
                    changes.added.insert(key.clone(), value.clone());
                }
                Some(previous) if previous != value => {
                    changes.updated.insert(key.clone(), value.clone());
                }
                Some(_) => {}
            }
        }
        changes.deleted = old
            .configs
            .keys()
            .filter(|k| !new.configs.contains_key(*k))
            .cloned()
            .collect();
        changes
    }
}

/// The configuration center's domain.
pub struct ConfigCenter {
    store: ConfigStore,
    notifier: Notifier,
    /// What the namespaces clients read serve (and when it was loaded), so reads do not touch
    /// the database.
    current: Mutex<HashMap<NamespaceId, (Arc<Served>, Instant)>>,
    /// Asked namespaces served by the `default` cluster's (cluster fallback), and when that was
    /// found, so a fallback client does not cost a database lookup per read.
    fallbacks: Mutex<HashMap<NamespaceId, (NamespaceId, Instant)>>,
    once: Arc<dyn keel_once::Provider>,
    /// Announces releases to the other nodes (and, through its watch, to this one).
    coord: Option<Arc<dyn keel_coord::Provider>>,
    /// Follows the announcements; aborted on drop.
    follower: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Where release events are published (topic [`RELEASE_TOPIC`]), if anywhere.
    events: Option<Arc<dyn keel_mq::Provider>>,
    ids: UuidV7,
    /// Cancelled when the server shuts down: parked long polls answer at once.
    shutdown: Context,
}

impl std::fmt::Debug for ConfigCenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigCenter").finish_non_exhaustive()
    }
}

impl Drop for ConfigCenter {
    fn drop(&mut self) {
        if let Some(task) = self
            .follower
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

impl ConfigCenter {
    /// The domain over `store` alone (one node), with `once` making releases idempotent.
    pub fn new(store: ConfigStore, once: Arc<dyn keel_once::Provider>) -> Self {
        ConfigCenter {
            store,
            notifier: Notifier::default(),
            current: Mutex::new(HashMap::new()),
            fallbacks: Mutex::new(HashMap::new()),
            once,
            coord: None,
            follower: Mutex::new(None),
            events: None,
            ids: UuidV7::new(),
            shutdown: Context::new().with_cancel(),
        }
    }

    /// The domain as one node of a cluster: releases are announced through `coord` and every
    /// node's clients are woken (see `announce`); with `events`, each release is also published
    /// to [`RELEASE_TOPIC`] (created if missing).
    pub async fn start(ctx: &Context, deps: Dependencies) -> Result<Arc<Self>> {
        let Dependencies {
            store,
            once,
            coord,
            events,
        } = deps;
        if let Some(mq) = &events {
            match mq.create_topic(ctx, RELEASE_TOPIC, 8).await {
                Ok(()) | Err(keel_mq::Error::TopicExists(_)) => {}
                Err(e) => {
                    return Err(Error::Unavailable(format!(
                        "creating the release event topic {RELEASE_TOPIC}: {e}"
                    )));
                }
            }
        }
        // Watch before serving, so no release made after start-up is missed.
        let watcher = announce::watch(ctx, &coord)
            .await
            .map_err(|e| Error::Unavailable(format!("watching release announcements: {e}")))?;
        let mut center = ConfigCenter::new(store, once);
        center.coord = Some(Arc::clone(&coord));
        center.events = events;
        let center = Arc::new(center);
        let task = tokio::spawn(announce::follow(Arc::downgrade(&center), coord, watcher));
        *center.follower.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(center)
    }

    /// Answers every parked long poll (with "no change") and every later one at once; called
    /// when the server stops accepting requests.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// The storage.
    pub fn store(&self) -> &ConfigStore {
        &self.store
    }

    /// The notifier (for metrics: how many clients wait).
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Checks every name of a namespace path.
    pub fn check_namespace_id(id: &NamespaceId) -> Result<()> {
        validate_name("env", &id.env)?;
        validate_name("app", &id.app)?;
        validate_name("cluster", &id.cluster)?;
        validate_name("namespace", &id.namespace)
    }

    /// A context cancelled when the server shuts down (for connections that outlive requests).
    pub fn shutdown_context(&self) -> Context {
        self.shutdown.clone()
    }

    fn new_release_key(&self) -> String {
        self.ids.next_uuid().simple().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(key: &str, configs: &[(&str, &str)]) -> Release {
        Release {
            release_key: key.into(),
            namespace: NamespaceId {
                env: "dev".into(),
                app: "a".into(),
                cluster: "default".into(),
                namespace: "application".into(),
            },
            name: String::new(),
            comment: String::new(),
            configs: configs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            created_at: 0,
            created_by: String::new(),
            rolled_back_from: None,
            raw_content: None,
            content_type: None,
        }
    }

    #[test]
    fn changes_list_added_updated_and_deleted_keys() {
        let old = release("r1", &[("a", "1"), ("b", "2"), ("c", "3")]);
        let new = release("r2", &[("a", "1"), ("b", "20"), ("d", "4")]);
        let changes = Changes::between(&old, &new);
        assert_eq!(changes.since, "r1");
        assert_eq!(changes.release_key, "r2");
        assert_eq!(changes.added, BTreeMap::from([("d".into(), "4".into())]));
        assert_eq!(changes.updated, BTreeMap::from([("b".into(), "20".into())]));
        assert_eq!(changes.deleted, vec!["c".to_owned()]);
    }
}
