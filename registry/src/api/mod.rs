//! The HTTP API (`/api/v1/instances`, `/api/v1/services`, `/api/v1/groups`,
//! `/api/v1/stats`), as an axum [`Router`].

mod catalog;
mod discovery;
mod envelope;
mod instances;
mod openapi;
mod stats;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};

pub use envelope::CODE_REGISTER_AGAIN;
pub use openapi::openapi;

use crate::Registry;

/// The registry's routes, to mount in a server (no fallback: the server has one).
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/api/v1/instances", post(instances::register))
        .route("/api/v1/instances/batch", post(instances::register_batch))
        .route(
            "/api/v1/instances/{id}",
            get(instances::get_instance).delete(instances::deregister),
        )
        .route(
            "/api/v1/instances/{id}/heartbeat",
            put(instances::heartbeat),
        )
        .route("/api/v1/instances/{id}/health", put(instances::set_health))
        .route("/api/v1/instances/{id}/status", put(instances::set_status))
        .route(
            "/api/v1/services",
            post(catalog::create_service).get(catalog::list_services),
        )
        .route(
            "/api/v1/services/{name}",
            get(catalog::get_service)
                .put(catalog::update_service)
                .delete(catalog::delete_service),
        )
        .route(
            "/api/v1/services/{name}/instances",
            get(discovery::instances),
        )
        .route("/api/v1/services/{name}/events", get(discovery::events))
        .route(
            "/api/v1/groups",
            post(catalog::create_group).get(catalog::list_groups),
        )
        .route(
            "/api/v1/groups/{group}",
            get(catalog::get_group)
                .put(catalog::update_group)
                .delete(catalog::delete_group),
        )
        .route(
            "/api/v1/groups/{group}/services",
            get(catalog::group_services),
        )
        .route("/api/v1/stats", get(stats::all))
        .route("/api/v1/stats/instances", get(stats::instances))
        .route("/api/v1/stats/health", get(stats::health))
        .with_state(registry)
}
