//! `/api/v1/instances`: register (one or a batch), read, heartbeat, health, status, remove.

use std::sync::Arc;

use axum::extract::{Path, State};
use keel_clog::Context;
use serde::Deserialize;

use super::envelope::{ApiResult, Body, Caller, ok};
use crate::{HealthStatus, InstanceStatus, NewInstance, Registry};

/// A batch registration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Batch {
    /// 1 to 1000 registrations.
    instances: Vec<NewInstance>,
}

/// A health change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HealthChange {
    health_status: HealthStatus,
}

/// A status change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusChange {
    status: InstanceStatus,
}

/// Register an instance (the same address again updates it).
#[utoipa::path(post, path = "/api/v1/instances", tag = "instances", request_body = NewInstance,
    params(("X-Tenant-Id" = Option<String>, Header, description = "tenant, default `default`")),
    responses((status = 200, description = "registered", body = crate::Registered),
        (status = 400, description = "invalid field; the message names it"),
        (status = 403, description = "the group needs a register token")))]
pub(crate) async fn register(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Body(request): Body<NewInstance>,
) -> ApiResult {
    let ctx = Context::new();
    let answer = registry
        .register(&ctx, &caller.tenant, caller.token.as_deref(), request)
        .await?;
    Ok(ok(answer))
}

/// Register many instances at once (all are checked before any is written).
#[utoipa::path(post, path = "/api/v1/instances/batch", tag = "instances", request_body = Batch,
    responses((status = 200, description = "registered, in order", body = [crate::Registered])))]
pub(crate) async fn register_batch(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Body(batch): Body<Batch>,
) -> ApiResult {
    let ctx = Context::new();
    let answers = registry
        .register_batch(
            &ctx,
            &caller.tenant,
            caller.token.as_deref(),
            batch.instances,
        )
        .await?;
    Ok(ok(answers))
}

/// One instance.
#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances",
    responses((status = 200, body = crate::InstanceView), (status = 404)))]
pub(crate) async fn get_instance(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    Ok(ok(registry
        .get(&Context::new(), &caller.tenant, &id)
        .await?))
}

/// Heartbeat of an ephemeral instance. Unknown instances answer 404 with code 20404:
/// register again.
#[utoipa::path(put, path = "/api/v1/instances/{id}/heartbeat", tag = "instances",
    responses((status = 200, description = "`{\"heartbeatIntervalMillis\":5000}`"),
        (status = 404, description = "code 20404: not registered (expired); register again")))]
pub(crate) async fn heartbeat(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let interval = registry
        .heartbeat(&Context::new(), &caller.tenant, &id)
        .await?;
    Ok(ok(
        serde_json::json!({"heartbeatIntervalMillis": interval.as_millis() as u64}),
    ))
}

/// Set the health of an instance checked by http, tcp or none.
#[utoipa::path(put, path = "/api/v1/instances/{id}/health", tag = "instances",
    request_body = HealthChange, responses((status = 200, body = crate::InstanceView)))]
pub(crate) async fn set_health(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(change): Body<HealthChange>,
) -> ApiResult {
    let view = registry
        .set_health(&Context::new(), &caller.tenant, &id, change.health_status)
        .await?;
    Ok(ok(view))
}

/// Take an instance in or out of traffic: `UP`, `DOWN`, `OUT_OF_SERVICE`.
#[utoipa::path(put, path = "/api/v1/instances/{id}/status", tag = "instances",
    request_body = StatusChange, responses((status = 200, body = crate::InstanceView)))]
pub(crate) async fn set_status(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(change): Body<StatusChange>,
) -> ApiResult {
    let view = registry
        .set_status(&Context::new(), &caller.tenant, &id, change.status)
        .await?;
    Ok(ok(view))
}

/// Deregister an instance.
#[utoipa::path(delete, path = "/api/v1/instances/{id}", tag = "instances",
    responses((status = 200), (status = 404)))]
pub(crate) async fn deregister(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    registry
        .deregister(&Context::new(), &caller.tenant, &id)
        .await?;
    Ok(ok(serde_json::Value::Null))
}
