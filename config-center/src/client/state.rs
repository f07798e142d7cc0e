//! What the client holds: the current configuration of each namespace (swapped whole, so
//! readers never lock), and how a fetch from the server or a snapshot becomes that.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use keel_client_kit::{SnapshotDir, SnapshotFile};

use super::config::ClientConfig;
use super::error::{Error, Result};
use super::http::{Fetched, Transport};
use super::snapshot::{Snapshot, now_ms};
use super::watch::{ChangeEvent, Subscribers};
use crate::{Format, NamespaceId};

/// One namespace as the client holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamespaceConfig {
    /// The namespace as the client names it (one of `ClientConfig::namespaces`).
    pub name: String,
    /// The namespace the server serves for it: the client's cluster's, or the `default`
    /// cluster's when the client's cluster does not override it.
    pub served: NamespaceId,
    /// How it is written, when known (`None` only if the server could not be asked).
    pub format: Option<Format>,
    /// The release this configuration belongs to.
    pub release_key: String,
    /// Key → value (for json/yaml/xml/text namespaces: one item, `content`).
    pub configs: BTreeMap<String, String>,
}

/// Where the configuration the client started with came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// Every namespace was read from a config center node.
    Server,
    /// No node answered: at least one namespace was read from its local snapshot.
    Snapshot,
}

type Namespaces = BTreeMap<String, Arc<NamespaceConfig>>;

/// Everything the client and its watch task share.
pub(crate) struct Shared {
    pub(crate) config: ClientConfig,
    pub(crate) transport: Transport,
    snapshots: Option<SnapshotDir>,
    namespaces: ArcSwap<Namespaces>,
    pub(crate) subscribers: Subscribers,
}

impl Shared {
    pub(crate) fn new(config: ClientConfig) -> Self {
        Shared {
            transport: Transport::new(&config),
            snapshots: config.snapshot_dir.clone().map(SnapshotDir::new),
            namespaces: ArcSwap::from_pointee(Namespaces::new()),
            subscribers: Subscribers::default(),
            config,
        }
    }

    pub(crate) fn namespace(&self, name: &str) -> Option<Arc<NamespaceConfig>> {
        self.namespaces.load().get(name).cloned()
    }

    /// The namespace as the client asks for it (its own cluster; the server falls back).
    pub(crate) fn asked(&self, name: &str) -> NamespaceId {
        NamespaceId {
            env: self.config.env.clone(),
            app: self.config.app.clone(),
            cluster: self.config.cluster.clone(),
            namespace: name.to_owned(),
        }
    }

    /// What the long poll sends: every namespace with the release key the client has.
    pub(crate) fn watches(&self) -> Vec<(NamespaceId, String)> {
        let held = self.namespaces.load();
        self.config
            .namespaces
            .iter()
            .map(|name| {
                let key = held
                    .get(name)
                    .map(|ns| ns.release_key.clone())
                    .unwrap_or_default();
                (self.asked(name), key)
            })
            .collect()
    }

    /// Loads every namespace at start-up: from the servers, or (when none answers) from the
    /// snapshots. A refusal (the namespace does not exist, has no release) fails at once.
    pub(crate) async fn load_all(&self) -> Result<Source> {
        let mut source = Source::Server;
        // After one "no server answered", the others would only wait out the same timeouts.
        let mut unreachable: Option<Error> = None;
        for name in &self.config.namespaces {
            if unreachable.is_none() {
                match self.refresh(name).await {
                    Ok(_) => continue,
                    Err(e @ Error::Unavailable(_)) => unreachable = Some(e),
                    Err(other) => return Err(other),
                }
            }
            let why = unreachable
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            self.start_from_snapshot(name, &why).await?;
            source = Source::Snapshot;
        }
        Ok(source)
    }

