//! The Rust client SDK of the configuration center (cargo feature `client`).
//!
//! A [`ConfigClient`] reads an app's namespaces from the config center at start-up, serves
//! them from memory (reads never touch the network or take a lock), and — once
//! [`watch`](ConfigClient::watch) is called — follows every release through one long poll,
//! applying only what changed and telling subscribers. It fails over between the config
//! center's nodes, and keeps a local snapshot of each namespace so an instance can start while
//! no node answers.
//!
//! ```no_run
//! use keel_config_center::client::{ClientConfig, ConfigClient};
//!
//! # async fn run() -> Result<(), keel_config_center::client::Error> {
//! let client = ConfigClient::new(ClientConfig {
//!     servers: vec!["http://127.0.0.1:8848".into()],
//!     env: "dev".into(),
//!     app: "shop".into(),
//!     namespaces: vec!["application".into()],
//!     snapshot_dir: Some("./config-snapshots".into()),
//!     ..ClientConfig::default()
//! })
//! .await?;
//! let pool: u32 = client
//!     .get("application", "db.pool")
//!     .and_then(|v| v.parse().ok())
//!     .unwrap_or(10);
//! client.on_change(|event| tracing::info!(?event, "configuration changed"));
//! client.watch()?;
//! # let _ = pool;
//! client.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! See the "Client SDK" section of `docs/config-center.md`.

mod config;
mod decode;
mod error;
mod http;
mod snapshot;
mod state;
mod watch;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::Stream;
use keel_clog::Context;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use config::ClientConfig;
pub use error::{Error, Result};
pub use state::{NamespaceConfig, Source};
pub use watch::{CallbackId, ChangeEvent};

use crate::{CONTENT_KEY, Format};
use state::Shared;

/// A configuration center client: an app's namespaces in memory, kept current by
/// [`watch`](Self::watch).
///
/// Share it behind an `Arc`. Dropping it (or [`close`](Self::close)) stops the watch.
pub struct ConfigClient {
    shared: Arc<Shared>,
    source: Source,
    watch: Mutex<WatchState>,
}

enum WatchState {
    Idle,
    Running { stop: Context, task: JoinHandle<()> },
    Closed,
}

