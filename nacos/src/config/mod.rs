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
use keel_config_center::{ConfigCenter, PageRequest};

use crate::NacosSettings;
use crate::error::NacosResult;
use crate::params::{Params, parse_int};

pub use direct::{
    NACOS_LISTENER_PATH, NACOS_READ_PATH, NacosListen, NacosRead, NacosReadAnswer, NacosWatch,
    changed_answer, unchanged_answer,
};

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
pub(crate) const NO_CACHE: [(&str, &str); 3] = [
    ("pragma", "no-cache"),
    ("expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("cache-control", "no-cache,no-store"),
];

/// [`NO_CACHE`] as header pairs.
pub(crate) fn no_cache() -> [(HeaderName, HeaderValue); 3] {
    NO_CACHE.map(|(name, value)| {
        (
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    })
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

/// Nacos's default and largest page of a listing.
const DEFAULT_PAGE_SIZE: i64 = 100;
const MAX_PAGE_SIZE: i64 = 500;

/// The page a listing asks for: `pageNo` (from 1) and `pageSize` (default 100, at most 500).
pub(crate) fn page_of(params: &Params) -> NacosResult<PageRequest> {
    let number = |name: &str, default: i64| {
        params
            .optional(name)
            .map(parse_int)
            .transpose()
            .map(|n| n.unwrap_or(default))
    };
    let page = number("pageNo", 1)?.max(1);
    let size = number("pageSize", DEFAULT_PAGE_SIZE)?.clamp(1, MAX_PAGE_SIZE);
    Ok(PageRequest {
        page: u32::try_from(page).unwrap_or(u32::MAX),
        size: u32::try_from(size).unwrap_or(100),
    })
}

/// A listing in Nacos's `Page` shape.
pub(crate) fn page_answer(
    page: PageRequest,
    total: u64,
    items: Vec<serde_json::Value>,
) -> Response {
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    let size = i64::from(page.size);
    axum::Json(serde_json::json!({
        "totalCount": total,
        "pageNumber": page.page,
        "pagesAvailable": (total + size - 1) / size,
        "pageItems": items,
    }))
    .into_response()
}
