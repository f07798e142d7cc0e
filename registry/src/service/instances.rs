//! Instance writes: register (and batch register), heartbeat, status, health, deregister.

use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;
use keel_coord::{Expect, LeaseId};
use serde::Serialize;

use super::{READ_YOUR_WRITE, Registry};
use crate::keys::{beat_key, instance_key};
use crate::view::{Beatable, Entry};
use crate::{
    CheckKind, DEFAULT_GROUP, Error, HealthCheck, HealthStatus, Instance, InstanceStatus,
    InstanceView, NewInstance, Result, Service, ServiceId, instance_id, now_millis, validate_host,
    validate_metadata, validate_port, validate_tags, validate_weight,
};

/// The answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// The instance's id (the same for the same address of the same service).
    pub instance_id: String,
    /// How often an ephemeral instance must heartbeat, in milliseconds (0 for persistent
    /// instances).
    pub heartbeat_interval_millis: u64,
    /// The service's revision after the registration.
    pub revision: i64,
}

/// A validated registration, ready to write.
struct Prepared {
    service: ServiceId,
    host: String,
    port: u16,
    request: NewInstance,
}

impl Registry {
    /// Registers an instance, or updates it when its address is already registered.
    /// `token` is the caller's bearer token, checked against the group's register tokens.
    pub async fn register(
        &self,
        ctx: &Context,
        tenant: &str,
        token: Option<&str>,
        request: NewInstance,
    ) -> Result<Registered> {
        let prepared = self.prepare(tenant, token, request)?;
        self.apply_registration(ctx, prepared).await
    }

