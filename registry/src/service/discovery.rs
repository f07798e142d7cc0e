//! Discovery: a service's instances through filters and the protect threshold, waits for a
//! service's next revision, change-event subscriptions, and statistics — all from the view.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::Registry;
use crate::view::{ChangeEvent, ServiceState};
use crate::{Error, InstanceStatus, InstanceView, LoadBalance, Result, ServiceId};

/// Which instances a discovery query wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFilter {
    /// Statuses to include; empty includes every status. Default: `UP` only.
    pub statuses: Vec<InstanceStatus>,
    /// `Some(true)`: healthy only (the default, subject to the protect threshold);
    /// `Some(false)`: unhealthy only; `None`: both.
    pub healthy: Option<bool>,
    /// Tags every instance must carry.
    pub tags: Vec<String>,
    /// Metadata entries every instance must have.
    pub metadata: BTreeMap<String, String>,
}

impl Default for InstanceFilter {
    fn default() -> Self {
        InstanceFilter {
            statuses: vec![InstanceStatus::Up],
            healthy: Some(true),
            tags: Vec::new(),
            metadata: BTreeMap::new(),
        }
    }
}

impl InstanceFilter {
    fn admits_record(&self, view: &InstanceView) -> bool {
        let i = &view.instance;
        (self.statuses.is_empty() || self.statuses.contains(&i.status))
            && self.tags.iter().all(|t| i.tags.contains(t))
            && self
                .metadata
                .iter()
                .all(|(k, v)| i.metadata.get(k) == Some(v))
    }
}

/// A service's instances as a discovery query answers them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    /// The service.
    #[serde(flatten)]
    pub service: ServiceId,
    /// The service's revision; pass it back to wait for the next change.
    pub revision: i64,
    /// The healthy share fell below the protect threshold, so unhealthy instances are
    /// included (each marked `healthy: false`) rather than overloading the healthy few.
    pub protect_threshold_triggered: bool,
    /// The service's default load-balancing strategy.
    pub load_balance: LoadBalance,
    /// The instances, sorted by id.
    pub instances: Vec<InstanceView>,
}

/// Counts over everything this node's view holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Tenants with at least one service or instance.
    pub tenants: usize,
    /// Services (with settings or instances).
    pub services: usize,
    /// Instances.
    pub instances: usize,
    /// Healthy instances.
    pub healthy: usize,
    /// Unhealthy instances.
    pub unhealthy: usize,
    /// Ephemeral instances.
    pub ephemeral: usize,
    /// Persistent instances.
    pub persistent: usize,
    /// Instances by status.
    pub by_status: BTreeMap<String, usize>,
    /// Instances by health-check type.
    pub by_check: BTreeMap<String, usize>,
    /// The store revision the view has applied.
    pub revision: i64,
    /// Live registry nodes.
    pub nodes: usize,
}

impl Registry {
    /// The instances of `service` that `filter` admits.
    pub fn discover(&self, service: &ServiceId, filter: &InstanceFilter) -> Result<Discovery> {
        service.validate()?;
        let state = self.view.read();
        let Some(s) = state.services.get(service) else {
            return Ok(Discovery {
                service: service.clone(),
                revision: state.revision,
                protect_threshold_triggered: false,
                load_balance: LoadBalance::default(),
                instances: Vec::new(),
            });
        };
        Ok(answer(service, s, filter))
    }

    /// The service's revision now (the store's revision for a service nobody registered).
    pub fn revision_of(&self, service: &ServiceId) -> Result<i64> {
        service.validate()?;
        let state = self.view.read();
        Ok(state
            .services
            .get(service)
            .map_or(state.revision, |s| s.revision))
    }

    /// The instances `filter` admits, encoded by `encode`. The answer to the default filter
    /// is encoded once per revision and shared: discovery is the hottest read there is.
    pub fn discover_encoded(
        &self,
        service: &ServiceId,
        filter: &InstanceFilter,
        encode: impl FnOnce(&Discovery) -> Bytes,
    ) -> Result<Bytes> {
        service.validate()?;
        if *filter == InstanceFilter::default() {
            let state = self.view.read();
            if let Some(s) = state.services.get(service) {
                return Ok(s
                    .default_answer
                    .get_or_init(|| encode(&answer(service, s, filter)))
                    .clone());
            }
        }
        Ok(encode(&self.discover(service, filter)?))
    }

