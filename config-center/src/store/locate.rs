//! From names to row ids: the app lock every write takes first, and lookups whose NotFound
//! names the first level that is missing (app, cluster or namespace).

use keel_clog::Context;
use keel_db::Tx;

use super::conn::Conn;
use crate::{ClusterId, Error, Format, NamespaceId, Result};

/// "app "x" not found in env "y"".
pub(super) fn app_missing(env: &str, app: &str) -> Error {
    Error::NotFound(format!("app {app:?} not found in env {env:?}"))
}

/// "cluster "c" not found in app "a" (env "e")".
pub(super) fn cluster_missing(env: &str, app: &str, cluster: &str) -> Error {
    Error::NotFound(format!(
        "cluster {cluster:?} not found in app {app:?} (env {env:?})"
    ))
}

/// "namespace "n" not found in cluster "c" of app "a" (env "e")".
pub(super) fn namespace_missing(id: &NamespaceId) -> Error {
    Error::NotFound(format!(
        "namespace {:?} not found in cluster {:?} of app {:?} (env {:?})",
        id.namespace, id.cluster, id.app, id.env
    ))
}

/// Locks the app's row until the transaction ends and returns its id; NotFound when there is
/// no such app (also when a concurrent delete committed while this waited for the lock).
pub(super) async fn lock_app(tx: &mut Tx<'_>, ctx: &Context, env: &str, app: &str) -> Result<i64> {
    let d = tx.dialect();
    // SQLite has no FOR UPDATE: its transactions already hold the write lock.
    let sql = if d.for_update().is_empty() {
        d.sql("SELECT id FROM cc_apps WHERE env = ? AND name = ?")
    } else {
        d.sql("SELECT id FROM cc_apps WHERE env = ? AND name = ? FOR UPDATE")
    };
    let row: Option<(i64,)> = tx
        .fetch_optional(ctx, sqlx::query_as(sql).bind(env).bind(app))
        .await?;
    row.map(|(id,)| id).ok_or_else(|| app_missing(env, app))
}

/// The id of an app.
pub(super) async fn app(
    conn: &mut Conn<'_, '_>,
    ctx: &Context,
    env: &str,
    app: &str,
) -> Result<i64> {
    let sql = conn
        .dialect()
        .sql("SELECT id FROM cc_apps WHERE env = ? AND name = ?");
    let row: Option<(i64,)> = conn
        .fetch_optional(ctx, sqlx::query_as(sql).bind(env).bind(app))
        .await?;
    row.map(|(id,)| id).ok_or_else(|| app_missing(env, app))
}

/// The id of a cluster.
pub(super) async fn cluster(conn: &mut Conn<'_, '_>, ctx: &Context, id: &ClusterId) -> Result<i64> {
    // One round trip that still tells a missing app from a missing cluster.
    let sql = conn.dialect().sql(
        "SELECT a.id AS app_id, c.id AS cluster_id FROM cc_apps a \
         LEFT JOIN cc_clusters c ON c.app_id = a.id AND c.name = ? \
         WHERE a.env = ? AND a.name = ?",
    );
    let row: Option<(i64, Option<i64>)> = conn
        .fetch_optional(
            ctx,
            sqlx::query_as(sql)
                .bind(id.cluster.as_str())
                .bind(id.env.as_str())
                .bind(id.app.as_str()),
        )
        .await?;
    match row {
        None => Err(app_missing(&id.env, &id.app)),
        Some((_, None)) => Err(cluster_missing(&id.env, &id.app, &id.cluster)),
        Some((_, Some(cluster))) => Ok(cluster),
    }
}

/// A namespace's row id and format.
#[derive(Debug, Clone, Copy)]
pub(super) struct NamespaceRef {
    /// `cc_namespaces.id`.
    pub(super) id: i64,
    /// How its configuration is written.
    pub(super) format: Format,
}

/// An app and, when they exist, its cluster and namespace of the asked names.
#[derive(sqlx::FromRow)]
struct NamespacePath {
    cluster_id: Option<i64>,
    namespace_id: Option<i64>,
    format: Option<String>,
}

/// The row id and format of a namespace.
pub(super) async fn namespace(
    conn: &mut Conn<'_, '_>,
    ctx: &Context,
    id: &NamespaceId,
) -> Result<NamespaceRef> {
    let sql = conn.dialect().sql(
        "SELECT c.id AS cluster_id, n.id AS namespace_id, n.format \
         FROM cc_apps a \
         LEFT JOIN cc_clusters c ON c.app_id = a.id AND c.name = ? \
         LEFT JOIN cc_namespaces n ON n.cluster_id = c.id AND n.name = ? \
         WHERE a.env = ? AND a.name = ?",
    );
    let row: Option<NamespacePath> = conn
        .fetch_optional(
            ctx,
            sqlx::query_as(sql)
                .bind(id.cluster.as_str())
                .bind(id.namespace.as_str())
                .bind(id.env.as_str())
                .bind(id.app.as_str()),
        )
        .await?;
    match row {
        None => Err(app_missing(&id.env, &id.app)),
        Some(NamespacePath {
            cluster_id: None, ..
        }) => Err(cluster_missing(&id.env, &id.app, &id.cluster)),
        Some(NamespacePath {
            namespace_id: Some(ns),
            format: Some(format),
            ..
        }) => Ok(NamespaceRef {
            id: ns,
            format: Format::parse(&format)?,
        }),
        Some(_) => Err(namespace_missing(id)),
    }
}

/// Locks the namespace's app (see [`lock_app`]) and returns the namespace.
pub(super) async fn lock_namespace(
    tx: &mut Tx<'_>,
    ctx: &Context,
    id: &NamespaceId,
) -> Result<NamespaceRef> {
    lock_app(tx, ctx, &id.env, &id.app).await?;
    namespace(&mut Conn::Tx(tx), ctx, id).await
}

/// Locks the cluster's app (see [`lock_app`]) and returns the cluster's row id.
pub(super) async fn lock_cluster(tx: &mut Tx<'_>, ctx: &Context, id: &ClusterId) -> Result<i64> {
    lock_app(tx, ctx, &id.env, &id.app).await?;
    cluster(&mut Conn::Tx(tx), ctx, id).await
}