    /// Registers several instances (a sidecar or a gateway for many). Every one is checked
    /// before any is written, so a bad entry registers nothing; the writes then happen in order.
    pub async fn register_batch(
        &self,
        ctx: &Context,
        tenant: &str,
        token: Option<&str>,
        requests: Vec<NewInstance>,
    ) -> Result<Vec<Registered>> {
        if requests.is_empty() || requests.len() > 1000 {
            return Err(Error::Invalid(format!(
                "a batch holds 1 to 1000 instances; {} given",
                requests.len()
            )));
        }
        let prepared = requests
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                self.prepare(tenant, token, r).map_err(|e| match e {
                    Error::Invalid(m) => Error::Invalid(format!("instances[{i}]: {m}")),
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut answers = Vec::with_capacity(prepared.len());
        for p in prepared {
            answers.push(self.apply_registration(ctx, p).await?);
        }
        Ok(answers)
    }

    fn prepare(&self, tenant: &str, token: Option<&str>, request: NewInstance) -> Result<Prepared> {
        let group = request.group_name.as_deref().unwrap_or(DEFAULT_GROUP);
        let service = ServiceId::new(tenant, group, &request.service_name);
        service.validate()?;
        validate_host(&request.host)?;
        let port = validate_port(request.port)?;
        validate_weight(request.weight.unwrap_or(1.0))?;
        validate_metadata(&request.metadata)?;
        validate_tags(&request.tags)?;
        if let Some(check) = &request.health_check {
            check.validate(request.ephemeral.unwrap_or(true))?;
        }
        self.check_register_token(tenant, group, token)?;
        Ok(Prepared {
            host: request.host.clone(),
            service,
            port,
            request,
        })
    }

    /// A group with register tokens admits only callers that present one of them.
    fn check_register_token(&self, tenant: &str, group: &str, token: Option<&str>) -> Result<()> {
        let state = self.view.read();
        let Some(g) = state.groups.get(&(tenant.to_owned(), group.to_owned())) else {
            return Ok(());
        };
        if g.register_tokens.is_empty() {
            return Ok(());
        }
        match token {
            Some(t) if g.register_tokens.iter().any(|allowed| allowed == t) => Ok(()),
            Some(_) => Err(Error::Forbidden(format!(
                "the token is not allowed to register into group {group:?}; ask its owner for a register token"
            ))),
            None => Err(Error::Forbidden(format!(
                "group {group:?} accepts registrations only with a register token: send `Authorization: Bearer <token>`"
            ))),
        }
    }

    async fn apply_registration(&self, ctx: &Context, p: Prepared) -> Result<Registered> {
        let settings = self.ensure_service(ctx, &p.service).await?;
        let ephemeral = p.request.ephemeral.unwrap_or(true);
        let check = effective_check(p.request.health_check.clone(), &settings, ephemeral);
        check.validate(ephemeral)?;
        let id = instance_id(&p.service, &p.host, p.port);
        let existing = self.entry(&p.service, &id);
        let now = now_millis();
        let instance = Instance {
            instance_id: id.clone(),
            tenant: p.service.tenant.clone(),
            group_name: p.service.group.clone(),
            service_name: p.service.service.clone(),
            host: p.host,
            port: p.port,
            weight: p.request.weight.unwrap_or(1.0),
            metadata: p.request.metadata,
            tags: p.request.tags,
            ephemeral,
            health_check: check,
            status: InstanceStatus::Up,
            checked_health: existing
                .as_ref()
                .map_or(HealthStatus::Healthy, |e| e.instance.checked_health),
            registered_at: existing.as_ref().map_or(now, |e| e.instance.registered_at),
            updated_at: now,
        };
        let revision = if ephemeral {
            self.write_ephemeral(ctx, &instance, existing.as_ref())
                .await?
        } else {
            self.write_persistent(ctx, &instance, existing.as_ref())
                .await?
        };
        self.view.caught_up(revision, READ_YOUR_WRITE).await;
        metrics::counter!("keel_registry_registrations_total").increment(1);
        Ok(Registered {
            instance_id: id,
            heartbeat_interval_millis: if ephemeral {
                instance.health_check.interval().as_millis() as u64
            } else {
                0
            },
            revision,
        })
    }

    /// An ephemeral instance: its record on a lease of `deleteTimeout`, and for ttl checks a
    /// heartbeat marker on a lease of `unhealthyTimeout`. The marker is written first so that
    /// watchers never see the new instance without it (that would read as unhealthy).
    async fn write_ephemeral(
        &self,
        ctx: &Context,
        instance: &Instance,
        existing: Option<&Entry>,
    ) -> Result<i64> {
        let service = instance.service_id();
        let id = &instance.instance_id;
        let check = &instance.health_check;
        let lease = self
            .reusable_lease(ctx, existing.map_or(0, |e| e.lease), check.delete_timeout())
            .await?;
        let lease = match lease {
            Some(lease) => lease,
            None => {
                self.coord
                    .grant_detached_lease(ctx, check.delete_timeout())
                    .await?
            }
        };
        if check.kind == CheckKind::Ttl {
            let marker = self
                .coord
                .grant_detached_lease(ctx, check.unhealthy_timeout())
                .await?;
            self.coord
                .put(ctx, &beat_key(&service, id), Vec::new(), Some(marker))
                .await?;
        }
        let revision = self
            .coord
            .put(
                ctx,
                &instance_key(&service, id),
                encode(instance)?,
                Some(lease),
            )
            .await?;
        if let Some(old) = existing {
            if old.lease != 0 && old.lease != lease {
                // The record moved to the new lease; the old one guards nothing of ours now.
                let _ = self.coord.revoke_lease(ctx, old.lease).await;
            }
            if old.lease == 0 {
                // It was persistent: the database must forget it.
                self.store
                    .delete_instance(ctx, &instance.tenant, id)
                    .await?;
            }
        }
        Ok(revision)
    }

    /// The current record's lease, renewed, when it is alive and has the wanted TTL.
    async fn reusable_lease(
        &self,
        ctx: &Context,
        lease: LeaseId,
        ttl: Duration,
    ) -> Result<Option<LeaseId>> {
        if lease == 0 {
            return Ok(None);
        }
        let want = Duration::from_secs(ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0));
        let renewed = self.coord.renew_leases(ctx, &[lease]).await?;
        Ok(match renewed.first() {
            Some(Some(granted)) if *granted == want => Some(lease),
            _ => None,
        })
    }

    /// A persistent instance: the database first (what survives), then coord for the views.
    async fn write_persistent(
        &self,
        ctx: &Context,
        instance: &Instance,
        existing: Option<&Entry>,
    ) -> Result<i64> {
        let service = instance.service_id();
        self.store.put_instance(ctx, instance).await?;
        let revision = self
            .coord
            .put(
                ctx,
                &instance_key(&service, &instance.instance_id),
                encode(instance)?,
                None,
            )
            .await?;
        if let Some(old) = existing
            && old.lease != 0
        {
            // It was ephemeral: drop its marker and its lease (the record is off it now).
            let _ = self
                .coord
                .delete(ctx, &beat_key(&service, &instance.instance_id))
                .await;
            let _ = self.coord.revoke_lease(ctx, old.lease).await;
        }
        Ok(revision)
    }

    /// Renews an ephemeral instance's leases; answers the heartbeat interval to keep.
    /// [`Error::UnknownInstance`] tells the client to register again.
    pub async fn heartbeat(&self, ctx: &Context, tenant: &str, id: &str) -> Result<Duration> {
        // The hot path: one lookup by id, two lease renewals, nothing written.
        let target = match self.beat_target(tenant, id) {
            Some(found) => found,
            None => {
                self.view
                    .sync(ctx, self.coord.as_ref(), READ_YOUR_WRITE)
                    .await?;
                self.beat_target(tenant, id)
                    .ok_or_else(|| Error::UnknownInstance(id.to_owned()))?
            }
        };
        if !target.ephemeral {
            return Err(Error::Invalid(format!(
                "instance {id} is persistent: it is not expired, so it sends no heartbeats"
            )));
        }
        let (leases, count) = match target.marker {
            Some(marker) => ([target.lease, marker], 2),
            None => ([target.lease, 0], 1),
        };
        let renewed = self.coord.renew_leases(ctx, &leases[..count]).await?;
        if renewed.first().is_none_or(Option::is_none) {
            return Err(Error::UnknownInstance(id.to_owned()));
        }
        metrics::counter!("keel_registry_heartbeats_total").increment(1);
        let marker_alive = renewed.get(1).is_some_and(Option::is_some);
        if target.kind == CheckKind::Ttl && !marker_alive {
            self.restore_marker(ctx, &target.service, id, target.unhealthy_timeout)
                .await?;
        }
        Ok(target.interval)
    }

    fn beat_target(&self, tenant: &str, id: &str) -> Option<Beatable> {
        let state = self.view.read();
        state
            .ids
            .get(id)
            .filter(|b| b.service.tenant == tenant)
            .cloned()
    }

    /// A ttl instance that missed heartbeats lost its marker (it shows unhealthy); a heartbeat
    /// puts one back. Two nodes doing so at once: the second sees the key and drops its lease.
    async fn restore_marker(
        &self,
        ctx: &Context,
        service: &ServiceId,
        id: &str,
        ttl: Duration,
    ) -> Result<()> {
        let lease = self.coord.grant_detached_lease(ctx, ttl).await?;
        let key = beat_key(service, id);
        match self
            .coord
            .compare_and_set(ctx, &key, Expect::Absent, Vec::new(), Some(lease))
            .await
        {
            Ok(revision) => {
                self.view.caught_up(revision, READ_YOUR_WRITE).await;
                Ok(())
            }
            Err(keel_coord::Error::Conflict { .. }) => {
                let _ = self.coord.revoke_lease(ctx, lease).await;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Takes an instance in or out of traffic (`UP`, `DOWN`, `OUT_OF_SERVICE`).
    pub async fn set_status(
        &self,
        ctx: &Context,
        tenant: &str,
        id: &str,
        status: InstanceStatus,
    ) -> Result<InstanceView> {
        self.update_record(ctx, tenant, id, |i| {
            i.status = status;
            Ok(())
        })
        .await
    }

    /// Sets the health of an instance checked by `http`, `tcp` or `none` (the next probe of an
    /// active check may change it again); ttl instances follow their heartbeats.
    pub async fn set_health(
        &self,
        ctx: &Context,
        tenant: &str,
        id: &str,
        health: HealthStatus,
    ) -> Result<InstanceView> {
        self.update_record(ctx, tenant, id, |i| {
            if i.health_check.kind == CheckKind::Ttl {
                return Err(Error::Invalid(format!(
                    "instance {} is ttl-checked: its health follows its heartbeats and cannot be set",
                    i.instance_id
                )));
            }
            i.checked_health = health;
            Ok(())
        })
        .await
    }

    /// Read-modify-write of a record, retried when another write came first.
    pub(super) async fn update_record(
        &self,
        ctx: &Context,
        tenant: &str,
        id: &str,
        change: impl Fn(&mut Instance) -> Result<()>,
    ) -> Result<InstanceView> {
        for _ in 0..5 {
            let (service, entry) = self.find(ctx, tenant, id).await?;
            let mut instance = (*entry.instance).clone();
            change(&mut instance)?;
            instance.updated_at = now_millis();
            if !instance.ephemeral {
                self.store.put_instance(ctx, &instance).await?;
            }
            let lease = (entry.lease != 0).then_some(entry.lease);
            let written = self
                .coord
                .compare_and_set(
                    ctx,
                    &instance_key(&service, id),
                    Expect::ModRevision(entry.mod_revision),
                    encode(&instance)?,
                    lease,
                )
                .await;
            match written {
                Ok(revision) => {
                    self.view.caught_up(revision, READ_YOUR_WRITE).await;
                    return self.get(ctx, tenant, id).await;
                }
                Err(keel_coord::Error::Conflict { .. }) => {
                    self.view
                        .sync(ctx, self.coord.as_ref(), READ_YOUR_WRITE)
                        .await?;
                }
                Err(keel_coord::Error::LeaseNotFound(_)) => {
                    return Err(Error::UnknownInstance(id.to_owned()));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(format!(
            "instance {id} kept changing while being updated; retry"
        )))
    }

    /// Removes an instance now (a `removed` event follows).
    pub async fn deregister(&self, ctx: &Context, tenant: &str, id: &str) -> Result<()> {
        let (service, entry) = self.find(ctx, tenant, id).await?;
        if !entry.instance.ephemeral {
            self.store.delete_instance(ctx, tenant, id).await?;
        }
        let revision = self.coord.delete(ctx, &instance_key(&service, id)).await?;
        let _ = self.coord.delete(ctx, &beat_key(&service, id)).await;
        if entry.lease != 0 {
            let _ = self.coord.revoke_lease(ctx, entry.lease).await;
        }
        if let Some(revision) = revision {
            self.view.caught_up(revision, READ_YOUR_WRITE).await;
        }
        metrics::counter!("keel_registry_deregistrations_total").increment(1);
        Ok(())
    }

    /// One instance as discovery shows it.
    pub async fn get(&self, ctx: &Context, tenant: &str, id: &str) -> Result<InstanceView> {
        let (service, _) = self.find(ctx, tenant, id).await?;
        let state = self.view.read();
        state
            .services
            .get(&service)
            .and_then(|s| s.instances.get(id).map(|e| s.view_of(e)))
            .ok_or_else(|| not_found(id))
    }

    /// The instance's service and entry; a miss waits for the view to catch up with the store
    /// once, in case it was registered on another node a moment ago.
    async fn find(&self, ctx: &Context, tenant: &str, id: &str) -> Result<(ServiceId, Entry)> {
        if let Some(found) = self.lookup(tenant, id) {
            return Ok(found);
        }
        self.view
            .sync(ctx, self.coord.as_ref(), READ_YOUR_WRITE)
            .await?;
        self.lookup(tenant, id).ok_or_else(|| not_found(id))
    }

    fn lookup(&self, tenant: &str, id: &str) -> Option<(ServiceId, Entry)> {
        let state = self.view.read();
        let service = &state
            .ids
            .get(id)
            .filter(|b| b.service.tenant == tenant)?
            .service;
        let entry = state.services.get(service)?.instances.get(id)?.clone();
        Some(((**service).clone(), entry))
    }

    fn entry(&self, service: &ServiceId, id: &str) -> Option<Entry> {
        let state = self.view.read();
        state.services.get(service)?.instances.get(id).cloned()
    }

    /// The service's settings, creating the service (and its group) on first registration.
    async fn ensure_service(&self, ctx: &Context, service: &ServiceId) -> Result<Arc<Service>> {
        let known = {
            let state = self.view.read();
            state.services.get(service).and_then(|s| s.settings.clone())
        };
        if let Some(settings) = known {
            return Ok(settings);
        }
        let (settings, _) = self.store.ensure_service(ctx, service).await?;
        self.mirror_service(ctx, &settings).await?;
        Ok(Arc::new(settings))
    }
}

/// The check an instance gets: its own, else its service's default, else ttl for ephemeral
/// instances and none for persistent ones (a ttl default does not apply to persistent ones).
fn effective_check(own: Option<HealthCheck>, service: &Service, ephemeral: bool) -> HealthCheck {
    own.or_else(|| {
        service
            .default_health_check
            .clone()
            .filter(|c| ephemeral || c.kind != CheckKind::Ttl)
    })
    .unwrap_or_else(|| {
        HealthCheck::of(if ephemeral {
            CheckKind::Ttl
        } else {
            CheckKind::None
        })
    })
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("instance {id} does not exist"))
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Invalid(format!("cannot encode the record: {e}")))
}
