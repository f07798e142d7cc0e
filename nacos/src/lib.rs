//! keel-nacos: the Nacos v1 HTTP API served by keel, so that existing Nacos clients (the Java
//! 1.x client, nacos-sdk-python, hand-written HTTP calls) work against `keel serve` unchanged.
//!
//! This crate is an adapter: it owns no data. The naming endpoints (`/nacos/v1/ns/*`) call
//! [`keel_registry::Registry`], so an instance registered through Nacos is an ordinary keel
//! instance (visible through `/api/v1/services/{name}/instances`) and a natively registered one
//! is listed by `/nacos/v1/ns/instance/list`. Login (`/nacos/v1/auth/login`) answers a token as
//! Nacos does. The config endpoints (`/nacos/v1/cs/*`) are not built yet.
//!
//! The mapping between the two models, and every deliberate difference from Nacos, is in
//! `docs/nacos-compat.md`; the wire format it follows is `docs/nacos-wire.md`.
//!
//! ```no_run
//! # async fn mount(registry: std::sync::Arc<keel_registry::Registry>) {
//! let app = axum::Router::new()
//!     .merge(keel_registry::router(std::sync::Arc::clone(&registry)))
//!     .merge(keel_nacos::router(registry, keel_nacos::NacosSettings::default()));
//! # let _ = app;
//! # }
//! ```

mod auth;
mod error;
mod names;
mod naming;
mod params;
mod settings;

use std::sync::Arc;

use axum::Router;
use keel_registry::Registry;

pub use settings::NacosSettings;

/// The Nacos routes under `/nacos/v1/`, to merge into a server's router (no fallback: the
/// server has one).
///
/// Naming: `POST|PUT|PATCH|DELETE|GET /ns/instance`, `PUT /ns/instance/beat`,
/// `GET /ns/instance/list`, `POST|PUT|DELETE|GET /ns/service`, `GET /ns/service/list`,
/// `GET /ns/operator/metrics` (and `/ns/ops/metrics`). Auth: `POST /auth/login` (and
/// `/auth/users/login`).
pub fn router(registry: Arc<Registry>, settings: NacosSettings) -> Router {
    let settings = Arc::new(settings);
    Router::new()
        .merge(naming::routes(naming::Naming::new(
            registry,
            Arc::clone(&settings),
        )))
        .merge(auth::routes(settings))
}
