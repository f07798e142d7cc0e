//! Apps: create (with the `default` cluster and its `application` namespace), list, read,
//! update, delete.

use keel_clog::Context;
use serde_json::json;

use super::history::{self, Event};
use super::rows::AppRow;
use super::{ConfigStore, conflict_on_unique, input, locate, now_ms, page_of, window};
use crate::{
    App, AppUpdate, DEFAULT_CLUSTER, DEFAULT_NAMESPACE, Format, NewApp, Page, PageRequest, Result,
};

impl ConfigStore {
    /// Creates an app together with its `default` cluster and that cluster's `application`
    /// namespace (format properties), in one transaction: nobody ever sees an app without
    /// them. Conflict when the env already has an app of that name.
    pub async fn create_app(
        &self,
        ctx: &Context,
        env: &str,
        new: &NewApp,
        actor: &str,
    ) -> Result<App> {
        input::name("env", env)?;
        input::name("app", &new.name)?;
        input::text("app description", &new.description)?;
        input::text("app owner", &new.owner)?;
        input::text("actor", actor)?;
        let now = now_ms();
        let app = App {
            env: env.to_owned(),
            name: new.name.clone(),
            description: new.description.clone(),
            owner: new.owner.clone(),
            created_at: now,
            created_by: actor.to_owned(),
            updated_at: now,
            updated_by: actor.to_owned(),
        };
        let exists = || format!("app {:?} already exists in env {env:?}", new.name);
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let d = tx.dialect();
                    let insert_app = d.insert(
                        "cc_apps",
                        &[
                            "env",
                            "name",
                            "description",
                            "owner",
                            "created_at",
                            "created_by",
                            "updated_at",
                            "updated_by",
                        ],
                        Some("id"),
                    )?;
                    let insert_cluster = d.insert(
                        "cc_clusters",
                        &["app_id", "name", "created_at", "created_by"],
                        Some("id"),
                    )?;
                    let insert_namespace = d.insert(
                        "cc_namespaces",
                        &["cluster_id", "name", "format", "created_at", "created_by"],
                        None,
                    )?;
                    // The unique key (env, name) decides between concurrent creators: the
                    // second one waits for the first and then fails here.
                    let app_id = tx
                        .insert_returning_id(
                            ctx,
                            sqlx::query(insert_app)
                                .bind(env)
                                .bind(new.name.as_str())
                                .bind(new.description.as_str())
                                .bind(new.owner.as_str())
                                .bind(now)
                                .bind(actor)
                                .bind(now)
                                .bind(actor),
                        )
                        .await
                        .map_err(|e| conflict_on_unique(e.into(), exists))?;
                    let cluster_id = tx
                        .insert_returning_id(
                            ctx,
                            sqlx::query(insert_cluster)
                                .bind(app_id)
                                .bind(DEFAULT_CLUSTER)
                                .bind(now)
                                .bind(actor),
                        )
                        .await?;
                    tx.execute(
                        ctx,
                        sqlx::query(insert_namespace)
                            .bind(cluster_id)
                            .bind(DEFAULT_NAMESPACE)
                            .bind(Format::Properties.as_str())
                            .bind(now)
                            .bind(actor),
                    )
                    .await?;
                    history::record(
                        tx,
                        ctx,
                        Event {
                            namespace_id: None,
                            env,
                            app: &new.name,
                            cluster: "",
                            namespace: "",
                            actor,
                            action: "app.create",
                            target: &new.name,
                            detail: json!({
                                "description": new.description,
                                "owner": new.owner,
                            }),
                        },
                    )
                    .await?;
                    Ok(app)
                })
            })
            .await
    }

    /// One page of the env's apps, ordered by name.
    pub async fn list_apps(
        &self,
        ctx: &Context,
        env: &str,
        page: PageRequest,
    ) -> Result<Page<App>> {
        let (limit, offset) = window(page)?;
        let d = self.db.dialect();
        let (total,): (i64,) = self
            .db
            .fetch_one(
                ctx,
                sqlx::query_as(d.sql("SELECT COUNT(*) FROM cc_apps WHERE env = ?")).bind(env),
            )
            .await?;
        let rows: Vec<AppRow> = self
            .db
            .fetch_all(
                ctx,
                sqlx::query_as(d.sql(
                    "SELECT env, name, description, owner, created_at, created_by, updated_at, \
                     updated_by FROM cc_apps WHERE env = ? ORDER BY name LIMIT ? OFFSET ?",
                ))
                .bind(env)
                .bind(limit)
                .bind(offset),
            )
            .await?;
        Ok(page_of(
            rows.into_iter().map(App::from).collect(),
            total,
            page,
        ))
    }

    /// One app; NotFound (`app "x" not found in env "y"`) when there is none.
    pub async fn get_app(&self, ctx: &Context, env: &str, name: &str) -> Result<App> {
        let sql = self.db.dialect().sql(
            "SELECT env, name, description, owner, created_at, created_by, updated_at, \
             updated_by FROM cc_apps WHERE env = ? AND name = ?",
        );
        let row: Option<AppRow> = self
            .db
            .fetch_optional(ctx, sqlx::query_as(sql).bind(env).bind(name))
            .await?;
        row.map(App::from)
            .ok_or_else(|| locate::app_missing(env, name))
    }

    /// Changes an app's description and/or owner (fields left `None` stay) and returns it.
    pub async fn update_app(
        &self,
        ctx: &Context,
        env: &str,
        name: &str,
        update: &AppUpdate,
        actor: &str,
    ) -> Result<App> {
        if let Some(description) = &update.description {
            input::text("app description", description)?;
        }
        if let Some(owner) = &update.owner {
            input::text("app owner", owner)?;
        }
        input::text("actor", actor)?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let app_id = locate::lock_app(tx, ctx, env, name).await?;
                    let d = tx.dialect();
                    let select = d.sql(
                        "SELECT env, name, description, owner, created_at, created_by, \
                         updated_at, updated_by FROM cc_apps WHERE id = ?",
                    );
                    let update_sql = d.sql(
                        "UPDATE cc_apps SET description = ?, owner = ?, updated_at = ?, \
                         updated_by = ? WHERE id = ?",
                    );
                    let old: App = tx
                        .fetch_one(ctx, sqlx::query_as::<_, AppRow>(select).bind(app_id))
                        .await?
                        .into();
                    let mut app = old.clone();
                    if let Some(description) = &update.description {
                        app.description.clone_from(description);
                    }
                    if let Some(owner) = &update.owner {
                        app.owner.clone_from(owner);
                    }
                    app.updated_at = now_ms();
                    app.updated_by = actor.to_owned();
                    tx.execute(
                        ctx,
                        sqlx::query(update_sql)
                            .bind(app.description.as_str())
                            .bind(app.owner.as_str())
                            .bind(app.updated_at)
                            .bind(actor)
                            .bind(app_id),
                    )
                    .await?;
                    history::record(
                        tx,
                        ctx,
                        Event {
                            namespace_id: None,
                            env,
                            app: name,
                            cluster: "",
                            namespace: "",
                            actor,
                            action: "app.update",
                            target: name,
                            detail: json!({
                                "old": { "description": old.description, "owner": old.owner },
                                "new": { "description": app.description, "owner": app.owner },
                            }),
                        },
                    )
                    .await?;
                    Ok(app)
                })
            })
            .await
    }

    /// Deletes an app with its clusters, namespaces, items and releases (its history stays).
    pub async fn delete_app(
        &self,
        ctx: &Context,
        env: &str,
        name: &str,
        actor: &str,
    ) -> Result<()> {
        input::text("actor", actor)?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let app_id = locate::lock_app(tx, ctx, env, name).await?;
                    // ON DELETE CASCADE removes the clusters and everything below them.
                    let sql = tx.dialect().sql("DELETE FROM cc_apps WHERE id = ?");
                    tx.execute(ctx, sqlx::query(sql).bind(app_id)).await?;
                    history::record(
                        tx,
                        ctx,
                        Event {
                            namespace_id: None,
                            env,
                            app: name,
                            cluster: "",
                            namespace: "",
                            actor,
                            action: "app.delete",
                            target: name,
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
