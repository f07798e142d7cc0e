//! Items, the working copy of a namespace: put (create or update, with optimistic versions),
//! list, read, delete. Releases snapshot them.

use keel_clog::Context;
use keel_db::Tx;
use serde_json::json;

use super::conn::Conn;
use super::history::{self, Event};
use super::locate::{self, NamespaceRef};
use super::rows::ItemRow;
use super::{ConfigStore, conflict_on_unique, input, now_ms};
use crate::{CONTENT_KEY, Error, Format, Item, ItemWrite, NamespaceId, Result};

/// Every item of a namespace, ordered by key.
pub(super) async fn load_all(
    conn: &mut Conn<'_, '_>,
    ctx: &Context,
    namespace_id: i64,
) -> Result<Vec<ItemRow>> {
    let sql = conn.dialect().sql(
        "SELECT item_key, item_value, comment, version, updated_at, updated_by FROM cc_items \
         WHERE namespace_id = ? ORDER BY item_key",
    );
    Ok(conn
        .fetch_all(ctx, sqlx::query_as(sql).bind(namespace_id))
        .await?)
}

/// The working copy as a release holds it: key → value. Call under the app lock so no item
/// write slips in between this read and the release written from it.
pub(super) async fn snapshot(
    conn: &mut Conn<'_, '_>,
    ctx: &Context,
    namespace_id: i64,
) -> Result<std::collections::BTreeMap<String, String>> {
    Ok(load_all(conn, ctx, namespace_id)
        .await?
        .into_iter()
        .map(|r| (r.item_key, r.item_value))
        .collect())
}

/// One item of a namespace, if it exists.
async fn load_one(
    conn: &mut Conn<'_, '_>,
    ctx: &Context,
    namespace_id: i64,
    key: &str,
) -> Result<Option<ItemRow>> {
    let sql = conn.dialect().sql(
        "SELECT item_key, item_value, comment, version, updated_at, updated_by FROM cc_items \
         WHERE namespace_id = ? AND item_key = ?",
    );
    Ok(conn
        .fetch_optional(ctx, sqlx::query_as(sql).bind(namespace_id).bind(key))
        .await?)
}

fn item_missing(id: &NamespaceId, key: &str) -> Error {
    Error::NotFound(format!("item {key:?} not found in namespace {id}"))
}

/// The Conflict of a write that expected `expected` but found `current` (`None` = absent).
fn stale(key: &str, expected: i64, current: Option<i64>) -> Error {
    Error::Conflict(match current {
        Some(current) => {
            format!("item {key:?} is at version {current}, not {expected}; reload and retry")
        }
        None => format!("item {key:?} does not exist, not at version {expected}; reload and retry"),
    })
}

/// An item fits its namespace's format: a namespace that is not `properties` holds exactly
/// one item, [`CONTENT_KEY`], whose value must be a valid document of that format.
fn check_item_fits(ns: NamespaceRef, id: &NamespaceId, key: &str, value: &str) -> Result<()> {
    if ns.format == Format::Properties {
        return Ok(());
    }
    if key != CONTENT_KEY {
        return Err(Error::Invalid(format!(
            "namespace {id} is {} and holds only the item {CONTENT_KEY:?} with the whole document, not {key:?}",
            ns.format
        )));
    }
    crate::validate::content(ns.format, value)
}

/// Inserts `item` (a new key) into the namespace's working copy.
pub(super) async fn insert_row(
    tx: &mut Tx<'_>,
    ctx: &Context,
    namespace_id: i64,
    item: &Item,
) -> Result<()> {
    let insert = tx.dialect().insert(
        "cc_items",
        &[
            "namespace_id",
            "item_key",
            "item_value",
            "comment",
            "version",
            "updated_at",
            "updated_by",
        ],
        None,
    )?;
    tx.execute(
        ctx,
        sqlx::query(insert)
            .bind(namespace_id)
            .bind(item.key.as_str())
            .bind(item.value.as_str())
            .bind(item.comment.as_str())
            .bind(item.version)
            .bind(item.updated_at)
            .bind(item.updated_by.as_str()),
    )
    .await
    .map_err(|e| {
        conflict_on_unique(e.into(), || {
            format!(
                "item {:?} was created concurrently; reload and retry",
                item.key
            )
        })
    })?;
    Ok(())
}

/// Overwrites the item at `old_version` with `item`; false when it is no longer at that
/// version.
pub(super) async fn update_row(
    tx: &mut Tx<'_>,
    ctx: &Context,
    namespace_id: i64,
    item: &Item,
    old_version: i64,
) -> Result<bool> {
    // `version = ?` re-checks what was read, so even a writer that bypassed the lock could not
    // be overwritten silently.
    let update = tx.dialect().sql(
        "UPDATE cc_items SET item_value = ?, comment = ?, version = ?, updated_at = ?, \
         updated_by = ? WHERE namespace_id = ? AND item_key = ? AND version = ?",
    );
    let done = tx
        .execute(
            ctx,
            sqlx::query(update)
                .bind(item.value.as_str())
                .bind(item.comment.as_str())
                .bind(item.version)
                .bind(item.updated_at)
                .bind(item.updated_by.as_str())
                .bind(namespace_id)
                .bind(item.key.as_str())
                .bind(old_version),
        )
        .await?;
    Ok(done.rows_affected() == 1)
}

