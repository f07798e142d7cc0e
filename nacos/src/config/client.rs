//! Who is asking: the client IP beta (gray) releases are matched against, and who a write is
//! recorded as.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use keel_config_center::ClientId;

use crate::params::Params;

/// The client's IP as Nacos takes it (`RequestUtil.getRemoteIp`): the first `X-Forwarded-For`
/// entry, else `X-Real-IP`, else the connection's peer. Only beta matching and the history's
/// `srcIp` use it, never access control.
pub(crate) fn remote_ip(headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    };
    header("x-forwarded-for")
        .or_else(|| header("x-real-ip"))
        .or(peer)
}

/// The request's headers and the client's IP ([`remote_ip`]).
pub(crate) struct Caller {
    pub(crate) headers: HeaderMap,
    pub(crate) ip: Option<IpAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Caller {
            ip: remote_ip(&parts.headers, peer),
            headers: parts.headers.clone(),
        })
    }
}

impl Caller {
    /// A header's value, if it is text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The client gray rules are matched against.
pub(crate) fn client_id(ip: Option<IpAddr>) -> ClientId {
    ClientId {
        ip,
        labels: Vec::new(),
    }
}

/// Who a write is recorded as: `src_user`, else `nacos`.
pub(crate) fn actor(params: &Params) -> String {
    params.optional("src_user").unwrap_or("nacos").to_owned()
}