    /// Waits until `service`'s revision differs from `revision` or `wait` passes; answers
    /// whether it changed. A service nobody registered yet can be waited on too.
    pub async fn wait_for_change(
        &self,
        service: &ServiceId,
        revision: i64,
        wait: Duration,
    ) -> Result<bool> {
        service.validate()?;
        // Most watchers wait on a service that exists: a read lock will do. Only the first
        // watcher of an unknown service takes the write lock to create its entry.
        let existing = {
            let state = self.view.read();
            state.services.get(service).map(|s| s.notify.subscribe())
        };
        let mut rx = match existing {
            Some(rx) => rx,
            None => {
                let mut state = self.view.write();
                state.service_mut(service).notify.subscribe()
            }
        };
        let changed = tokio::time::timeout(wait, rx.wait_for(|now| *now != revision)).await;
        Ok(match changed {
            Ok(Ok(_)) => true,
            // The entry went away (emptied and swept): that is a change too.
            Ok(Err(_)) => true,
            Err(_) => false,
        })
    }

    /// The instances now plus every later change event of `service`.
    pub fn subscribe(
        &self,
        service: &ServiceId,
        filter: &InstanceFilter,
    ) -> Result<(Discovery, broadcast::Receiver<Arc<ChangeEvent>>)> {
        service.validate()?;
        let mut state = self.view.write();
        let s = state.service_mut(service);
        let rx = s.events.subscribe();
        Ok((answer(service, s, filter), rx))
    }

    /// Counts over the whole view (every tenant).
    pub fn stats(&self) -> Stats {
        let state = self.view.read();
        let mut stats = Stats {
            revision: state.revision,
            nodes: self.nodes.borrow().len(),
            ..Stats::default()
        };
        let mut tenants = std::collections::HashSet::new();
        for (id, s) in &state.services {
            if s.settings.is_none() && s.instances.is_empty() {
                continue;
            }
            tenants.insert(id.tenant.as_str());
            stats.services += 1;
            for entry in s.instances.values() {
                let i = &entry.instance;
                stats.instances += 1;
                if s.healthy(entry) {
                    stats.healthy += 1;
                } else {
                    stats.unhealthy += 1;
                }
                if i.ephemeral {
                    stats.ephemeral += 1;
                } else {
                    stats.persistent += 1;
                }
                *stats
                    .by_status
                    .entry(i.status.as_str().to_owned())
                    .or_default() += 1;
                *stats
                    .by_check
                    .entry(i.health_check.kind.as_str().to_owned())
                    .or_default() += 1;
            }
        }
        stats.tenants = tenants.len();
        stats
    }

    /// Instance counts per service of a tenant (for service listings).
    pub fn instance_counts(&self, tenant: &str) -> BTreeMap<(String, String), (usize, usize)> {
        let state = self.view.read();
        state
            .services
            .iter()
            .filter(|(id, _)| id.tenant == tenant)
            .map(|(id, s)| {
                let healthy = s.instances.values().filter(|e| s.healthy(e)).count();
                (
                    (id.group.clone(), id.service.clone()),
                    (s.instances.len(), healthy),
                )
            })
            .collect()
    }

    /// Fails with NotFound unless the service exists (settings or instances).
    pub fn require_service(&self, service: &ServiceId) -> Result<()> {
        let state = self.view.read();
        match state.services.get(service) {
            Some(s) if s.settings.is_some() || !s.instances.is_empty() => Ok(()),
            _ => Err(Error::NotFound(format!(
                "service {:?} does not exist in group {:?}",
                service.service, service.group
            ))),
        }
    }
}

fn answer(service: &ServiceId, s: &ServiceState, filter: &InstanceFilter) -> Discovery {
    let candidates: Vec<InstanceView> = s
        .instances
        .values()
        .map(|e| s.view_of(e))
        .filter(|v| filter.admits_record(v))
        .collect();
    let threshold = s.settings.as_ref().map_or(0.0, |st| st.protect_threshold);
    let mut triggered = false;
    let instances = match filter.healthy {
        None => candidates,
        Some(false) => candidates.into_iter().filter(|v| !v.healthy).collect(),
        Some(true) => {
            let healthy = candidates.iter().filter(|v| v.healthy).count();
            let total = candidates.len();
            if total > 0 && (healthy as f64) < threshold * total as f64 {
                triggered = true;
                candidates
            } else {
                candidates.into_iter().filter(|v| v.healthy).collect()
            }
        }
    };
    Discovery {
        service: service.clone(),
        revision: s.revision,
        protect_threshold_triggered: triggered,
        load_balance: s
            .settings
            .as_ref()
            .map_or(LoadBalance::default(), |st| st.load_balance),
        instances,
    }
}
