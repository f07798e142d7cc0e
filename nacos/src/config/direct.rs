//! Config reads and listener polls answered outside the router: `keel serve`'s front answers
//! the hottest Nacos requests — `GET /nacos/v1/cs/configs?dataId=&group=[&tenant=]` and the
//! long poll `POST /nacos/v1/cs/configs/listener` — without hyper and axum, with exactly the
//! handlers' answers. Anything the handlers word themselves — bad parameters, `search`, `beta`,
//! short polls, and every request while auth is on — is left to the router.

use std::net::IpAddr;

use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use keel_config_center::ConfigCenter;

use super::client::{client_id, remote_ip};
use super::configs::answer_read;
use super::keys::{ConfigKey, config_key};
use super::listener::Poll;
use crate::NacosSettings;
use crate::params::Params;

/// The path of a Nacos config read.
pub const NACOS_READ_PATH: &str = "/nacos/v1/cs/configs";
/// The path of the Nacos listener (a `POST` with a form body).
pub const NACOS_LISTENER_PATH: &str = "/nacos/v1/cs/configs/listener";

/// A validated Nacos config read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NacosRead {
    key: ConfigKey,
    ip: Option<IpAddr>,
}

impl NacosRead {
    /// The read `GET {NACOS_READ_PATH}?{query}` with `headers` from `peer`; `None` when the
    /// router must answer it.
    pub fn from_parts(
        settings: &NacosSettings,
        uri: &Uri,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Option<Self> {
        if settings.auth.is_some() || uri.path() != NACOS_READ_PATH {
            return None;
        }
        let params = Params::parse(uri.query().unwrap_or_default());
        if params.get("search").is_some() || params.get("beta").is_some() {
            return None;
        }
        let key = config_key(settings, &params).ok()?;
        Some(NacosRead {
            key,
            ip: remote_ip(headers, peer),
        })
    }

    /// The answer, as the router's handler gives it.
    pub async fn answer(&self, center: &ConfigCenter) -> Response {
        match answer_read(center, &self.key, &client_id(self.ip)).await {
            Ok(response) => response,
            Err(e) => e.into_response(),
        }
    }
}

/// A validated Nacos listener long poll that waits (a short or No-Hangup poll, or a refused
/// one, is left to the router).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NacosListen {
    poll: Poll,
}

impl NacosListen {
    /// The poll `POST {NACOS_LISTENER_PATH}?{query}` with `headers` and form `body` from
    /// `peer`; `None` when the router must answer it.
    pub fn from_parts(
        settings: &NacosSettings,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        peer: Option<IpAddr>,
    ) -> Option<Self> {
        if settings.auth.is_some() || uri.path() != NACOS_LISTENER_PATH {
            return None;
        }
        let params = Params::of_request(uri.query(), headers, body);
        let poll = Poll::parse(settings, &params, headers, remote_ip(headers, peer)).ok()?;
        poll.waits().then_some(NacosListen { poll })
    }

    /// Waits as the handler does (until a watched config changes for this client, the hold
    /// ends, or the server shuts down) and answers as it does.
    pub async fn answer(&self, center: &ConfigCenter) -> Response {
        match self.poll.answer(center).await {
            Ok(response) => response,
            Err(e) => e.into_response(),
        }
    }
}
