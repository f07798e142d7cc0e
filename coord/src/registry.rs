//! The kit-level service registry: instances announce themselves under a lease and disappear
//! when they stop renewing it; clients discover and watch them.
//!
//! Layout: `/services/{service}/{instance id}` → JSON [`ServiceInstance`], attached to the
//! instance's lease.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;
use serde::{Deserialize, Serialize};

use crate::lease::Lease;
use crate::lock::check_name;
use crate::provider::{Provider, ProviderExt, StartAt};
use crate::watch::Watcher;
use crate::{Error, LeaseLoss, Result};

/// Where instances live.
pub const SERVICES_PREFIX: &str = "/services/";

/// One running instance of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInstance {
    /// The service name, `[A-Za-z0-9._-]{1,128}`.
    pub service: String,
    /// Unique within the service, `[A-Za-z0-9._-]{1,128}`.
    pub id: String,
    /// Where to reach it (`host:port`, a URL, ...).
    pub address: String,
    /// Free-form labels.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// Registers, discovers and watches service instances.
#[derive(Clone)]
pub struct ServiceRegistry {
    coord: Arc<dyn Provider>,
}

/// A live registration. Deregister with [`Registration::deregister`]; dropping it deregisters
/// too. If the lease is lost, [`Registration::lost`] fires — register again.
pub struct Registration {
    key: String,
    lease: Lease,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.key)
            .finish()
    }
}

/// Instance lists of one service, one per change.
pub struct ServiceWatch {
    watcher: Watcher,
    instances: BTreeMap<String, ServiceInstance>,
    /// The first `next` answers with the listing at once.
    delivered_initial: bool,
}

fn prefix_of(service: &str) -> String {
    format!("{SERVICES_PREFIX}{service}/")
}

impl ServiceRegistry {
    /// A registry on `coord`.
    pub fn new(coord: Arc<dyn Provider>) -> Self {
        ServiceRegistry { coord }
    }

    /// Announces `instance` for as long as the returned registration lives; it disappears
    /// `ttl` after its process dies.
    pub async fn register(
        &self,
        ctx: &Context,
        instance: &ServiceInstance,
        ttl: Duration,
    ) -> Result<Registration> {
        check_name("service", &instance.service)?;
        check_name("instance id", &instance.id)?;
        if instance.address.is_empty() {
            return Err(Error::InvalidKey {
                key: instance.id.clone(),
                reason: "address must not be empty",
            });
        }
        let lease = self.coord.grant_lease(ctx, ttl).await?;
        let key = format!("{}{}", prefix_of(&instance.service), instance.id);
        self.coord
            .put_json(ctx, &key, instance, Some(lease.id()))
            .await?;
        Ok(Registration { key, lease })
    }

    /// The live instances of `service`, sorted by id.
    pub async fn discover(&self, ctx: &Context, service: &str) -> Result<Vec<ServiceInstance>> {
        check_name("service", service)?;
        let listing = self.coord.list(ctx, &prefix_of(service)).await?;
        Ok(
            decode_all(listing.kvs.into_iter().map(|kv| (kv.key, kv.value)))
                .into_values()
                .collect(),
        )
    }

    /// Follows `service`: the first [`ServiceWatch::next`] returns the current instances, each
    /// later one the instances after a change.
    pub async fn watch(&self, ctx: &Context, service: &str) -> Result<ServiceWatch> {
        check_name("service", service)?;
        let prefix = prefix_of(service);
        let listing = self.coord.list(ctx, &prefix).await?;
        let watcher = self
            .coord
            .watch(ctx, &prefix, true, StartAt::Revision(listing.revision + 1))
            .await?;
        Ok(ServiceWatch {
            watcher,
            instances: decode_all(listing.kvs.into_iter().map(|kv| (kv.key, kv.value))),
            delivered_initial: false,
        })
    }
}

fn decode_all(
    entries: impl Iterator<Item = (String, Vec<u8>)>,
) -> BTreeMap<String, ServiceInstance> {
    entries
        .filter_map(
            |(key, value)| match serde_json::from_slice::<ServiceInstance>(&value) {
                Ok(instance) => Some((key, instance)),
                Err(err) => {
                    tracing::warn!(key, %err, "skipping a malformed service instance");
                    None
                }
            },
        )
        .collect()
}

impl ServiceWatch {
    /// The instances as they are now (first call) or after the next change; `None` when the
    /// provider closed.
    pub async fn next(&mut self) -> Option<Vec<ServiceInstance>> {
        if !self.delivered_initial {
            self.delivered_initial = true;
            return Some(self.current());
        }
        let batch = self.watcher.next_batch().await?;
        for event in batch {
            match event.kind {
                crate::EventKind::Put => {
                    self.instances
                        .extend(decode_all(std::iter::once((event.kv.key, event.kv.value))));
                }
                crate::EventKind::Delete => {
                    self.instances.remove(&event.kv.key);
                }
            }
        }
        Some(self.instances.values().cloned().collect())
    }

    /// The instances as last seen, without waiting.
    pub fn current(&self) -> Vec<ServiceInstance> {
        self.instances.values().cloned().collect()
    }
}

impl Registration {
    /// Whether the registration is alive.
    pub fn is_alive(&self) -> bool {
        self.lease.is_alive()
    }

    /// Resolves when the lease is lost and the instance has (or will have) disappeared.
    pub async fn lost(&self) -> LeaseLoss {
        self.lease.lost().await
    }

    /// Removes the instance now. Only the lease is revoked — the key goes with it — never the
    /// key by name: a newer registration of the same instance id (a restart) must stay.
    pub async fn deregister(self, _ctx: &Context) -> Result<()> {
        self.lease.revoke().await
    }
}
