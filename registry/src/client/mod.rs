//! The Rust client SDK of the service registry (cargo feature `client`).
//!
//! A [`RegistryClient`] talks to `keel serve`'s registry API:
//!
//! - **Registering**: [`register`](RegistryClient::register) registers an instance and
//!   heartbeats for it in the background at the interval the registry answers. When the
//!   registry no longer knows the instance (it expired, or a node lost its data) the client
//!   registers it again by itself, restoring the status last set. A [`Registration`] takes
//!   the instance out of traffic ([`set_status`](Registration::set_status)) and removes it
//!   ([`deregister`](Registration::deregister), or in the background when dropped).
//! - **Discovering**: [`discover`](RegistryClient::discover) reads a service's instances once,
//!   then keeps a local cache current with one long poll per service. Reads
//!   ([`ServiceHandle::instances`], [`ServiceHandle::pick`]) never touch the network. An
//!   empty list after a non-empty one is held back until a second read confirms it
//!   (push-empty protection, see [`ServiceHandle::empty_held_back`]).
//! - **Surviving outages**: requests fail over between the registry's nodes (the node that
//!   answered last is asked first), and each list received is snapshotted to
//!   `snapshot_dir/{tenant}/{group}/{service}.json`, so a service can be discovered from its
//!   snapshot while no node answers ([`ServiceHandle::from_snapshot`]).
//! - **Load balancing**: round robin, weighted random, least outstanding requests and
//!   consistent hashing over the cached instances ([`ServiceHandle::pick_with`]).
//!
//! ```no_run
//! use keel_registry::NewInstance;
//! use keel_registry::client::{ClientConfig, RegistryClient};
//!
//! # async fn run() -> Result<(), keel_registry::client::Error> {
//! let client = RegistryClient::new(ClientConfig {
//!     servers: vec!["http://127.0.0.1:8848".into()],
//!     snapshot_dir: Some("./registry-snapshots".into()),
//!     ..ClientConfig::default()
//! })?;
//! let registration = client
//!     .register(NewInstance {
//!         service_name: "orders".into(),
//!         group_name: None,
//!         host: "10.0.0.7".into(),
//!         port: 8080,
//!         weight: None,
//!         metadata: Default::default(),
//!         tags: vec![],
//!         ephemeral: None,
//!         health_check: None,
//!     })
//!     .await?;
//! let payments = client.discover("payments", None).await?;
//! if let Some(instance) = payments.pick() {
//!     // Call http://{address}/...; `instance` counts as one request in flight until dropped.
//!     let _address = instance.address();
//! }
//! registration.deregister().await?;
//! client.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! See the "Client SDK" section of `docs/registry.md`.

mod balance;
mod config;
mod discover;
mod error;
mod http;
mod register;
mod snapshot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use keel_client_kit::SnapshotDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use balance::{Picked, VIRTUAL_NODES};
pub use config::ClientConfig;
pub use discover::ServiceHandle;
pub use error::{Error, Result};
pub use register::Registration;

use crate::{DEFAULT_GROUP, NewInstance, ServiceId};
use http::Transport;

/// What the client, its registrations and its watch tasks share.
pub(crate) struct Shared {
    pub(crate) config: ClientConfig,
    pub(crate) transport: Transport,
    pub(crate) snapshots: Option<SnapshotDir>,
}

