//! Active health checks in a cluster: every node joins a node list in coord, and each
//! instance with an `http` or `tcp` check is probed by exactly one live node, chosen by
//! rendezvous hashing of the instance id over the node names — when a node dies its share
//! moves to the others, and only its share moves. The probes' flips are written to the
//! instance records, where every view sees them.

use std::sync::{Arc, Weak};
use std::time::Duration;

use keel_clog::Context;
use keel_coord::{ServiceInstance, ServiceRegistry};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::Registry;
use crate::health::{HealthFlip, ProbeTarget, owner};
use crate::{HealthStatus, Result};

/// The coord service registry entry every registry node keeps alive.
const NODES_SERVICE: &str = "keel-registry-nodes";
/// A dead node stops owning checks this long after its last keep-alive.
const NODE_TTL: Duration = Duration::from_secs(10);
/// The probe set is recomputed at most this often while instances change.
const RETARGET_EVERY: Duration = Duration::from_secs(1);
/// How often the instance gauges are refreshed.
const GAUGES_EVERY: Duration = Duration::from_secs(5);

/// Registers this node and follows the node list (sorted names, this node always included).
pub(super) async fn join_nodes(
    ctx: &Context,
    coord: &Arc<dyn keel_coord::Provider>,
    node: &str,
    stop: CancellationToken,
) -> Result<watch::Receiver<Vec<String>>> {
    let registry = ServiceRegistry::new(Arc::clone(coord));
    let me = ServiceInstance {
        service: NODES_SERVICE.into(),
        id: node.to_owned(),
        address: node.to_owned(),
        metadata: Default::default(),
    };
    let registration = registry.register(ctx, &me, NODE_TTL).await?;
    let mut nodes_watch = registry.watch(ctx, NODES_SERVICE).await?;
    let (tx, rx) = watch::channel(vec![node.to_owned()]);
    let node = node.to_owned();
    tokio::spawn(async move {
        let mut registration = Some(registration);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                lost = async {
                    match &registration { Some(r) => r.lost().await, None => std::future::pending().await }
                } => {
                    tracing::warn!(?lost, node, "registry node membership lost; joining again");
                    registration = None;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match registry.register(&Context::new(), &me, NODE_TTL).await {
                        Ok(r) => registration = Some(r),
                        Err(e) => tracing::warn!(error = %e, "registry node could not rejoin; retrying"),
                    }
                }
                listed = nodes_watch.next() => {
                    let Some(listed) = listed else { break };
                    let mut names: Vec<String> = listed.into_iter().map(|i| i.id).collect();
                    if !names.contains(&node) {
                        names.push(node.clone());
                    }
                    names.sort();
                    tx.send_replace(names);
                }
            }
        }
        if let Some(r) = registration {
            let _ = r.deregister(&Context::new()).await;
        }
    });
    Ok(rx)
}

/// Keeps the checker's targets in line with the view and the node list, records flips, and
/// refreshes the instance gauges.
pub(super) fn spawn(
    registry: Weak<Registry>,
    mut flips: mpsc::Receiver<HealthFlip>,
    stop: CancellationToken,
) {
    let Some(strong) = registry.upgrade() else {
        return;
    };
    let mut changes = strong.view.subscribe_all();
    let mut nodes = strong.nodes.clone();
    drop(strong);
    tokio::spawn(async move {
        let mut dirty = true;
        let mut retarget = tokio::time::interval(RETARGET_EVERY);
        let mut gauges = tokio::time::interval(GAUGES_EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                flip = flips.recv() => {
                    let Some(flip) = flip else { return };
                    let Some(registry) = registry.upgrade() else { return };
                    registry.record_flip(flip).await;
                }
                change = changes.recv() => match change {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => dirty = true,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                changed = nodes.changed() => {
                    if changed.is_err() { return }
                    dirty = true;
                }
                _ = retarget.tick() => {
                    if dirty {
                        let Some(registry) = registry.upgrade() else { return };
                        registry.retarget();
                        dirty = false;
                    }
                }
                _ = gauges.tick() => {
                    let Some(registry) = registry.upgrade() else { return };
                    let stats = registry.stats();
                    metrics::gauge!("keel_registry_instances", "health" => "healthy").set(stats.healthy as f64);
                    metrics::gauge!("keel_registry_instances", "health" => "unhealthy").set(stats.unhealthy as f64);
                    metrics::gauge!("keel_registry_services").set(stats.services as f64);
                }
            }
        }
    });
}

impl Registry {
    /// Hands the checker the instances this node owns.
    fn retarget(&self) {
        let nodes = self.nodes.borrow().clone();
        let targets: Vec<ProbeTarget> = {
            let state = self.view.read();
            state
                .services
                .values()
                .flat_map(|s| s.instances.values())
                .filter(|e| e.instance.health_check.kind.is_active())
                .filter(|e| owner(&e.instance.instance_id, &nodes) == Some(self.node.as_str()))
                .filter_map(|e| ProbeTarget::from_instance(&e.instance))
                .collect()
        };
        self.checker.set_targets(targets);
    }

    /// Writes a probe's verdict into the instance record.
    async fn record_flip(&self, flip: HealthFlip) {
        let tenant = {
            let state = self.view.read();
            state
                .ids
                .get(&flip.instance_id)
                .map(|b| b.service.tenant.clone())
        };
        let Some(tenant) = tenant else { return };
        let health = HealthStatus::from_bool(flip.healthy);
        let ctx = Context::new();
        let outcome = self
            .update_record(&ctx, &tenant, &flip.instance_id, |i| {
                i.checked_health = health;
                Ok(())
            })
            .await;
        match outcome {
            Ok(_) => tracing::info!(
                instance = flip.instance_id,
                healthy = flip.healthy,
                detail = flip.detail,
                "health check changed an instance's health"
            ),
            Err(e) => {
                tracing::warn!(instance = flip.instance_id, error = %e, "could not record a health-check result")
            }
        }
    }
}
