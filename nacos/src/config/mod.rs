//! The config endpoints (`/nacos/v1/cs/*`) over keel's config center: read, publish (with
//! `casMd5` compare-and-set and `betaIps` gray publish), delete, the listener long poll and the
//! history. A config is a keel namespace (see `keys`), its content the namespace's document
//! (`keel_config_center::document`), so a config published through Nacos is an ordinary keel
//! release and a native release is what Nacos clients read.

mod client;
mod configs;
mod direct;
mod history;
mod keys;
mod listener;
mod types;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keel_config_center::ConfigCenter;

use crate::NacosSettings;

pub use direct::{NACOS_LISTENER_PATH, NACOS_READ_PATH, NacosListen, NacosRead};

/// What the config handlers share.
pub(crate) struct Configs {
    pub(crate) center: Arc<ConfigCenter>,
    pub(crate) settings: Arc<NacosSettings>,
}

/// The config routes.
pub(crate) fn routes(center: Arc<ConfigCenter>, settings: Arc<NacosSettings>) -> Router {
    Router::new()
        .route(
            "/nacos/v1/cs/configs",
            get(configs::read)
                .post(configs::publish)
                .put(configs::publish)
                .delete(configs::delete),
        )
        .route("/nacos/v1/cs/configs/listener", post(listener::listen))
        .route("/nacos/v1/cs/history", get(history::history))
        .with_state(Arc::new(Configs { center, settings }))
}

/// The headers Nacos puts on config reads and listener answers so nothing caches them.
pub(crate) fn no_cache() -> [(HeaderName, HeaderValue); 3] {
    [
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
        (
            header::EXPIRES,
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache,no-store"),
        ),
    ]
}

/// Nacos's answer to a config write: `true` as JSON, four bytes. Clients compare it exactly.
pub(crate) fn json_true() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        "true",
    )
        .into_response()
}
