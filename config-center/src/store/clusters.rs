//! Clusters of an app: create, list, read, delete (`default` stays).

use keel_clog::Context;
use serde_json::json;

use super::conn::Conn;
use super::history::{self, Event};
use super::rows::ClusterRow;
use super::{ConfigStore, conflict_on_unique, input, locate, now_ms};
use crate::{Cluster, ClusterId, DEFAULT_CLUSTER, Error, Result};

impl ConfigStore {
    /// Creates a cluster (without namespaces). NotFound when the app does not exist,
    /// Conflict when the cluster does.
    pub async fn create_cluster(
        &self,
        ctx: &Context,
        id: &ClusterId,
        actor: &str,
    ) -> Result<Cluster> {
        input::name("cluster", &id.cluster)?;
        input::text("actor", actor)?;
        let exists = || {
            format!(
                "cluster {:?} already exists in app {:?} (env {:?})",
                id.cluster, id.app, id.env
            )
        };
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let app_id = locate::lock_app(tx, ctx, &id.env, &id.app).await?;
                    let now = now_ms();
                    let insert = tx.dialect().insert(
                        "cc_clusters",
                        &["app_id", "name", "created_at", "created_by"],
                        None,
                    )?;
                    // Under the app lock no one else can insert it; the unique key still has
                    // the last word.
                    tx.execute(
                        ctx,
                        sqlx::query(insert)
                            .bind(app_id)
                            .bind(id.cluster.as_str())
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
                            env: &id.env,
                            app: &id.app,
                            cluster: &id.cluster,
                            namespace: "",
                            actor,
                            action: "cluster.create",
                            target: &id.cluster,
                            detail: json!({}),
                        },
                    )
                    .await?;
                    Ok(Cluster {
                        env: id.env.clone(),
                        app: id.app.clone(),
                        name: id.cluster.clone(),
                        created_at: now,
                        created_by: actor.to_owned(),
                    })
                })
            })
            .await
    }

    /// The app's clusters, ordered by name; NotFound when the app does not exist.
    pub async fn list_clusters(&self, ctx: &Context, env: &str, app: &str) -> Result<Vec<Cluster>> {
        let app_id = locate::app(&mut Conn::Pool(&self.db), ctx, env, app).await?;
        let sql = self.db.dialect().sql(
            "SELECT name, created_at, created_by FROM cc_clusters WHERE app_id = ? ORDER BY name",
        );
        let rows: Vec<ClusterRow> = self
            .db
            .fetch_all(ctx, sqlx::query_as(sql).bind(app_id))
            .await?;
        Ok(rows.into_iter().map(|r| r.into_cluster(env, app)).collect())
    }

    /// One cluster; NotFound names the app or the cluster, whichever is missing.
    pub async fn get_cluster(&self, ctx: &Context, id: &ClusterId) -> Result<Cluster> {
        let sql = self.db.dialect().sql(
            "SELECT c.name, c.created_at, c.created_by FROM cc_clusters c \
             JOIN cc_apps a ON a.id = c.app_id \
             WHERE a.env = ? AND a.name = ? AND c.name = ?",
        );
        let row: Option<ClusterRow> = self
            .db
            .fetch_optional(
                ctx,
                sqlx::query_as(sql)
                    .bind(id.env.as_str())
                    .bind(id.app.as_str())
                    .bind(id.cluster.as_str()),
            )
            .await?;
        match row {
            Some(row) => Ok(row.into_cluster(&id.env, &id.app)),
            // Only now find out which level is missing, for the message.
            None => Err(locate::cluster(&mut Conn::Pool(&self.db), ctx, id)
                .await
                .err()
                .unwrap_or_else(|| locate::cluster_missing(&id.env, &id.app, &id.cluster))),
        }
    }

    /// Deletes a cluster with its namespaces, items and releases. The `default` cluster cannot
    /// be deleted (every app has one); delete the app instead.
    pub async fn delete_cluster(&self, ctx: &Context, id: &ClusterId, actor: &str) -> Result<()> {
        if id.cluster == DEFAULT_CLUSTER {
            return Err(Error::Invalid(format!(
                "cluster {DEFAULT_CLUSTER:?} cannot be deleted: every app has it (delete the app instead)"
            )));
        }
        input::text("actor", actor)?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let cluster_id = locate::lock_cluster(tx, ctx, id).await?;
                    // ON DELETE CASCADE removes its namespaces, their items and releases.
                    let sql = tx.dialect().sql("DELETE FROM cc_clusters WHERE id = ?");
                    tx.execute(ctx, sqlx::query(sql).bind(cluster_id)).await?;
                    history::record(
                        tx,
                        ctx,
                        Event {
                            namespace_id: None,
                            env: &id.env,
                            app: &id.app,
                            cluster: &id.cluster,
                            namespace: "",
                            actor,
                            action: "cluster.delete",
                            target: &id.cluster,
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
