//! The registry's live state as one node sees it, and how a revision's key changes turn into
//! per-service change events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;

use keel_coord::{EventKind, KeyValue, LeaseId, WatchEvent};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::keys::{self, RegistryKey};
use crate::{CheckKind, Group, HealthStatus, Instance, InstanceView, Service, ServiceId};

/// Change events kept for a slow SSE subscriber of one service before it must re-read.
const SERVICE_EVENT_BACKLOG: usize = 256;

/// What changed in one service at one revision.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    /// The service.
    #[serde(flatten)]
    pub service: ServiceId,
    /// The service's revision after the change.
    pub revision: i64,
    /// Instances that appeared.
    pub added: Vec<InstanceView>,
    /// Instances that disappeared (deregistered, expired or deleted), as last seen.
    pub removed: Vec<InstanceView>,
    /// Instances whose record or health changed, as they are now.
    pub modified: Vec<InstanceView>,
}

/// One instance record with what the store says about it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) instance: Arc<Instance>,
    /// The lease the record is attached to (0 for persistent instances).
    pub(crate) lease: LeaseId,
    /// For compare-and-set updates.
    pub(crate) mod_revision: i64,
}

/// One service: settings, instances, heartbeat markers and its revision.
#[derive(Debug)]
pub(crate) struct ServiceState {
    pub(crate) settings: Option<Arc<Service>>,
    pub(crate) instances: BTreeMap<String, Entry>,
    /// Heartbeat markers present: instance id → the marker's lease.
    pub(crate) beats: HashMap<String, LeaseId>,
    /// Bumped by every change to this service only.
    pub(crate) revision: i64,
    /// Wakes long polls; carries the revision.
    pub(crate) notify: watch::Sender<i64>,
    /// Change events for stream subscribers.
    pub(crate) events: broadcast::Sender<Arc<ChangeEvent>>,
    /// The serialized answer to the default discovery query at this revision: most clients
    /// ask exactly that, over and over, and it changes only when the revision does.
    pub(crate) default_answer: OnceLock<Bytes>,
}

impl ServiceState {
    fn new(revision: i64) -> Self {
        ServiceState {
            settings: None,
            instances: BTreeMap::new(),
            beats: HashMap::new(),
            revision,
            notify: watch::Sender::new(revision),
            events: broadcast::Sender::new(SERVICE_EVENT_BACKLOG),
            default_answer: OnceLock::new(),
        }
    }

    /// Whether the instance is healthy now.
    pub(crate) fn healthy(&self, entry: &Entry) -> bool {
        match entry.instance.health_check.kind {
            CheckKind::Ttl => self.beats.contains_key(&entry.instance.instance_id),
            _ => entry.instance.checked_health == HealthStatus::Healthy,
        }
    }

    /// The instance as discovery shows it.
    pub(crate) fn view_of(&self, entry: &Entry) -> InstanceView {
        let healthy = self.healthy(entry);
        InstanceView {
            instance: (*entry.instance).clone(),
            healthy,
            health_status: HealthStatus::from_bool(healthy),
        }
    }

    /// Nothing here and nobody listening: the entry can go.
    fn is_idle(&self) -> bool {
        self.settings.is_none()
            && self.instances.is_empty()
            && self.beats.is_empty()
            && self.notify.receiver_count() == 0
            && self.events.receiver_count() == 0
    }
}

/// What a heartbeat needs to know about an instance, found with one lookup by id.
#[derive(Debug, Clone)]
pub(crate) struct Beatable {
    /// The instance's service (its tenant is checked against the caller's).
    pub(crate) service: Arc<ServiceId>,
    /// The record's lease (0 for persistent instances).
    pub(crate) lease: LeaseId,
    /// The heartbeat marker's lease, while the marker exists.
    pub(crate) marker: Option<LeaseId>,
    pub(crate) ephemeral: bool,
    pub(crate) kind: CheckKind,
    pub(crate) interval: Duration,
    pub(crate) unhealthy_timeout: Duration,
}

/// Every service, group and instance this node knows of.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) services: HashMap<ServiceId, ServiceState>,
    /// Instance id → what heartbeats and lookups by id need (ids are unique across tenants:
    /// the tenant is hashed in). foldhash, seeded per process: this map is read on every
    /// heartbeat, and its keys are UUIDs the server derives, not strings a client picks.
    pub(crate) ids: HashMap<String, Beatable, foldhash::fast::RandomState>,
    pub(crate) groups: HashMap<(String, String), Arc<Group>>,
    /// The store revision applied last.
    pub(crate) revision: i64,
}

impl State {
    /// The state of `service`, created (empty, at the current revision) when absent so that
    /// a watcher can wait for a service nobody registered yet.
    pub(crate) fn service_mut(&mut self, service: &ServiceId) -> &mut ServiceState {
        let revision = self.revision;
        self.services
            .entry(service.clone())
            .or_insert_with(|| ServiceState::new(revision))
    }

    /// Builds the state from a listing.
    pub(crate) fn from_listing(kvs: Vec<KeyValue>, revision: i64) -> Self {
        let mut state = State {
            revision,
            ..State::default()
        };
        for kv in kvs {
            state.put(kv);
        }
        state
    }

