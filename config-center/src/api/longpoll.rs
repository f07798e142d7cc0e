//! The single-namespace long poll (`GET .../namespaces/{ns}/notifications`) as pieces a server
//! can use outside the router: the same validation as the handler, and the same answers.
//!
//! `keel serve` parks these polls outside hyper (a parked poll is then a socket and a few
//! hundred bytes, not a whole HTTP connection); the handler in `client.rs` and that path share
//! [`LongPoll::from_parts`] and the answers below, so they cannot drift apart.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::Uri;
use axum::response::Response;

use super::client::{WaitQuery, changed_answer, not_modified, wait_time};
use super::envelope::{Peer, client_id};
use super::namespaces::NamespacePath;
use crate::{ClientId, Error, NamespaceId};

/// The route of the single-namespace long poll, as the metrics middleware labels it.
pub const LONG_POLL_ROUTE: &str =
    "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/notifications";

/// A validated single-namespace long poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongPoll {
    /// The namespace as the client named it (answers name it so).
    pub namespace: NamespaceId,
    /// The release the client has (`""`: none).
    pub release_key: String,
    /// How long to wait for a release.
    pub timeout: Duration,
    /// Who is asking (gray rules).
    pub client: ClientId,
}

impl LongPoll {
    /// Validates a long poll given its raw path segments `[env, app, cluster, namespace]` (not
    /// percent-decoded: the caller passes only segments without `%`), its URI (for the query)
    /// and the connection's peer, exactly as the handler does. `Err` carries the handler's
    /// error message.
    pub fn from_parts(names: [&str; 4], uri: &Uri, peer: Option<IpAddr>) -> Result<Self, Error> {
        let (path, query) = NamespacePath::with_query::<WaitQuery>(names, uri)?;
        Self::validate(path, query, &Peer(peer))
    }

    pub(crate) fn validate(
        path: NamespacePath,
        query: WaitQuery,
        peer: &Peer,
    ) -> Result<Self, Error> {
        let namespace = path.id()?;
        let timeout = wait_time(query.timeout.as_deref())?;
        let client =
            client_id(query.ip.as_deref(), query.label.as_deref(), peer).map_err(|e| e.0)?;
        Ok(LongPoll {
            namespace,
            release_key: query.release_key.unwrap_or_default(),
            timeout,
            client,
        })
    }
}

/// The answer to a long poll whose namespace now serves `release_key` (status 200).
pub fn long_poll_changed(namespace: &NamespaceId, release_key: &str) -> Response {
    changed_answer(vec![(namespace.clone(), release_key.to_owned())])
}

/// The answer to a long poll that timed out, or at shutdown (status 304).
pub fn long_poll_unchanged() -> Response {
    not_modified()
}
