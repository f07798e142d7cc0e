//! A client's config read (`GET .../namespaces/{ns}/configs`) as pieces a server can use outside
//! the router: the handler's validation and answers, shared by the handler in `client.rs` and
//! `keel serve`'s direct path, so they cannot drift apart.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::http::Uri;
use axum::response::Response;
use keel_clog::Context;

use super::client::{ConfigQuery, not_modified};
use super::envelope::{Peer, client_id, ok};
use super::namespaces::NamespacePath;
use crate::service::{ConfigAnswer, ConfigCenter};
use crate::{ClientId, Error, NamespaceId};

/// The route of a config read, as the metrics middleware labels it.
pub const CONFIG_READ_ROUTE: &str =
    "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/configs";

/// A validated config read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRead {
    namespace: NamespaceId,
    release_key: Option<String>,
    incremental: bool,
    client: ClientId,
}

/// What a config read is answered.
#[derive(Debug)]
pub enum ReadAnswer {
    /// 304: the client's release is current.
    NotModified,
    /// 200 with this JSON body (`content-type: application/json`), the same bytes for every
    /// client of the release.
    Full(Bytes),
    /// Any other answer (incremental changes), as the router would send it.
    Other(Response),
}

impl ConfigRead {
    /// Validates a read given its raw path segments `[env, app, cluster, namespace]` (not
    /// percent-decoded: the caller passes only segments without `%`), its URI (for the query)
    /// and the connection's peer, exactly as the handler does. `Err` carries the handler's
    /// error.
    pub fn from_parts(names: [&str; 4], uri: &Uri, peer: Option<IpAddr>) -> Result<Self, Error> {
        let (path, query) = NamespacePath::with_query::<ConfigQuery>(names, uri)?;
        Self::validate(path, query, &Peer(peer))
    }

    pub(crate) fn validate(
        path: NamespacePath,
        query: ConfigQuery,
        peer: &Peer,
    ) -> Result<Self, Error> {
        let namespace = path.id()?;
        let client =
            client_id(query.ip.as_deref(), query.label.as_deref(), peer).map_err(|e| e.0)?;
        Ok(ConfigRead {
            namespace,
            release_key: query.release_key.filter(|k| !k.is_empty()),
            incremental: query.incremental,
            client,
        })
    }

    /// The answer, as the handler gives it.
    pub async fn answer(&self, center: &ConfigCenter) -> Result<ReadAnswer, Error> {
        let answer = center
            .client_config(
                &Context::new(),
                &self.namespace,
                self.release_key.as_deref(),
                self.incremental,
                &self.client,
            )
            .await?;
        Ok(match answer {
            ConfigAnswer::NotModified => ReadAnswer::NotModified,
            // Encoded once per release: every client of it gets the same bytes.
            ConfigAnswer::Full(release) => ReadAnswer::Full(super::encoded::full_body(&release)),
            ConfigAnswer::Changes(changes) => ReadAnswer::Other(ok(serde_json::json!({
                "namespace": changes.namespace,
                "release_key": changes.release_key,
                "since": changes.since,
                "added": changes.added,
                "updated": changes.updated,
                "deleted": changes.deleted,
                "incremental": true,
            }))),
        })
    }
}

impl ReadAnswer {
    /// As an HTTP response.
    pub fn into_response(self) -> Response {
        match self {
            ReadAnswer::NotModified => not_modified(),
            ReadAnswer::Full(body) => super::encoded::json_response(body),
            ReadAnswer::Other(response) => response,
        }
    }
}
