//! [`Registry`]: the domain over the live view (coord), the store (database) and the health
//! checker.
//!
//! - `instances`: register, heartbeat, status, health, deregister;
//! - `discovery`: instance lists with filters and the protect threshold, waits for changes;
//! - `catalog`: services and groups (database first, then mirrored into coord for every view);
//! - `sync`: a node's start-up reconciliation of coord with the database;
//! - `checks`: which instances this node probes, and recording what the probes decide;
//! - `publish`: change events to keel-mq, by one node of the cluster at a time.

mod catalog;
mod checks;
mod discovery;
mod instances;
mod publish;
mod sync;

pub use discovery::{Discovery, InstanceFilter, Stats};
pub use instances::Registered;

use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::health::{CheckerConfig, HealthChecker};
use crate::view::View;
use crate::{RegistryStore, Result};

/// The topic change events are published to (JSON [`ChangeEvent`](crate::ChangeEvent), keyed
/// by `tenant/group/service`).
pub const CHANGE_TOPIC: &str = "keel.registry.changes";

/// How long a write waits for this node's view to show it before answering.
const READ_YOUR_WRITE: Duration = Duration::from_secs(2);

/// What a node of the registry is built from.
pub struct Dependencies {
    /// Services, groups and persistent instances.
    pub store: RegistryStore,
    /// Live instances, heartbeats (leases), and every node's view.
    pub coord: Arc<dyn keel_coord::Provider>,
    /// Where change events go; `None` publishes none.
    pub events: Option<Arc<dyn keel_mq::Provider>>,
}

impl std::fmt::Debug for Dependencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependencies")
            .field("events", &self.events.is_some())
            .finish_non_exhaustive()
    }
}

/// Settings of a registry node.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// This node's name among the registry's nodes (health checks are sharded by it); unique
    /// in the cluster.
    pub node: String,
    /// Pacing and thresholds of active health checks.
    pub checker: CheckerConfig,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            node: format!("node-{}", uuid::Uuid::now_v7().as_simple()),
            checker: CheckerConfig::default(),
        }
    }
}

/// The registry's domain; one per node, shared by the HTTP handlers.
pub struct Registry {
    store: RegistryStore,
    coord: Arc<dyn keel_coord::Provider>,
    view: Arc<View>,
    checker: HealthChecker,
    /// Names of the live registry nodes (this one included), sorted.
    nodes: watch::Receiver<Vec<String>>,
    node: String,
    stop: CancellationToken,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("node", &self.node)
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Starts a node: reconciles coord with the database, builds the view, joins the node
    /// list, and starts the health checker and the event publisher. Background work stops
    /// with [`Registry::close`] or when the registry is dropped.
    pub async fn start(
        ctx: &Context,
        deps: Dependencies,
        config: RegistryConfig,
    ) -> Result<Arc<Registry>> {
        crate::validate_name("node", &config.node)?;
        if let Some(mq) = &deps.events {
            match mq.create_topic(ctx, CHANGE_TOPIC, 8).await {
                Ok(()) | Err(keel_mq::Error::TopicExists(_)) => {}
                Err(e) => {
                    return Err(crate::Error::Unavailable(format!(
                        "creating the change event topic {CHANGE_TOPIC}: {e}"
                    )));
                }
            }
        }
        let stop = CancellationToken::new();
        sync::mirror_database(ctx, &deps.store, deps.coord.as_ref()).await?;
        let view = View::start(ctx, Arc::clone(&deps.coord), stop.child_token()).await?;
        let nodes = checks::join_nodes(ctx, &deps.coord, &config.node, stop.child_token()).await?;
        let (checker, flips) = HealthChecker::start(config.checker);
        let registry = Arc::new(Registry {
            store: deps.store,
            coord: deps.coord,
            view,
            checker,
            nodes,
            node: config.node,
            stop,
        });
        checks::spawn(
            Arc::downgrade(&registry),
            flips,
            registry.stop.child_token(),
        );
        if let Some(mq) = deps.events {
            publish::spawn(&registry, mq, registry.stop.child_token());
        }
        Ok(registry)
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The live registry nodes, sorted.
    pub fn nodes(&self) -> Vec<String> {
        self.nodes.borrow().clone()
    }

    /// The store the registry writes to.
    pub fn store(&self) -> &RegistryStore {
        &self.store
    }

    /// Whether the node's dependencies answer (for `/ready`).
    pub async fn ready(&self, ctx: &Context) -> Result<()> {
        self.coord.get(ctx, "/keel/registry-ready-probe").await?;
        self.store.db().health(ctx).await?;
        Ok(())
    }

    /// Stops background work (checks, publishing, the view, the node's membership).
    /// Instances stay registered: they live in the store, not in this node. Idempotent.
    pub async fn close(&self) {
        self.stop.cancel();
        self.checker.close().await;
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
