//! What applications call: read a namespace's configuration (304 when unchanged, or only the
//! changes), and wait for a release (long poll, one namespace or many).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keel_clog::Context;
use serde::{Deserialize, Serialize};

use super::envelope::{ApiResult, Body, PathParams, Peer, QueryParams, client_id, ok};
use super::longpoll::LongPoll;
use super::namespaces::NamespacePath;
use super::read::ConfigRead;
use crate::service::ConfigCenter;
use crate::{Error, NamespaceId};

/// Longest long poll a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(120);
/// The long poll when the client does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// Most namespaces one long poll may watch.
const MAX_WATCHES: usize = 1_000;

#[derive(Deserialize)]
pub(crate) struct ConfigQuery {
    #[serde(default, alias = "releaseKey")]
    pub(super) release_key: Option<String>,
    #[serde(default)]
    pub(super) incremental: bool,
    #[serde(default)]
    pub(super) ip: Option<String>,
    #[serde(default)]
    pub(super) label: Option<String>,
}

pub(super) fn not_modified() -> Response {
    StatusCode::NOT_MODIFIED.into_response()
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/configs", tag = "clients", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("releaseKey" = Option<String>, Query, description = "The release the client has"), ("incremental" = Option<bool>, Query, description = "Answer only the changes since releaseKey"), ("ip" = Option<String>, Query, description = "The client's IP for gray rules (default: the connection's)"), ("label" = Option<String>, Query, description = "The client's labels for gray rules, comma-separated")), responses((status = 200, description = "{namespace, release_key, configs} or, incremental, {release_key, since, added, updated, deleted}"), (status = 304, description = "releaseKey is current"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn configs(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<NamespacePath>,
    QueryParams(query): QueryParams<ConfigQuery>,
    peer: Peer,
) -> ApiResult {
    let read = ConfigRead::validate(path, query, &peer)?;
    Ok(read.answer(&center).await?.into_response())
}

/// `30s`, `500ms`, or a number of seconds; at most two minutes.
pub(super) fn wait_time(raw: Option<&str>) -> Result<Duration, Error> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_WAIT);
    };
    let parsed = raw
        .parse::<u64>()
        .map(Duration::from_secs)
        .or_else(|_| humantime::parse_duration(raw))
        .map_err(|_| {
            Error::Invalid(format!(
                "timeout {raw:?} is not a duration (like 30s, 500ms or 30)"
            ))
        })?;
    if parsed > MAX_WAIT {
        return Err(Error::Invalid(format!(
            "timeout {raw} is longer than the most allowed, {}s",
            MAX_WAIT.as_secs()
        )));
    }
    Ok(parsed)
}

#[derive(Deserialize)]
pub(crate) struct WaitQuery {
    #[serde(default, alias = "releaseKey")]
    pub(super) release_key: Option<String>,
    #[serde(default)]
    pub(super) timeout: Option<String>,
    #[serde(default)]
    pub(super) ip: Option<String>,
    #[serde(default)]
    pub(super) label: Option<String>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Watch {
    env: String,
    app: String,
    cluster: String,
    namespace: String,
    #[serde(default, alias = "releaseKey")]
    release_key: String,
}

async fn wait(
    center: &ConfigCenter,
    watches: Vec<(NamespaceId, String)>,
    client: &crate::ClientId,
    timeout: Duration,
) -> ApiResult {
    let changed = center
        .wait_for_changes(&Context::new(), &watches, client, timeout)
        .await?;
    if changed.is_empty() {
        return Ok(not_modified());
    }
    Ok(changed_answer(changed))
}

/// The 200 answer of a long poll: the namespaces (as the client named them) and their new keys.
pub(super) fn changed_answer(changed: Vec<(NamespaceId, String)>) -> Response {
    let changed: Vec<Watch> = changed
        .into_iter()
        .map(|(id, key)| Watch {
            env: id.env,
            app: id.app,
            cluster: id.cluster,
            namespace: id.namespace,
            release_key: key,
        })
        .collect();
    ok(changed)
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/notifications", tag = "clients", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("releaseKey" = Option<String>, Query, description = "The release the client has"), ("timeout" = Option<String>, Query, description = "Long-poll time, e.g. 30s (at most 120s)"), ("ip" = Option<String>, Query, description = "The client's IP for gray rules (default: the connection's)"), ("label" = Option<String>, Query, description = "The client's labels for gray rules, comma-separated")), responses((status = 200, description = "[{env, app, cluster, namespace, release_key}] of the changed namespace"), (status = 304, description = "No release before the timeout"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn notifications(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<NamespacePath>,
    QueryParams(query): QueryParams<WaitQuery>,
    peer: Peer,
) -> ApiResult {
    let poll = LongPoll::validate(path, query, &peer)?;
    wait(
        &center,
        vec![(poll.namespace, poll.release_key)],
        &poll.client,
        poll.timeout,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct ManyQuery {
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/notifications", tag = "clients", params(("timeout" = Option<String>, Query, description = "Long-poll time, e.g. 30s (at most 120s)"), ("ip" = Option<String>, Query, description = "The client's IP for gray rules (default: the connection's)"), ("label" = Option<String>, Query, description = "The client's labels for gray rules, comma-separated")), request_body(content = inline(Vec<Watch>), description = "Namespaces and the release each client has"), responses((status = 200, description = "The namespaces whose release changed"), (status = 304, description = "No release before the timeout"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn many_notifications(
    State(center): State<Arc<ConfigCenter>>,
    QueryParams(query): QueryParams<ManyQuery>,
    peer: Peer,
    Body(watches): Body<Vec<Watch>>,
) -> ApiResult {
    let timeout = wait_time(query.timeout.as_deref())?;
    let client = client_id(query.ip.as_deref(), query.label.as_deref(), &peer)?;
    if watches.is_empty() || watches.len() > MAX_WATCHES {
        return Err(Error::Invalid(format!(
            "send 1 to {MAX_WATCHES} namespaces to watch; got {}",
            watches.len()
        ))
        .into());
    }
    let mut list = Vec::with_capacity(watches.len());
    for w in watches {
        let id = NamespacePath::from_parts(w.env, w.app, w.cluster, w.namespace)?;
        list.push((id, w.release_key));
    }
    wait(&center, list, &client, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_times_parse_and_are_bounded() {
        assert_eq!(wait_time(None).unwrap(), DEFAULT_WAIT);
        assert_eq!(wait_time(Some("5")).unwrap(), Duration::from_secs(5));
        assert_eq!(
            wait_time(Some("500ms")).unwrap(),
            Duration::from_millis(500)
        );
        assert!(wait_time(Some("3m")).is_err());
        assert!(wait_time(Some("soon")).is_err());
    }
}
