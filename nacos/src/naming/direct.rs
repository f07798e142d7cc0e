//! Heartbeats answered outside the router: `keel serve`'s front answers
//! `PUT /nacos/v1/ns/instance/beat` — a client's most frequent naming call, one every five
//! seconds per instance — without hyper and axum, with exactly the handler's answer. Every
//! request while auth is on is left to the router (its guard words the refusals).

use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};

use super::beat::heartbeat;
use crate::Nacos;
use crate::params::Params;

/// The path of a Nacos heartbeat (a `PUT`, its parameters in the query or a form body).
pub const NACOS_BEAT_PATH: &str = "/nacos/v1/ns/instance/beat";

/// A Nacos heartbeat, its parameters read.
#[derive(Debug)]
pub struct NacosBeat {
    params: Params,
}

/// What [`NacosBeat::answer`] answers.
#[derive(Debug)]
pub enum NacosBeatAnswer {
    /// 200 with this `application/json` body (`{"clientBeatInterval":…,"code":…,…}`).
    Json(String),
    /// Any other answer (a refusal), as the router words it.
    Other(Response),
}

impl NacosBeat {
    /// The heartbeat `PUT {NACOS_BEAT_PATH}` with this query, headers and (form) body; `None`
    /// when the router must answer it.
    pub fn from_parts(nacos: &Nacos, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Option<Self> {
        if nacos.settings().auth.is_some() || uri.path() != NACOS_BEAT_PATH {
            return None;
        }
        Some(NacosBeat {
            params: Params::of_request(uri.query(), headers, body),
        })
    }

    /// Renews (or registers again) the instance, and answers as the handler does.
    pub async fn answer(&self, nacos: &Nacos) -> NacosBeatAnswer {
        match heartbeat(nacos.naming(), &self.params).await {
            Ok(answer) => NacosBeatAnswer::Json(answer.json()),
            Err(e) => NacosBeatAnswer::Other(e.into_response()),
        }
    }
}