    /// Applies the events of one revision; returns a change event per service whose instances
    /// changed (settings changes wake watchers too but carry no instance diff).
    pub(crate) fn apply(&mut self, events: Vec<WatchEvent>) -> Vec<Arc<ChangeEvent>> {
        let Some(revision) = events.iter().map(WatchEvent::revision).max() else {
            return Vec::new();
        };
        // What each touched service's instances looked like before.
        let mut touched: HashMap<ServiceId, HashMap<String, Option<InstanceView>>> = HashMap::new();
        let mut settings_changed: HashSet<ServiceId> = HashSet::new();
        for event in &events {
            match keys::parse(&event.kv.key) {
                Some(RegistryKey::Instance(s, id)) | Some(RegistryKey::Beat(s, id)) => {
                    let before = self.current_view(&s, &id);
                    touched.entry(s).or_default().entry(id).or_insert(before);
                }
                Some(RegistryKey::Service(s)) => {
                    settings_changed.insert(s);
                }
                _ => {}
            }
        }
        for event in events {
            match event.kind {
                EventKind::Put => self.put(event.kv),
                EventKind::Delete => self.delete(&event.kv.key),
            }
        }
        self.revision = self.revision.max(revision);
        let mut changes = Vec::new();
        for (service, ids) in touched {
            let mut change = ChangeEvent {
                service: service.clone(),
                revision,
                added: Vec::new(),
                removed: Vec::new(),
                modified: Vec::new(),
            };
            for (id, before) in ids {
                let after = self.current_view(&service, &id);
                match (before, after) {
                    (None, Some(now)) => change.added.push(now),
                    (Some(was), None) => change.removed.push(was),
                    (Some(was), Some(now)) if was != now => change.modified.push(now),
                    _ => {}
                }
            }
            settings_changed.remove(&service);
            if change.added.is_empty() && change.removed.is_empty() && change.modified.is_empty() {
                continue;
            }
            let change = Arc::new(change);
            self.bump(&service, revision, Some(&change));
            changes.push(change);
        }
        for service in settings_changed {
            self.bump(&service, revision, None);
        }
        changes
    }

    fn bump(&mut self, service: &ServiceId, revision: i64, change: Option<&Arc<ChangeEvent>>) {
        let state = self.service_mut(service);
        state.revision = revision;
        state.default_answer = OnceLock::new();
        state.notify.send_replace(revision);
        if let Some(change) = change {
            // No subscriber is fine: long polls read the revision instead.
            let _ = state.events.send(Arc::clone(change));
        }
        if state.is_idle() {
            self.services.remove(service);
        }
    }

    fn current_view(&self, service: &ServiceId, id: &str) -> Option<InstanceView> {
        let state = self.services.get(service)?;
        state.instances.get(id).map(|e| state.view_of(e))
    }

    fn put(&mut self, kv: KeyValue) {
        match keys::parse(&kv.key) {
            Some(RegistryKey::Instance(service, id)) => {
                match serde_json::from_slice::<Instance>(&kv.value) {
                    Ok(instance) => {
                        let marker = self
                            .services
                            .get(&service)
                            .and_then(|s| s.beats.get(&id).copied());
                        let check = &instance.health_check;
                        let beatable = Beatable {
                            service: Arc::new(service.clone()),
                            lease: kv.lease,
                            marker,
                            ephemeral: instance.ephemeral,
                            kind: check.kind,
                            interval: check.interval(),
                            unhealthy_timeout: check.unhealthy_timeout(),
                        };
                        self.ids.insert(id.clone(), beatable);
                        let entry = Entry {
                            instance: Arc::new(instance),
                            lease: kv.lease,
                            mod_revision: kv.mod_revision,
                        };
                        self.service_mut(&service).instances.insert(id, entry);
                    }
                    Err(err) => tracing::warn!(key = kv.key, %err, "skipping a malformed instance"),
                }
            }
            Some(RegistryKey::Beat(service, id)) => {
                if let Some(b) = self.ids.get_mut(&id).filter(|b| *b.service == service) {
                    b.marker = Some(kv.lease);
                }
                self.service_mut(&service).beats.insert(id, kv.lease);
            }
            Some(RegistryKey::Service(service)) => {
                match serde_json::from_slice::<Service>(&kv.value) {
                    Ok(settings) => self.service_mut(&service).settings = Some(Arc::new(settings)),
                    Err(err) => {
                        tracing::warn!(key = kv.key, %err, "skipping malformed service settings")
                    }
                }
            }
            Some(RegistryKey::Group(tenant, group)) => {
                match serde_json::from_slice::<Group>(&kv.value) {
                    Ok(g) => {
                        self.groups.insert((tenant, group), Arc::new(g));
                    }
                    Err(err) => {
                        tracing::warn!(key = kv.key, %err, "skipping malformed group settings")
                    }
                }
            }
            None => {}
        }
    }

    fn delete(&mut self, key: &str) {
        match keys::parse(key) {
            Some(RegistryKey::Instance(service, id)) => {
                if let Some(state) = self.services.get_mut(&service) {
                    state.instances.remove(&id);
                }
                if self.ids.get(&id).is_some_and(|b| *b.service == service) {
                    self.ids.remove(&id);
                }
            }
            Some(RegistryKey::Beat(service, id)) => {
                if let Some(state) = self.services.get_mut(&service) {
                    state.beats.remove(&id);
                }
                if let Some(b) = self.ids.get_mut(&id).filter(|b| *b.service == service) {
                    b.marker = None;
                }
            }
            Some(RegistryKey::Service(service)) => {
                if let Some(state) = self.services.get_mut(&service) {
                    state.settings = None;
                }
            }
            Some(RegistryKey::Group(tenant, group)) => {
                self.groups.remove(&(tenant, group));
            }
            None => {}
        }
    }
}
