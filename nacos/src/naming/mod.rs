//! The naming endpoints (`/nacos/v1/ns/*`) over keel's registry.
//!
//! - `instance`: register, update, patch, deregister, read one;
//! - `registration`: a Nacos instance as a keel registration (shared with the beat);
//! - `beat`: heartbeats, with auto-registration from a full beat; `direct`: the heartbeat
//!   answered outside the router;
//! - `list`: `instance/list`, Nacos's discovery answer;
//! - `host`: a keel instance as Nacos shows it;
//! - `service`: services; `metrics`: the operator's status.

mod answers;
mod beat;
mod beat_info;
mod direct;
mod host;
mod instance;
mod list;
mod metrics;
mod registration;
mod service;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use keel_registry::Registry;

use crate::NacosSettings;
use crate::error::TEXT_PLAIN;

pub use direct::{NACOS_BEAT_PATH, NacosBeat, NacosBeatAnswer};

/// What the naming handlers share.
#[derive(Debug)]
pub(crate) struct Naming {
    pub(crate) registry: Arc<Registry>,
    pub(crate) settings: Arc<NacosSettings>,
    /// Encoded `instance/list` answers.
    pub(crate) answers: answers::Answers,
}

impl Naming {
    pub(crate) fn new(registry: Arc<Registry>, settings: Arc<NacosSettings>) -> Arc<Self> {
        Arc::new(Naming {
            registry,
            settings,
            answers: answers::Answers::default(),
        })
    }
}

/// The naming routes.
pub(crate) fn routes(naming: Arc<Naming>) -> Router {
    Router::new()
        .route(
            "/nacos/v1/ns/instance",
            get(instance::detail)
                .post(instance::register)
                .put(instance::update)
                .patch(instance::patch)
                .delete(instance::deregister),
        )
        .route(NACOS_BEAT_PATH, put(beat::beat))
        .route("/nacos/v1/ns/instance/list", get(list::list))
        .route(
            "/nacos/v1/ns/service",
            get(service::detail)
                .post(service::create)
                .put(service::update)
                .delete(service::delete),
        )
        .route("/nacos/v1/ns/service/list", get(service::list))
        .route("/nacos/v1/ns/operator/metrics", get(metrics::metrics))
        .route("/nacos/v1/ns/ops/metrics", get(metrics::metrics))
        .with_state(naming)
}

/// Nacos's success answer to writes: `ok`, two bytes of text. Clients compare it exactly.
pub(crate) fn ok() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN))],
        "ok",
    )
        .into_response()
}
