//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the models' schemas, so it cannot drift from the code.

use axum::Json;
use utoipa::OpenApi;

use super::{apps, client, namespaces, releases};

/// The config center's HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "keel config center",
        description = "Apps, clusters, namespaces, items, releases and change push. Every answer is JSON in the envelope {\"code\":0,\"message\":\"success\",\"data\":...}; errors carry the HTTP status as `code` and a message that says what to fix. Writers name themselves with the `X-Keel-User` header."
    ),
    paths(
        apps::create_app, apps::list_apps, apps::get_app, apps::update_app, apps::delete_app,
        apps::create_cluster, apps::list_clusters, apps::get_cluster, apps::delete_cluster,
        namespaces::create_namespace, namespaces::list_namespaces, namespaces::get_namespace,
        namespaces::delete_namespace, namespaces::put_item, namespaces::list_items,
        namespaces::get_item, namespaces::delete_item,
        releases::create_release, releases::list_releases, releases::get_release,
        releases::rollback, releases::history, releases::active_gray, releases::merge_gray,
        releases::abandon_gray,
        client::configs, client::notifications, client::many_notifications,
    ),
    components(schemas(crate::HistoryEntry, crate::NamespaceId)),
    tags(
        (name = "apps"), (name = "clusters"), (name = "namespaces"), (name = "items"),
        (name = "releases", description = "Immutable snapshots clients read; rollback; history"),
        (name = "clients", description = "What applications call: reads and change push (also GET /api/v1/ws, a WebSocket)"),
    )
)]
struct ApiDoc;

/// The config center's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document.
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}