/// A registry client: registers instances and keeps them alive, discovers services and keeps
/// their instance lists current.
///
/// Share it behind an `Arc`. [`close`](Self::close) deregisters every live registration and
/// stops the watches; dropping the client stops the watches only (each [`Registration`] lives
/// until it is deregistered or dropped).
pub struct RegistryClient {
    shared: Arc<Shared>,
    /// Cancels every watch task.
    stop: CancellationToken,
    services: Mutex<HashMap<(String, String), ServiceHandle>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    registrations: Mutex<Vec<Weak<register::State>>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("servers", &self.shared.config.servers)
            .field("tenant", &self.shared.config.tenant())
            .field("services", &lock(&self.services).len())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Validates `config` and prepares the connections (nothing is sent yet).
    pub fn new(config: ClientConfig) -> Result<Self> {
        config.validate()?;
        let shared = Arc::new(Shared {
            transport: Transport::new(&config)?,
            snapshots: config.snapshot_dir.clone().map(SnapshotDir::new),
            config,
        });
        Ok(RegistryClient {
            shared,
            stop: CancellationToken::new(),
            services: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            registrations: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// The settings the client runs with.
    pub fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    /// Registers an instance (in the client's tenant, with its token) and, for an ephemeral
    /// one, heartbeats for it until the [`Registration`] ends. Fails when no server answers
    /// or the registry refuses the request (the error says which field is wrong).
    pub async fn register(&self, instance: NewInstance) -> Result<Registration> {
        self.check_open()?;
        let registration = Registration::start(Arc::clone(&self.shared), instance).await?;
        {
            let mut registrations = lock(&self.registrations);
            registrations.retain(|r| r.strong_count() > 0);
            registrations.push(Arc::downgrade(registration.state()));
        }
        // close() ran while the request was in flight: it did not see this one.
        if self.closed.load(Ordering::Acquire) {
            registration.deregister().await?;
            return Err(Error::Closed);
        }
        Ok(registration)
    }

    /// A service's instances (UP and healthy ones; the protect threshold may add unhealthy
    /// ones, marked `healthy: false`), kept current in the background. `group` defaults to
    /// `DEFAULT_GROUP`. Discovering a service again returns the same cache.
    ///
    /// When no server answers, the service starts from its snapshot (a warning is logged and
    /// [`ServiceHandle::from_snapshot`] is true); without one this fails with
    /// [`Error::NoSource`]. A service nobody registered yet is an empty list, not an error.
    pub async fn discover(&self, service: &str, group: Option<&str>) -> Result<ServiceHandle> {
        self.check_open()?;
        let group = group.unwrap_or(DEFAULT_GROUP);
        let id = ServiceId::new(self.shared.config.tenant(), group, service);
        // The names become URL segments and snapshot paths: check them before either.
        id.validate().map_err(|e| Error::Invalid(e.to_string()))?;
        let key = (group.to_owned(), service.to_owned());
        if let Some(handle) = lock(&self.services).get(&key) {
            return Ok(handle.clone());
        }
        let loaded = discover::load(&self.shared, id).await?;
        let mut services = lock(&self.services);
        // Another call for the same service finished first: share its cache.
        if let Some(handle) = services.get(&key) {
            return Ok(handle.clone());
        }
        // Checked under the lock close() does not need: a task spawned after close() gets an
        // already-cancelled token and ends at once.
        self.check_open()?;
        services.insert(key, loaded.clone());
        let task = tokio::spawn(discover::follow(
            Arc::clone(&self.shared),
            loaded.clone(),
            self.stop.child_token(),
        ));
        lock(&self.tasks).push(task);
        Ok(loaded)
    }

    /// Deregisters every live registration, stops the watches and waits for them. Handles
    /// keep serving the last lists. Idempotent; later registrations and discoveries fail with
    /// [`Error::Closed`]. Returns the first deregistration failure (each is logged; the
    /// instance expires after its `deleteTimeout` anyway).
    pub async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop.cancel();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            // The tasks only end by seeing `stop`; a JoinError would be a panic already logged.
            let _ = task.await;
        }
        let live: Vec<Arc<register::State>> = std::mem::take(&mut *lock(&self.registrations))
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let results =
            futures_util::future::join_all(live.iter().map(|state| state.deregister())).await;
        let mut first = None;
        for result in results {
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot deregister an instance while closing the registry client");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }
}

impl Drop for RegistryClient {
    fn drop(&mut self) {
        // The watch tasks end at their next await; registrations belong to their handles.
        self.stop.cancel();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every guarded value is updated in one step: a panic elsewhere leaves it consistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applications share the client and its handles across tasks and threads.
    #[test]
    fn the_client_and_its_handles_are_send_and_sync() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<RegistryClient>();
        shareable::<Registration>();
        shareable::<ServiceHandle>();
        shareable::<Picked>();
        shareable::<Error>();
    }

    #[tokio::test]
    async fn bad_names_and_a_closed_client_are_refused_before_any_request() {
        let client = RegistryClient::new(ClientConfig {
            servers: vec!["http://127.0.0.1:9".into()],
            ..ClientConfig::default()
        })
        .unwrap();
        let err = client.discover("a/b", None).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(m) if m.contains("serviceName")),
            "{err}"
        );
        // Nothing answers on port 9 and there is no snapshot_dir.
        let err = client.discover("orders", None).await.unwrap_err();
        assert!(
            matches!(&err, Error::NoSource(m) if m.contains("snapshot_dir is not set")),
            "{err}"
        );
        client.close().await.unwrap();
        client.close().await.unwrap();
        assert!(matches!(
            client.discover("orders", None).await,
            Err(Error::Closed)
        ));
        assert!(matches!(
            RegistryClient::new(ClientConfig::default()),
            Err(Error::Config(_))
        ));
    }
}
