//! Config reads and listener polls answered outside the router: `keel serve`'s front answers
//! the hottest Nacos requests — `GET /nacos/v1/cs/configs?dataId=&group=[&tenant=]` and the
//! long poll `POST /nacos/v1/cs/configs/listener` — without hyper and axum, with exactly the
//! handlers' answers. Anything the handlers word themselves — bad parameters, `search`, `beta`,
//! short polls, and every request while auth is on — is left to the router.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use keel_config_center::{ClientId, ConfigCenter, NamespaceId};

use super::client::{client_id, remote_ip};
use super::configs::{each_read_header, not_found, read_document};
use super::keys::{ConfigKey, config_key};
use super::listener::{Poll, encode_changed, listener_answer};
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

    /// The answer the router's handler gives, for a server that writes HTTP/1.1 itself: a
    /// found config as its header lines and body, so nothing is built per read that the
    /// server does not write.
    pub async fn answer(&self, center: &ConfigCenter) -> NacosReadAnswer {
        match read_document(center, &self.key, &client_id(self.ip)).await {
            Ok(Some(doc)) => {
                let mut headers = Vec::with_capacity(256);
                each_read_header(&doc, |name, value| {
                    for part in [name, ": ", value, "\r\n"] {
                        headers.extend_from_slice(part.as_bytes());
                    }
                });
                NacosReadAnswer::Found {
                    headers,
                    body: doc.text,
                }
            }
            Ok(None) => NacosReadAnswer::Other(not_found()),
            Err(e) => NacosReadAnswer::Other(e.into_response()),
        }
    }
}

/// A Nacos config read's answer (see [`NacosRead::answer`]).
#[derive(Debug)]
pub enum NacosReadAnswer {
    /// 200.
    Found {
        /// The header lines, `name: value\r\n` each (no `content-length`, `date` or
        /// `connection`).
        headers: Vec<u8>,
        /// The config's text.
        body: Arc<str>,
    },
    /// Any other answer, whole.
    Other(Response),
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

    /// The one config the poll watches, when it watches exactly one (as most clients' polls
    /// do): what a server that parks polls itself needs to hold it and answer it.
    pub fn single(&self) -> Option<NacosWatch> {
        let record = self.poll.single()?;
        Some(NacosWatch {
            namespace: record.key.id.clone(),
            md5: record.md5.clone(),
            changed: encode_changed([&record.key]),
            client: self.poll.client(),
            hold: self.poll.wait(),
        })
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

/// A listener poll on one config, as a server that parks it holds it: answered
/// [`changed_answer`] once the MD5 of the document `client` is served for `namespace` is no
/// longer `md5`, else [`unchanged_answer`] after `hold`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NacosWatch {
    /// The namespace the config is.
    pub namespace: NamespaceId,
    /// The MD5 the client holds (`""`: none).
    pub md5: String,
    /// The body telling the client its config changed: its key as it wrote it, encoded.
    pub changed: String,
    /// The client beta (gray) rules are matched against.
    pub client: ClientId,
    /// How long the poll may wait.
    pub hold: Duration,
}

/// The listener's answer telling a client the configs in `changed` (a [`NacosWatch::changed`])
/// changed.
pub fn changed_answer(changed: &str) -> Response {
    listener_answer(changed.to_owned())
}

/// The listener's answer when nothing changed during the hold (or the server is stopping): an
/// empty 200.
pub fn unchanged_answer() -> Response {
    listener_answer(String::new())
}