impl std::fmt::Debug for ConfigClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigClient")
            .field("servers", &self.shared.config.servers)
            .field("env", &self.shared.config.env)
            .field("app", &self.shared.config.app)
            .field("cluster", &self.shared.config.cluster)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ConfigClient {
    /// Validates `config` and reads every namespace: from the first node that answers, or —
    /// when none does — from the snapshots in `snapshot_dir` (logged as a warning;
    /// [`source`](Self::source) says so). Fails when a node refuses (the namespace does not
    /// exist or has no release yet), or when no node answers and a namespace has no snapshot.
    pub async fn new(config: ClientConfig) -> Result<Self> {
        config.validate()?;
        let shared = Arc::new(Shared::new(config));
        let source = shared.load_all().await?;
        Ok(ConfigClient {
            shared,
            source,
            watch: Mutex::new(WatchState::Idle),
        })
    }

    /// Where the configuration the client started with came from.
    pub fn source(&self) -> Source {
        self.source
    }

    /// True when no node answered at start-up and the client started from snapshots (the
    /// watch catches up once a node answers).
    pub fn started_from_snapshot(&self) -> bool {
        self.source == Source::Snapshot
    }

    /// The value of `key` in `namespace`, from memory.
    pub fn get(&self, namespace: &str, key: &str) -> Option<String> {
        self.shared.namespace(namespace)?.configs.get(key).cloned()
    }

    /// Every key of `namespace`, from memory; `None` for a namespace the client does not read.
    pub fn get_namespace(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.shared
            .namespace(namespace)
            .map(|ns| ns.configs.clone())
    }

    /// The namespace as held, with its release key and format, without copying the map.
    pub fn namespace_config(&self, namespace: &str) -> Option<Arc<NamespaceConfig>> {
        self.shared.namespace(namespace)
    }

    /// `namespace`'s configuration as `T`: the `content` document of a json or yaml
    /// namespace, or the key/value map of a properties namespace (each value parsed as its
    /// field's type: `"10"` for a `u32`, `"a,b"` for a `Vec<String>`; a key `db.pool` fills a
    /// field renamed `db.pool`).
    pub fn get_as<T: DeserializeOwned>(&self, namespace: &str) -> Result<T> {
        let held = self
            .shared
            .namespace(namespace)
            .ok_or_else(|| Error::UnknownNamespace(namespace.to_owned()))?;
        // Without a known format (the server could not be asked), a lone `content` item is a
        // document: YAML reads JSON too.
        let format = held.format.unwrap_or_else(|| {
            if held.configs.len() == 1 && held.configs.contains_key(CONTENT_KEY) {
                Format::Yaml
            } else {
                Format::Properties
            }
        });
        decode::decode(format, &held.configs).map_err(|message| Error::Decode {
            namespace: namespace.to_owned(),
            message,
        })
    }

    /// Starts following releases in the background (once; later calls do nothing). Must be
    /// called inside a tokio runtime.
    pub fn watch(&self) -> Result<()> {
        let mut state = self.lock_watch();
        match *state {
            WatchState::Running { .. } => return Ok(()),
            WatchState::Closed => return Err(Error::Closed),
            WatchState::Idle => {}
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("watch() must be called inside a tokio runtime".into()))?;
        let stop = Context::new().with_cancel();
        let task = runtime.spawn(watch::run(Arc::clone(&self.shared), stop.clone()));
        *state = WatchState::Running { stop, task };
        Ok(())
    }

    /// Calls `callback` with every change the watch applies, on the watch task, after the
    /// new values are readable. Keep it short; a panic in it is logged and contained.
    pub fn on_change(&self, callback: impl Fn(&ChangeEvent) + Send + Sync + 'static) -> CallbackId {
        self.shared.subscribers.add(Arc::new(callback))
    }

    /// Stops calling a callback; false if it was not registered.
    pub fn remove_callback(&self, id: CallbackId) -> bool {
        self.shared.subscribers.remove(id)
    }

    /// A channel of every change applied from now on. A receiver that falls more than 1024
    /// events behind gets `RecvError::Lagged` and can re-read with
    /// [`get_namespace`](Self::get_namespace).
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.shared.subscribers.subscribe()
    }

    /// The changes as a stream (skipping, with a warning, events a slow reader missed). It
    /// ends when the client is dropped.
    pub fn changes(&self) -> impl Stream<Item = ChangeEvent> + Send + 'static {
        futures_util::stream::unfold(self.subscribe(), |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, receiver)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "configuration change stream fell behind");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// Stops the watch and waits for it to finish. Idempotent; reads keep working with the
    /// last configuration.
    pub async fn close(&self) {
        let previous = std::mem::replace(&mut *self.lock_watch(), WatchState::Closed);
        if let WatchState::Running { stop, task } = previous {
            stop.cancel();
            // The task only ends by seeing `stop`; a JoinError would be a panic already logged.
            let _ = task.await;
        }
    }

    fn lock_watch(&self) -> std::sync::MutexGuard<'_, WatchState> {
        // The state is replaced whole, so a poisoned lock still holds a consistent value.
        self.watch.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ConfigClient {
    fn drop(&mut self) {
        let state = self.watch.get_mut().unwrap_or_else(|p| p.into_inner());
        if let WatchState::Running { stop, task } = std::mem::replace(state, WatchState::Closed) {
            stop.cancel();
            // Do not wait in drop; aborting ends a request in flight at once.
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applications share one client across tasks and threads.
    #[test]
    fn the_client_is_send_and_sync() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<ConfigClient>();
        shareable::<ChangeEvent>();
        shareable::<Error>();
    }
}
