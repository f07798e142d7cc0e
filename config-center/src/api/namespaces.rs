//! Namespaces and their items (the working copy).

use std::sync::Arc;

use axum::extract::State;
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use keel_clog::Context;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::apps::ClusterPath;
use super::envelope::{ApiResult, Body, PathParams, QueryParams, actor, ok, query_problem};
use crate::service::ConfigCenter;
use crate::{Error, Format, Item, ItemWrite, Namespace, NamespaceId, validate_name};

#[derive(Deserialize)]
pub(crate) struct NamespacePath {
    env: String,
    app: String,
    cluster: String,
    namespace: String,
}

impl NamespacePath {
    /// The path as the router would extract it (segments already decoded).
    pub(crate) fn new(env: &str, app: &str, cluster: &str, namespace: &str) -> Self {
        NamespacePath {
            env: env.to_owned(),
            app: app.to_owned(),
            cluster: cluster.to_owned(),
            namespace: namespace.to_owned(),
        }
    }

    /// The path of a request from its raw segments `[env, app, cluster, namespace]` (not
    /// percent-decoded: callers pass only segments without `%`) and its query from `uri`, as
    /// the router's extractors read them — for requests answered outside the router. `Err`
    /// carries the extractor's message.
    pub(crate) fn with_query<Q: DeserializeOwned>(
        [env, app, cluster, namespace]: [&str; 4],
        uri: &Uri,
    ) -> Result<(Self, Q), Error> {
        let query = axum::extract::Query::<Q>::try_from_uri(uri)
            .map_err(|rejection| Error::Invalid(query_problem(&rejection)))?
            .0;
        Ok((Self::new(env, app, cluster, namespace), query))
    }

    pub(crate) fn id(self) -> Result<NamespaceId, Error> {
        Self::from_parts(self.env, self.app, self.cluster, self.namespace)
    }

    pub(crate) fn from_parts(
        env: String,
        app: String,
        cluster: String,
        namespace: String,
    ) -> Result<NamespaceId, Error> {
        let id = NamespaceId {
            env,
            app,
            cluster,
            namespace,
        };
        ConfigCenter::check_namespace_id(&id)?;
        Ok(id)
    }
}

#[derive(Deserialize)]
pub(crate) struct ItemPath {
    env: String,
    app: String,
    cluster: String,
    namespace: String,
    key: String,
}

impl ItemPath {
    fn split(self) -> Result<(NamespaceId, String), Error> {
        let id = NamespacePath::from_parts(self.env, self.app, self.cluster, self.namespace)?;
        Ok((id, self.key))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewNamespace {
    name: String,
    #[serde(default)]
    format: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces", tag = "namespaces", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name")), request_body(content = inline(NewNamespace)), responses((status = 201, body = Namespace), (status = 409, description = "Exists"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn create_namespace(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<ClusterPath>,
    headers: HeaderMap,
    Body(new): Body<NewNamespace>,
) -> ApiResult {
    let cluster = path.id()?;
    validate_name("namespace", &new.name)?;
    let format = match &new.format {
        Some(name) => Format::parse(name)?,
        None => Format::Properties,
    };
    let namespace = center
        .store()
        .create_namespace(
            &Context::new(),
            &cluster,
            &new.name,
            format,
            &actor(&headers),
        )
        .await?;
    Ok((StatusCode::CREATED, ok(namespace)).into_response())
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces", tag = "namespaces", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name")), responses((status = 200, body = [Namespace]), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn list_namespaces(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<ClusterPath>,
) -> ApiResult {
    let cluster = path.id()?;
    Ok(ok(center
        .store()
        .list_namespaces(&Context::new(), &cluster)
        .await?))
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}", tag = "namespaces", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name")), responses((status = 200, body = Namespace), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn get_namespace(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<NamespacePath>,
) -> ApiResult {
    let id = path.id()?;
    Ok(ok(center
        .store()
        .get_namespace(&Context::new(), &id)
        .await?))
}

#[utoipa::path(delete, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}", tag = "namespaces", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name")), responses((status = 200, description = "Deleted"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn delete_namespace(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<NamespacePath>,
    headers: HeaderMap,
) -> ApiResult {
    let id = path.id()?;
    center
        .store()
        .delete_namespace(&Context::new(), &id, &actor(&headers))
        .await?;
    center.deleted(&Context::new(), &id).await;
    Ok(ok(()))
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/items", tag = "items", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name")), request_body = ItemWrite, responses((status = 200, body = Item), (status = 409, description = "Stale `version`"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn put_item(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<NamespacePath>,
    headers: HeaderMap,
    Body(write): Body<ItemWrite>,
) -> ApiResult {
    let id = path.id()?;
    let item = center
        .store()
        .put_item(&Context::new(), &id, &write, &actor(&headers))
        .await?;
    Ok(ok(item))
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/items", tag = "items", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name")), responses((status = 200, body = [Item]), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn list_items(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<NamespacePath>,
) -> ApiResult {
    let id = path.id()?;
    Ok(ok(center.store().list_items(&Context::new(), &id).await?))
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/items/{key}", tag = "items", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("key" = String, Path, description = "Item key")), responses((status = 200, body = Item), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn get_item(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<ItemPath>,
) -> ApiResult {
    let (id, key) = path.split()?;
    Ok(ok(center
        .store()
        .get_item(&Context::new(), &id, &key)
        .await?))
}

#[derive(Deserialize)]
pub(crate) struct VersionQuery {
    version: Option<i64>,
}

#[utoipa::path(delete, path = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/items/{key}", tag = "items", params(("env" = String, Path, description = "Environment, e.g. `dev`"), ("app" = String, Path, description = "App name"), ("cluster" = String, Path, description = "Cluster name"), ("namespace" = String, Path, description = "Namespace name"), ("key" = String, Path, description = "Item key"), ("version" = Option<i64>, Query, description = "Delete only at this version")), responses((status = 200, description = "Deleted"), (status = 409, description = "Stale `version`"), (status = 400, description = "Invalid input; the message says what to fix"), (status = 404, description = "Not found")))]
pub(crate) async fn delete_item(
    State(center): State<Arc<ConfigCenter>>,
    PathParams(path): PathParams<ItemPath>,
    QueryParams(query): QueryParams<VersionQuery>,
    headers: HeaderMap,
) -> ApiResult {
    let (id, key) = path.split()?;
    center
        .store()
        .delete_item(&Context::new(), &id, &key, query.version, &actor(&headers))
        .await?;
    Ok(ok(()))
}