impl ConfigStore {
    /// Creates (version 1) or updates (version + 1) an item and records `item.put` with the
    /// old and new value. `write.version`: `None` writes whatever is there, `Some(0)` only
    /// creates, `Some(v)` only updates version `v`; otherwise Conflict ("item "k" is at
    /// version 3, not 2; reload and retry").
    pub async fn put_item(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        write: &ItemWrite,
        actor: &str,
    ) -> Result<Item> {
        input::item_key(&write.key)?;
        input::text("item value", &write.value)?;
        input::text("item comment", &write.comment)?;
        input::text("actor", actor)?;
        input::expected_version(write.version)?;
        let key = write.key.as_str();
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    // The app lock serializes writers: the version read here is still current
                    // when the write commits.
                    let ns = locate::lock_namespace(tx, ctx, id).await?;
                    check_item_fits(ns, id, key, &write.value)?;
                    let current = load_one(&mut Conn::Tx(tx), ctx, ns.id, key).await?;
                    if let Some(expected) = write.version {
                        let at = current.as_ref().map(|c| c.version);
                        if at.unwrap_or(0) != expected {
                            return Err(stale(key, expected, at));
                        }
                    }
                    let item = Item {
                        key: key.to_owned(),
                        value: write.value.clone(),
                        comment: write.comment.clone(),
                        version: current.as_ref().map_or(1, |c| c.version + 1),
                        updated_at: now_ms(),
                        updated_by: actor.to_owned(),
                    };
                    match &current {
                        None => insert_row(tx, ctx, ns.id, &item).await?,
                        Some(old) => {
                            if !update_row(tx, ctx, ns.id, &item, old.version).await? {
                                return Err(stale(key, old.version, None));
                            }
                        }
                    }
                    history::record(
                        tx,
                        ctx,
                        Event::in_namespace(
                            id,
                            ns.id,
                            actor,
                            "item.put",
                            key,
                            json!({
                                "old": current.as_ref().map(|c| &c.item_value),
                                "old_version": current.as_ref().map(|c| c.version),
                                "new": item.value,
                                "version": item.version,
                                "comment": item.comment,
                            }),
                        ),
                    )
                    .await?;
                    Ok(item)
                })
            })
            .await
    }

    /// The namespace's items, ordered by key.
    pub async fn list_items(&self, ctx: &Context, id: &NamespaceId) -> Result<Vec<Item>> {
        let mut conn = Conn::Pool(&self.db);
        let ns = locate::namespace(&mut conn, ctx, id).await?;
        let rows = load_all(&mut conn, ctx, ns.id).await?;
        Ok(rows.into_iter().map(Item::from).collect())
    }

    /// One item; NotFound names the first missing level (app, cluster, namespace or item).
    pub async fn get_item(&self, ctx: &Context, id: &NamespaceId, key: &str) -> Result<Item> {
        let mut conn = Conn::Pool(&self.db);
        let ns = locate::namespace(&mut conn, ctx, id).await?;
        load_one(&mut conn, ctx, ns.id, key)
            .await?
            .map(Item::from)
            .ok_or_else(|| item_missing(id, key))
    }

    /// Deletes an item and records `item.delete` with its last value. `version`: `None`
    /// deletes whatever is there, `Some(v)` only version `v` (else Conflict). NotFound when
    /// the item does not exist.
    pub async fn delete_item(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        key: &str,
        version: Option<i64>,
        actor: &str,
    ) -> Result<()> {
        input::expected_version(version)?;
        input::text("actor", actor)?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let ns = locate::lock_namespace(tx, ctx, id).await?;
                    let current = load_one(&mut Conn::Tx(tx), ctx, ns.id, key)
                        .await?
                        .ok_or_else(|| item_missing(id, key))?;
                    if let Some(expected) = version
                        && expected != current.version
                    {
                        return Err(stale(key, expected, Some(current.version)));
                    }
                    let sql = tx.dialect().sql(
                        "DELETE FROM cc_items WHERE namespace_id = ? AND item_key = ? AND version = ?",
                    );
                    let done = tx
                        .execute(
                            ctx,
                            sqlx::query(sql)
                                .bind(ns.id)
                                .bind(key)
                                .bind(current.version),
                        )
                        .await?;
                    if done.rows_affected() != 1 {
                        return Err(stale(key, current.version, None));
                    }
                    history::record(
                        tx,
                        ctx,
                        Event::in_namespace(
                            id,
                            ns.id,
                            actor,
                            "item.delete",
                            key,
                            json!({ "old": current.item_value, "old_version": current.version }),
                        ),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }
}
