//! The HTTP API (`/api/v1/...`), as an axum [`Router`].

mod apps;
mod client;
mod encoded;
mod envelope;
mod longpoll;
mod namespaces;
mod openapi;
mod read;
mod releases;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use longpoll::{LONG_POLL_ROUTE, LongPoll, long_poll_changed, long_poll_unchanged};
pub use openapi::openapi;
pub use read::{CONFIG_READ_ROUTE, ConfigRead, ReadAnswer};

use crate::service::ConfigCenter;

/// The config center on its own: its routes, its OpenAPI document at
/// `/api/v1/openapi.json`, and a 404 in the envelope for anything else.
pub fn router(center: Arc<ConfigCenter>) -> Router {
    routes(center)
        .route("/api/v1/openapi.json", get(openapi::document))
        .fallback(|| async {
            envelope::fail(
                axum::http::StatusCode::NOT_FOUND,
                "no such endpoint; see /api/v1/openapi.json or docs/config-center.md",
            )
        })
}

/// Only the config center's API routes, for a server that mounts other services beside it
/// and serves one merged OpenAPI document (see [`openapi()`]) and one fallback.
pub fn routes(center: Arc<ConfigCenter>) -> Router {
    let app = "/api/v1/envs/{env}/apps/{app}";
    let cluster = format!("{app}/clusters/{{cluster}}");
    let namespace = format!("{cluster}/namespaces/{{namespace}}");
    Router::new()
        .route(
            "/api/v1/envs/{env}/apps",
            post(apps::create_app).get(apps::list_apps),
        )
        .route(
            app,
            get(apps::get_app)
                .put(apps::update_app)
                .delete(apps::delete_app),
        )
        .route(
            &format!("{app}/clusters"),
            post(apps::create_cluster).get(apps::list_clusters),
        )
        .route(
            &cluster,
            get(apps::get_cluster).delete(apps::delete_cluster),
        )
        .route(
            &format!("{cluster}/namespaces"),
            post(namespaces::create_namespace).get(namespaces::list_namespaces),
        )
        .route(
            &namespace,
            get(namespaces::get_namespace).delete(namespaces::delete_namespace),
        )
        .route(
            &format!("{namespace}/items"),
            post(namespaces::put_item).get(namespaces::list_items),
        )
        .route(
            &format!("{namespace}/items/{{key}}"),
            get(namespaces::get_item).delete(namespaces::delete_item),
        )
        .route(
            &format!("{namespace}/releases"),
            post(releases::create_release).get(releases::list_releases),
        )
        .route(
            &format!("{namespace}/releases/{{release_key}}"),
            get(releases::get_release),
        )
        .route(
            &format!("{namespace}/releases/{{release_key}}/rollback"),
            post(releases::rollback),
        )
        .route(
            &format!("{namespace}/releases/{{release_key}}/merge"),
            post(releases::merge_gray),
        )
        .route(
            &format!("{namespace}/releases/{{release_key}}/abandon"),
            post(releases::abandon_gray),
        )
        .route(&format!("{namespace}/gray"), get(releases::active_gray))
        .route(&format!("{namespace}/history"), get(releases::history))
        .route(&format!("{namespace}/configs"), get(client::configs))
        .route(
            &format!("{namespace}/notifications"),
            get(client::notifications),
        )
        .route("/api/v1/notifications", post(client::many_notifications))
        .route("/api/v1/ws", get(ws::upgrade))
        .with_state(center)
}
