//! `/api/v1/stats`: counts over the registry.

use std::sync::Arc;

use axum::extract::State;

use super::envelope::{ApiResult, ok};
use crate::Registry;

/// Everything: services, instances by health, status and check type, nodes.
#[utoipa::path(get, path = "/api/v1/stats", tag = "stats",
    responses((status = 200, body = crate::Stats)))]
pub(crate) async fn all(State(registry): State<Arc<Registry>>) -> ApiResult {
    Ok(ok(registry.stats()))
}

/// Instance counts.
#[utoipa::path(get, path = "/api/v1/stats/instances", tag = "stats",
    responses((status = 200, description = "`{instances, ephemeral, persistent, byStatus, byCheck}`")))]
pub(crate) async fn instances(State(registry): State<Arc<Registry>>) -> ApiResult {
    let s = registry.stats();
    Ok(ok(serde_json::json!({
        "instances": s.instances,
        "ephemeral": s.ephemeral,
        "persistent": s.persistent,
        "byStatus": s.by_status,
        "byCheck": s.by_check,
    })))
}

/// Health counts.
#[utoipa::path(get, path = "/api/v1/stats/health", tag = "stats",
    responses((status = 200, description = "`{healthy, unhealthy, nodes}`")))]
pub(crate) async fn health(State(registry): State<Arc<Registry>>) -> ApiResult {
    let s = registry.stats();
    Ok(ok(serde_json::json!({
        "healthy": s.healthy,
        "unhealthy": s.unhealthy,
        "nodes": s.nodes,
    })))
}
