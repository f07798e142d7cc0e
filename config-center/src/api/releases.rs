//! Releases, rollback and history.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use keel_clog::Context;
use serde::Deserialize;

use super::apps::Paging;
use super::envelope::{ApiResult, Body, PathParams, QueryParams, actor, ok};
use super::namespaces::NamespacePath;
use crate::service::ConfigCenter;
use crate::{Error, GrayRelease, GrayRules, NamespaceId, Release};

#[derive(Deserialize)]
pub(crate) struct ReleasePath {
    env: String,
    app: String,
    cluster: String,
    namespace: String,
    release_key: String,
}

impl ReleasePath {
    fn split(self) -> Result<(NamespaceId, String), Error> {
        let key = self.release_key;
        if key.is_empty() || key.len() > 64 {
            return Err(Error::Invalid(format!(
                "release key {key:?} is not one this server issued"
            )));
        }
        let id = NamespacePath::from_parts(self.env, self.app, self.cluster, self.namespace)?;
        Ok((id, key))
    }
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRelease {
    #[serde(default)]
    name: String,
    #[serde(default)]
    comment: String,
    /// Makes a gray release, served only to the clients these rules match.
    #[serde(default)]
    gray: Option<GrayRules>,
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/releases", tag = "releases", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("Idempotency-Key" = Option<String>, Header, description = "Same key (24 h) → same release")), request_body(content = inline(NewRelease)), responses((status = 201, body = Release), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn create_release(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<NamespacePath>,
    headers: HeaderMap,
    Body(new): Body<NewRelease>,
) -> ApiResult {
    let id = path.id()?;
    if new.name.len() > 128 || new.comment.len() > 1024 {
        return Err(
            Error::Invalid("release name is at most 128 bytes and comment 1024".into()).into(),
        );
    }
    let idempotency = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map_err(|_| Error::Invalid("Idempotency-Key must be ASCII".into()))
        })
        .transpose()?;
    let ctx = Context::new();
    if let Some(rules) = &new.gray {
        if idempotency.is_some() {
            return Err(Error::Invalid(
                "Idempotency-Key applies to normal releases; a gray release replaces the active one anyway".into(),
            )
            .into());
        }
        let gray = center
            .gray_release(&ctx, &id, &new.name, &new.comment, rules, &actor(&headers))
            .await?;
        return Ok((StatusCode::CREATED, ok(gray)).into_response());
    }
    let release = center
        .release(
            &ctx,
            &id,
            &new.name,
            &new.comment,
            &actor(&headers),
            idempotency,
        )
        .await?;
    Ok((StatusCode::CREATED, ok(release)).into_response())
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/releases", tag = "releases", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("page" = Option<u32>, Query, description = "Page, from 1 (default 1)"), ("size" = Option<u32>, Query, description = "Page size, 1..=500 (default 20)")), responses((status = 200, description = "A page of releases, newest first"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn list_releases(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<NamespacePath>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult {
    let id = path.id()?;
    let page = paging.request()?;
    Ok(ok(center
        .store()
        .list_releases(&Context::new(), &id, page)
        .await?))
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/releases/{release_key}", tag = "releases", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("release_key" = String, Path, description = "Release key")), responses((status = 200, body = Release), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn get_release(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<ReleasePath>,
) -> ApiResult {
    let (id, key) = path.split()?;
    Ok(ok(center
        .store()
        .get_release(&Context::new(), &id, &key)
        .await?))
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/releases/{release_key}/rollback", tag = "releases", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("release_key" = String, Path, description = "Release key")), responses((status = 201, description = "A new current release with that configuration", body = Release), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn rollback(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<ReleasePath>,
    headers: HeaderMap,
) -> ApiResult {
    let (id, key) = path.split()?;
    let release = center
        .rollback(&Context::new(), &id, &key, &actor(&headers))
        .await?;
    Ok((StatusCode::CREATED, ok(release)).into_response())
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/history", tag = "releases", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("page" = Option<u32>, Query, description = "Page, from 1 (default 1)"), ("size" = Option<u32>, Query, description = "Page size, 1..=500 (default 20)")), responses((status = 200, description = "A page of audited writes (HistoryEntry), newest first"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn history(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<NamespacePath>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult {
    let id = path.id()?;
    let page = paging.request()?;
    Ok(ok(center
        .store()
        .history(&Context::new(), &id, page)
        .await?))
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/gray", tag = "releases", params(("env" = String, Path, description = "Environment"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name")), responses((status = 200, description = "The active gray release", body = GrayRelease), (status = 404, description = "No active gray release")))]
pub(crate) async fn active_gray(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<NamespacePath>,
) -> ApiResult {
    let id = path.id()?;
    match center.store().gray_release(&Context::new(), &id).await? {
        Some(gray) => Ok(ok(gray)),
        None => Err(Error::NotFound(format!("namespace {id} has no active gray release")).into()),
    }
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/releases/{release_key}/merge", tag = "releases", params(("env" = String, Path, description = "Environment"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("release_key" = String, Path, description = "The active gray release")), responses((status = 201, description = "A new current release with the gray configuration", body = Release), (status = 404, description = "Not the active gray release")))]
pub(crate) async fn merge_gray(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<ReleasePath>,
    headers: HeaderMap,
) -> ApiResult {
    let (id, key) = path.split()?;
    let release = center
        .merge_gray(&Context::new(), &id, &key, &actor(&headers))
        .await?;
    Ok((StatusCode::CREATED, ok(release)).into_response())
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/releases/{release_key}/abandon", tag = "releases", params(("env" = String, Path, description = "Environment"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("release_key" = String, Path, description = "The active gray release")), responses((status = 200, description = "Ended; its clients are served the current release again"), (status = 404, description = "Not the active gray release")))]
pub(crate) async fn abandon_gray(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<ReleasePath>,
    headers: HeaderMap,
) -> ApiResult {
    let (id, key) = path.split()?;
    center
        .abandon_gray(&Context::new(), &id, &key, &actor(&headers))
        .await?;
    Ok(ok(()))
}