    async fn start_from_snapshot(&self, name: &str, why: &str) -> Result<()> {
        let Some(snapshots) = &self.snapshots else {
            return Err(Error::NoSource(format!(
                "cannot start: {why}; and snapshot_dir is not set, so there is no local copy of \
                 namespace {name:?} to start from. Check that the servers are reachable, or set \
                 snapshot_dir so the next start can survive an outage"
            )));
        };
        let file = self.snapshot_file(snapshots, name);
        let path = file.path();
        let Some(snapshot) = file.load::<Snapshot>().await? else {
            return Err(Error::NoSource(format!(
                "cannot start: {why}; and there is no snapshot of namespace {name:?} at {} \
                 (one is written after the first successful fetch). Check that the servers \
                 are reachable",
                path.display()
            )));
        };
        tracing::warn!(
            namespace = name,
            release_key = %snapshot.release_key,
            snapshot = %path.display(),
            saved_at = snapshot.saved_at,
            error = why,
            "no config center server answered; starting from the local snapshot"
        );
        self.store(NamespaceConfig {
            name: name.to_owned(),
            served: snapshot.served,
            format: snapshot.format,
            release_key: snapshot.release_key,
            configs: snapshot.configs,
        });
        Ok(())
    }

    /// Fetches one namespace (only the changes when the client has a release), makes it
    /// current and snapshots it. Returns what changed; `None` if nothing did or this was the
    /// first load.
    pub(crate) async fn refresh(&self, name: &str) -> Result<Option<ChangeEvent>> {
        let held = self.namespace(name);
        let known = held.as_ref().map(|ns| ns.release_key.as_str());
        let (served, release_key, configs, format) = match self
            .transport
            .fetch_configs(&self.asked(name), known)
            .await?
        {
            Fetched::NotModified => return Ok(None),
            Fetched::Full {
                served,
                release_key,
                configs,
                format,
            } => (served, release_key, configs, format),
            Fetched::Changes {
                served,
                release_key,
                added,
                updated,
                deleted,
            } => {
                // Changes only come for a key the client sent, so `held` is there.
                let mut configs = held
                    .as_ref()
                    .map(|ns| ns.configs.clone())
                    .unwrap_or_default();
                for key in &deleted {
                    configs.remove(key);
                }
                configs.extend(added);
                configs.extend(updated);
                (served, release_key, configs, None)
            }
        };
        let format = match (format, &held) {
            (Some(format), _) => Some(format),
            (None, Some(ns)) if ns.served == served && ns.format.is_some() => ns.format,
            (None, _) => self.learn_format(&served).await,
        };
        let event = held
            .as_ref()
            .map(|old| ChangeEvent::between(name, &old.configs, &configs, &release_key));
        let current = NamespaceConfig {
            name: name.to_owned(),
            served,
            format,
            release_key,
            configs,
        };
        self.save_snapshot(&current).await;
        self.store(current);
        Ok(event)
    }

    /// The format is only needed for typed reads: a failure is logged, not fatal.
    async fn learn_format(&self, served: &NamespaceId) -> Option<Format> {
        match self.transport.fetch_format(served).await {
            Ok(format) => Some(format),
            Err(e) => {
                tracing::warn!(namespace = %served, error = %e, "cannot learn the namespace's format; typed reads will guess it");
                None
            }
        }
    }

    fn store(&self, current: NamespaceConfig) {
        let current = Arc::new(current);
        // Only the start-up and the watch task write, one at a time; rcu keeps it correct
        // should that ever change.
        self.namespaces.rcu(|held| {
            let mut next = Namespaces::clone(held);
            next.insert(current.name.clone(), Arc::clone(&current));
            next
        });
    }

    /// A snapshot that cannot be written costs only the next outage's start: log it.
    async fn save_snapshot(&self, current: &NamespaceConfig) {
        let Some(snapshots) = &self.snapshots else {
            return;
        };
        let file = self.snapshot_file(snapshots, &current.name);
        let snapshot = Snapshot {
            served: current.served.clone(),
            format: current.format,
            release_key: current.release_key.clone(),
            configs: current.configs.clone(),
            saved_at: now_ms(),
        };
        if let Err(e) = file.save(snapshot).await {
            tracing::warn!(namespace = %current.name, error = %e, "cannot write the configuration snapshot");
        }
    }

    /// `{dir}/{env}/{app}/{cluster}/{namespace}.json`. The names were validated (no `/`, not
    /// `.` or `..`), so the file stays under the directory.
    fn snapshot_file(&self, snapshots: &SnapshotDir, name: &str) -> SnapshotFile {
        snapshots.file(&[
            &self.config.env,
            &self.config.app,
            &self.config.cluster,
            name,
        ])
    }
}
