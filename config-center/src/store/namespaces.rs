//! Namespaces of a cluster: create, list, read, delete (`application` of `default` stays).

use keel_clog::Context;
use serde_json::json;

use super::conn::Conn;
use super::history::{self, Event};
use super::rows::NamespaceRow;
use super::{ConfigStore, conflict_on_unique, input, locate, now_ms};
use crate::{
    ClusterId, DEFAULT_CLUSTER, DEFAULT_NAMESPACE, Error, Format, Namespace, NamespaceId, Result,
};

impl ConfigStore {
    /// Creates a namespace in a cluster. NotFound when the app or cluster does not exist,
    /// Conflict when the namespace does.
    pub async fn create_namespace(
        &self,
        ctx: &Context,
        cluster: &ClusterId,
        name: &str,
        format: Format,
        actor: &str,
    ) -> Result<Namespace> {
        input::name("namespace", name)?;
        input::text("actor", actor)?;
        let exists = || {
            format!(
                "namespace {name:?} already exists in cluster {:?} of app {:?} (env {:?})",
                cluster.cluster, cluster.app, cluster.env
            )
        };
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let cluster_id = locate::lock_cluster(tx, ctx, cluster).await?;
                    let now = now_ms();
                    let insert = tx.dialect().insert(
                        "cc_namespaces",
                        &["cluster_id", "name", "format", "created_at", "created_by"],
                        None,
                    )?;
                    tx.execute(
                        ctx,
                        sqlx::query(insert)
                            .bind(cluster_id)
                            .bind(name)
                            .bind(format.as_str())
                            .bind(now)
                            .bind(actor),
                    )
                    .await
                    .map_err(|e| conflict_on_unique(e.into(), exists))?;
                    history::record(
                        tx,
                        ctx,
                        Event {
                            namespace_id: None,
                            env: &cluster.env,
                            app: &cluster.app,
                            cluster: &cluster.cluster,
                            namespace: name,
                            actor,
                            action: "namespace.create",
                            target: name,
                            detail: json!({ "format": format.as_str() }),
                        },
                    )
                    .await?;
                    Ok(Namespace {
                        env: cluster.env.clone(),
                        app: cluster.app.clone(),
                        cluster: cluster.cluster.clone(),
                        name: name.to_owned(),
                        format,
                        created_at: now,
                        created_by: actor.to_owned(),
                    })
                })
            })
            .await
    }

    /// The cluster's namespaces, ordered by name; NotFound when the app or cluster is missing.
    pub async fn list_namespaces(
        &self,
        ctx: &Context,
        cluster: &ClusterId,
    ) -> Result<Vec<Namespace>> {
        let cluster_id = locate::cluster(&mut Conn::Pool(&self.db), ctx, cluster).await?;
        let sql = self.db.dialect().sql(
            "SELECT name, format, created_at, created_by FROM cc_namespaces \
             WHERE cluster_id = ? ORDER BY name",
        );
        let rows: Vec<NamespaceRow> = self
            .db
            .fetch_all(ctx, sqlx::query_as(sql).bind(cluster_id))
            .await?;
        rows.into_iter()
            .map(|r| r.into_namespace(&cluster.env, &cluster.app, &cluster.cluster))
            .collect()
    }

    /// One namespace; NotFound names the first missing level.
    pub async fn get_namespace(&self, ctx: &Context, id: &NamespaceId) -> Result<Namespace> {
        let ns = locate::namespace(&mut Conn::Pool(&self.db), ctx, id).await?;
        let sql = self
            .db
            .dialect()
            .sql("SELECT name, format, created_at, created_by FROM cc_namespaces WHERE id = ?");
        let row: Option<NamespaceRow> = self
            .db
            .fetch_optional(ctx, sqlx::query_as(sql).bind(ns.id))
            .await?;
        // Gone between the two statements: a concurrent delete won.
        row.ok_or_else(|| locate::namespace_missing(id))?
            .into_namespace(&id.env, &id.app, &id.cluster)
    }

    /// Deletes a namespace with its items and releases (its history stays). The `application`
    /// namespace of the `default` cluster cannot be deleted: every app has it.
    pub async fn delete_namespace(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        actor: &str,
    ) -> Result<()> {
        if id.cluster == DEFAULT_CLUSTER && id.namespace == DEFAULT_NAMESPACE {
            return Err(Error::Invalid(format!(
                "namespace {DEFAULT_NAMESPACE:?} of cluster {DEFAULT_CLUSTER:?} cannot be deleted: every app has it (delete the app instead)"
            )));
        }
        input::text("actor", actor)?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let ns = locate::lock_namespace(tx, ctx, id).await?;
                    // ON DELETE CASCADE removes its items and releases.
                    let sql = tx.dialect().sql("DELETE FROM cc_namespaces WHERE id = ?");
                    tx.execute(ctx, sqlx::query(sql).bind(ns.id)).await?;
                    history::record(
                        tx,
                        ctx,
                        Event {
                            namespace_id: None,
                            env: &id.env,
                            app: &id.app,
                            cluster: &id.cluster,
                            namespace: &id.namespace,
                            actor,
                            action: "namespace.delete",
                            target: &id.namespace,
                            detail: json!({}),
                        },
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }
}
