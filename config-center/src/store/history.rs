//! The audit trail: every write records who did what, inside the write's own transaction (so
//! a write and its history row commit or vanish together), and [`ConfigStore::history`] reads
//! a namespace's part of it.

use keel_clog::Context;
use keel_db::Tx;

use super::conn::Conn;
use super::rows::HistoryRow;
use super::{ConfigStore, locate, now_ms, page_of, window};
use crate::{HistoryEntry, NamespaceId, Page, PageRequest, Result};

/// One audited write.
pub(super) struct Event<'a> {
    /// The namespace's row, for item and release events; `None` for app, cluster and
    /// namespace lifecycle events, which are kept for audit but are no namespace's history.
    pub(super) namespace_id: Option<i64>,
    /// Where it happened; levels below the one concerned are empty.
    pub(super) env: &'a str,
    pub(super) app: &'a str,
    pub(super) cluster: &'a str,
    pub(super) namespace: &'a str,
    pub(super) actor: &'a str,
    /// `item.put`, `item.delete`, `release.create`, `release.rollback`, `app.create`, ...
    pub(super) action: &'static str,
    /// The item key, release key or name concerned.
    pub(super) target: &'a str,
    /// Details (old and new values, release name).
    pub(super) detail: serde_json::Value,
}

impl<'a> Event<'a> {
    /// An event on namespace `id` (row `namespace_id`).
    pub(super) fn in_namespace(
        id: &'a NamespaceId,
        namespace_id: i64,
        actor: &'a str,
        action: &'static str,
        target: &'a str,
        detail: serde_json::Value,
    ) -> Self {
        Event {
            namespace_id: Some(namespace_id),
            env: &id.env,
            app: &id.app,
            cluster: &id.cluster,
            namespace: &id.namespace,
            actor,
            action,
            target,
            detail,
        }
    }
}

/// Appends `event` to the history, in the caller's transaction.
pub(super) async fn record(tx: &mut Tx<'_>, ctx: &Context, event: Event<'_>) -> Result<()> {
    let sql = tx.dialect().sql(
        "INSERT INTO cc_history (namespace_id, env, app_name, cluster_name, namespace_name, \
         created_at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    let detail = event.detail.to_string();
    tx.execute(
        ctx,
        sqlx::query(sql)
            .bind(event.namespace_id)
            .bind(event.env)
            .bind(event.app)
            .bind(event.cluster)
            .bind(event.namespace)
            .bind(now_ms())
            .bind(event.actor)
            .bind(event.action)
            .bind(event.target)
            .bind(detail),
    )
    .await?;
    Ok(())
}

impl ConfigStore {
    /// The audited writes of a namespace's items and releases, newest first.
    pub async fn history(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        page: PageRequest,
    ) -> Result<Page<HistoryEntry>> {
        let (limit, offset) = window(page)?;
        let ns = locate::namespace(&mut Conn::Pool(&self.db), ctx, id).await?;
        let d = self.db.dialect();
        let (total,): (i64,) = self
            .db
            .fetch_one(
                ctx,
                sqlx::query_as(d.sql("SELECT COUNT(*) FROM cc_history WHERE namespace_id = ?"))
                    .bind(ns.id),
            )
            .await?;
        let rows: Vec<HistoryRow> = self
            .db
            .fetch_all(
                ctx,
                sqlx::query_as(d.sql(
                    "SELECT id, created_at, actor, action, target, detail FROM cc_history \
                     WHERE namespace_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                ))
                .bind(ns.id)
                .bind(limit)
                .bind(offset),
            )
            .await?;
        let entries = rows
            .into_iter()
            .map(HistoryEntry::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(entries, total, page))
    }
}
