//! keel-nacos: the Nacos v1 HTTP API served by keel, so that existing Nacos clients (the Java
//! 1.x client, nacos-sdk-python, hand-written HTTP calls) work against `keel serve` unchanged.
//!
//! This crate is an adapter: it owns no data. The naming endpoints (`/nacos/v1/ns/*`) call
//! [`keel_registry::Registry`], so an instance registered through Nacos is an ordinary keel
//! instance (visible through `/api/v1/services/{name}/instances`) and a natively registered one
//! is listed by `/nacos/v1/ns/instance/list`. The config endpoints (`/nacos/v1/cs/*`) call
//! [`keel_config_center::ConfigCenter`]: a Nacos config is a keel namespace and a publish is a
//! keel release. Login (`/nacos/v1/auth/login`) answers a token as Nacos does.
//!
//! The mapping between the two models, and every deliberate difference from Nacos, is in
//! `docs/nacos-compat.md`; the wire format it follows is `docs/nacos-wire.md`.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn mount(registry: Arc<keel_registry::Registry>, center: Arc<keel_config_center::ConfigCenter>) {
//! let app = axum::Router::new()
//!     .merge(keel_registry::router(Arc::clone(&registry)))
//!     .merge(keel_nacos::router(registry, center, keel_nacos::NacosSettings::default()));
//! # let _ = app;
//! # }
//! ```
//!
//! A server that writes HTTP/1.1 itself (as `keel serve` does) can answer the hottest Nacos
//! requests outside the router with the same answers: [`NacosRead`], [`NacosListen`] and
//! [`NacosBeat`], the last over the state a [`Nacos`] shares with its router.

mod auth;
mod config;
mod error;
mod names;
mod naming;
mod params;
mod settings;

use std::sync::Arc;

use axum::Router;
use keel_config_center::ConfigCenter;
use keel_registry::Registry;

pub use config::{
    NACOS_LISTENER_PATH, NACOS_READ_PATH, NacosListen, NacosRead, NacosReadAnswer, NacosWatch,
    changed_answer, unchanged_answer,
};
pub use naming::{NACOS_BEAT_PATH, NacosBeat, NacosBeatAnswer};
pub use settings::{NacosAuth, NacosSettings};

/// The Nacos API over one registry and one config center: its [router](Nacos::router), and
/// the state that router shares with requests answered outside it ([`NacosBeat`]). Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Nacos {
    center: Arc<ConfigCenter>,
    naming: Arc<naming::Naming>,
}

impl Nacos {
    /// The Nacos API over `registry` and `center`.
    pub fn new(
        registry: Arc<Registry>,
        center: Arc<ConfigCenter>,
        settings: NacosSettings,
    ) -> Self {
        Nacos {
            center,
            naming: naming::Naming::new(registry, Arc::new(settings)),
        }
    }

    /// The settings it serves with.
    pub fn settings(&self) -> &NacosSettings {
        &self.naming.settings
    }

    pub(crate) fn naming(&self) -> &naming::Naming {
        &self.naming
    }

    /// The Nacos routes under `/nacos/v1/`, to merge into a server's router (no fallback: the
    /// server has one).
    ///
    /// Config: `GET|POST|PUT|DELETE /cs/configs`, `POST /cs/configs/listener`,
    /// `GET /cs/history`. Naming: `POST|PUT|PATCH|DELETE|GET /ns/instance`,
    /// `PUT /ns/instance/beat`, `GET /ns/instance/list`, `POST|PUT|DELETE|GET /ns/service`,
    /// `GET /ns/service/list`, `GET /ns/operator/metrics` (and `/ns/ops/metrics`). Auth:
    /// `POST /auth/login` (and `/auth/users/login`).
    pub fn router(&self) -> Router {
        let settings = Arc::clone(&self.naming.settings);
        let guarded = Router::new()
            .merge(config::routes(
                Arc::clone(&self.center),
                Arc::clone(&settings),
            ))
            .merge(naming::routes(Arc::clone(&self.naming)))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&settings),
                auth::guard,
            ));
        guarded.merge(auth::routes(settings))
    }
}

/// [`Nacos::router`] of a new [`Nacos`], for a server that answers everything through it.
pub fn router(
    registry: Arc<Registry>,
    center: Arc<ConfigCenter>,
    settings: NacosSettings,
) -> Router {
    Nacos::new(registry, center, settings).router()
}
