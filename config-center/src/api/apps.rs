//! Apps and clusters.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use keel_clog::Context;
use serde::Deserialize;

use super::envelope::{ApiResult, Body, PathParams, QueryParams, actor, ok};
use crate::service::ConfigCenter;
use crate::{App, AppUpdate, Cluster, ClusterId, NewApp, PageRequest, validate_name};

#[derive(Deserialize)]
pub(crate) struct EnvPath {
    env: String,
}

#[derive(Deserialize)]
pub(crate) struct AppPath {
    env: String,
    app: String,
}

#[derive(Deserialize)]
pub(crate) struct ClusterPath {
    env: String,
    app: String,
    cluster: String,
}

impl ClusterPath {
    pub(crate) fn id(self) -> Result<ClusterId, crate::Error> {
        validate_name("env", &self.env)?;
        validate_name("app", &self.app)?;
        validate_name("cluster", &self.cluster)?;
        Ok(ClusterId {
            env: self.env,
            app: self.app,
            cluster: self.cluster,
        })
    }
}

fn check_app(env: &str, app: &str) -> Result<(), crate::Error> {
    validate_name("env", env)?;
    validate_name("app", app)
}

/// `?page=&size=`, with defaults.
#[derive(Deserialize)]
pub(crate) struct Paging {
    page: Option<u32>,
    size: Option<u32>,
}

impl Paging {
    pub(crate) fn request(&self) -> Result<PageRequest, crate::Error> {
        let defaults = PageRequest::default();
        let page = PageRequest {
            page: self.page.unwrap_or(defaults.page),
            size: self.size.unwrap_or(defaults.size),
        };
        page.validate()?;
        Ok(page)
    }
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/apps", tag = "apps", params(("env" = String, Path, description = "Environment, e.g. `dev`")), request_body = NewApp, responses((status = 201, description = "Created (also cluster `default` and namespace `application`)", body = App), (status = 409, description = "Exists"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn create_app(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<EnvPath>,
    headers: HeaderMap,
    Body(new): Body<NewApp>,
) -> ApiResult {
    check_app(&path.env, &new.name)?;
    let ctx = Context::new();
    let app = center
        .store()
        .create_app(&ctx, &path.env, &new, &actor(&headers))
        .await?;
    Ok((StatusCode::CREATED, ok(app)).into_response())
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps", tag = "apps", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("page" = Option<u32>, Query, description = "Page, from 1 (default 1)"), ("size" = Option<u32>, Query, description = "Page size, 1..=500 (default 20)")), responses((status = 200, description = "A page of apps: {items, total, page, size}"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn list_apps(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<EnvPath>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult {
    validate_name("env", &path.env)?;
    let page = paging.request()?;
    Ok(ok(center
        .store()
        .list_apps(&Context::new(), &path.env, page)
        .await?))
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}", tag = "apps", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name")), responses((status = 200, body = App), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn get_app(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<AppPath>,
) -> ApiResult {
    check_app(&path.env, &path.app)?;
    Ok(ok(center
        .store()
        .get_app(&Context::new(), &path.env, &path.app)
        .await?))
}

#[utoipa::path(put, path = "/api/v1/envs/{env}/apps/{app}", tag = "apps", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name")), request_body = AppUpdate, responses((status = 200, body = App), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn update_app(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<AppPath>,
    headers: HeaderMap,
    Body(update): Body<AppUpdate>,
) -> ApiResult {
    check_app(&path.env, &path.app)?;
    let app = center
        .store()
        .update_app(
            &Context::new(),
            &path.env,
            &path.app,
            &update,
            &actor(&headers),
        )
        .await?;
    Ok(ok(app))
}

#[utoipa::path(delete, path = "/api/v1/envs/{env}/apps/{app}", tag = "apps", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name")), responses((status = 200, description = "Deleted with everything under it"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn delete_app(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<AppPath>,
    headers: HeaderMap,
) -> ApiResult {
    check_app(&path.env, &path.app)?;
    center
        .store()
        .delete_app(&Context::new(), &path.env, &path.app, &actor(&headers))
        .await?;
    let scope = crate::NamespaceId {
        env: path.env,
        app: path.app,
        cluster: String::new(),
        namespace: String::new(),
    };
    center.deleted(&Context::new(), &scope).await;
    Ok(ok(()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewCluster {
    name: String,
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/apps/{app}/clusters", tag = "clusters", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name")), request_body(content = inline(NewCluster), description = "`{\"name\"}`"), responses((status = 201, body = Cluster), (status = 409, description = "Exists"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn create_cluster(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<AppPath>,
    headers: HeaderMap,
    Body(new): Body<NewCluster>,
) -> ApiResult {
    let id = ClusterPath {
        env: path.env,
        app: path.app,
        cluster: new.name,
    }
    .id()?;
    let cluster = center
        .store()
        .create_cluster(&Context::new(), &id, &actor(&headers))
        .await?;
    Ok((StatusCode::CREATED, ok(cluster)).into_response())
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters", tag = "clusters", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name")), responses((status = 200, body = [Cluster]), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn list_clusters(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<AppPath>,
) -> ApiResult {
    check_app(&path.env, &path.app)?;
    Ok(ok(center
        .store()
        .list_clusters(&Context::new(), &path.env, &path.app)
        .await?))
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}", tag = "clusters", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name")), responses((status = 200, body = Cluster), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn get_cluster(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<ClusterPath>,
) -> ApiResult {
    let id = path.id()?;
    Ok(ok(center.store().get_cluster(&Context::new(), &id).await?))
}

#[utoipa::path(delete, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}", tag = "clusters", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name")), responses((status = 200, description = "Deleted"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn delete_cluster(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<ClusterPath>,
    headers: HeaderMap,
) -> ApiResult {
    let id = path.id()?;
    center
        .store()
        .delete_cluster(&Context::new(), &id, &actor(&headers))
        .await?;
    let scope = crate::NamespaceId {
        env: id.env,
        app: id.app,
        cluster: id.cluster,
        namespace: String::new(),
    };
    center.deleted(&Context::new(), &scope).await;
    Ok(ok(()))
}
