//! Groups of a tenant: create, read, update, delete (refused while it has services), list;
//! and the group lock every service creation takes.

use keel_clog::Context;
use keel_db::Tx;

use super::rows::{GroupRow, encode_tokens, group_columns};
use super::{RegistryStore, conflict_on_unique, group_missing, page_of, window};
use crate::{Error, Group, GroupSettings, Page, Result, now_millis, validate_name};

/// How often [`ensure_locked`] re-creates a group that a concurrent delete removed before
/// giving up; one retry is all an ordinary race needs.
const ENSURE_ATTEMPTS: usize = 3;

/// Locks the group's row until the transaction ends and returns it, or `None` when there is
/// no such group (also when a concurrent delete committed while this waited for the lock).
pub(super) async fn lock(
    tx: &mut Tx<'_>,
    ctx: &Context,
    tenant: &str,
    name: &str,
) -> Result<Option<GroupRow>> {
    let d = tx.dialect();
    // SQLite has no FOR UPDATE: its transactions already hold the write lock.
    let sql = if d.for_update().is_empty() {
        d.sql(concat!(
            "SELECT ",
            group_columns!(),
            " FROM reg_groups WHERE tenant = ? AND name = ?"
        ))
    } else {
        d.sql(concat!(
            "SELECT ",
            group_columns!(),
            " FROM reg_groups WHERE tenant = ? AND name = ? FOR UPDATE"
        ))
    };
    Ok(tx
        .fetch_optional(ctx, sqlx::query_as(sql).bind(tenant).bind(name))
        .await?)
}

/// Creates the group (no description, open to anyone) unless it exists, locks it, and
/// returns its row id.
pub(super) async fn ensure_locked(
    tx: &mut Tx<'_>,
    ctx: &Context,
    tenant: &str,
    name: &str,
) -> Result<i64> {
    let insert_if_absent = tx.dialect().upsert(
        "reg_groups",
        &[
            "tenant",
            "name",
            "description",
            "register_tokens",
            "created_at",
            "updated_at",
        ],
        &["tenant", "name"],
        &[],
    )?;
    let now = now_millis();
    for _ in 0..ENSURE_ATTEMPTS {
        // Insert before locking: on MySQL a FOR UPDATE on a missing row takes a gap lock, and
        // two such creators would then deadlock on their inserts. The insert instead waits
        // for a concurrent creator's insert to commit and then does nothing.
        tx.execute(
            ctx,
            sqlx::query(insert_if_absent.clone())
                .bind(tenant)
                .bind(name)
                .bind("")
                .bind("[]")
                .bind(now)
                .bind(now),
        )
        .await?;
        // Missing only when a delete of the group committed between the insert and the lock:
        // the next insert then creates it afresh.
        if let Some(row) = lock(tx, ctx, tenant, name).await? {
            return Ok(row.id);
        }
    }
    Err(Error::Conflict(format!(
        "group {tenant}/{name} was deleted again and again while a service was created in it; retry"
    )))
}

impl RegistryStore {
    /// Creates a group. Conflict when the tenant already has a group of that name (creating a
    /// service creates its group too).
    pub async fn create_group(
        &self,
        ctx: &Context,
        tenant: &str,
        name: &str,
        settings: &GroupSettings,
    ) -> Result<Group> {
        validate_name("tenant", tenant)?;
        validate_name("groupName", name)?;
        settings.validate()?;
        let now = now_millis();
        let tokens = settings.register_tokens.clone().unwrap_or_default();
        let tokens_json = encode_tokens(&tokens)?;
        let group = Group {
            tenant: tenant.to_owned(),
            name: name.to_owned(),
            description: settings.description.clone().unwrap_or_default(),
            register_token_count: tokens.len(),
            register_tokens: tokens,
            created_at: now,
            updated_at: now,
        };
        let exists = || format!("group {tenant}/{name} already exists");
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let insert = tx.dialect().insert(
                        "reg_groups",
                        &[
                            "tenant",
                            "name",
                            "description",
                            "register_tokens",
                            "created_at",
                            "updated_at",
                        ],
                        None,
                    )?;
                    // The unique key (tenant, name) decides between concurrent creators.
                    tx.execute(
                        ctx,
                        sqlx::query(insert)
                            .bind(tenant)
                            .bind(name)
                            .bind(group.description.as_str())
                            .bind(tokens_json)
                            .bind(now)
                            .bind(now),
                    )
                    .await
                    .map_err(|e| conflict_on_unique(e.into(), exists))?;
                    Ok(group)
                })
            })
            .await
    }

    /// One group; NotFound (`group t/g does not exist`) when there is none.
    pub async fn get_group(&self, ctx: &Context, tenant: &str, name: &str) -> Result<Group> {
        let sql = self.db.dialect().sql(concat!(
            "SELECT ",
            group_columns!(),
            " FROM reg_groups WHERE tenant = ? AND name = ?"
        ));
        let row: Option<GroupRow> = self
            .db
            .fetch_optional(ctx, sqlx::query_as(sql).bind(tenant).bind(name))
            .await?;
        row.ok_or_else(|| group_missing(tenant, name))?.try_into()
    }

    /// Changes a group's description and/or register tokens (fields left `None` stay) and
    /// returns it; NotFound when there is no such group.
    pub async fn update_group(
        &self,
        ctx: &Context,
        tenant: &str,
        name: &str,
        settings: &GroupSettings,
    ) -> Result<Group> {
        settings.validate()?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let row = lock(tx, ctx, tenant, name)
                        .await?
                        .ok_or_else(|| group_missing(tenant, name))?;
                    let id = row.id;
                    let mut group: Group = row.try_into()?;
                    if let Some(description) = &settings.description {
                        group.description.clone_from(description);
                    }
                    if let Some(tokens) = &settings.register_tokens {
                        group.register_tokens.clone_from(tokens);
                        group.register_token_count = tokens.len();
                    }
                    group.updated_at = now_millis();
                    let sql = tx.dialect().sql(
                        "UPDATE reg_groups SET description = ?, register_tokens = ?, \
                         updated_at = ? WHERE id = ?",
                    );
                    tx.execute(
                        ctx,
                        sqlx::query(sql)
                            .bind(group.description.as_str())
                            .bind(encode_tokens(&group.register_tokens)?)
                            .bind(group.updated_at)
                            .bind(id),
                    )
                    .await?;
                    Ok(group)
                })
            })
            .await
    }

    /// Deletes a group. NotFound when there is none; Conflict while it still has services
    /// (delete them first).
    pub async fn delete_group(&self, ctx: &Context, tenant: &str, name: &str) -> Result<()> {
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    // Service creation locks the group too, so no service appears between
                    // the count and the delete.
                    let row = lock(tx, ctx, tenant, name)
                        .await?
                        .ok_or_else(|| group_missing(tenant, name))?;
                    let d = tx.dialect();
                    let count = d.sql("SELECT COUNT(*) FROM reg_services WHERE group_id = ?");
                    let delete = d.sql("DELETE FROM reg_groups WHERE id = ?");
                    let (services,): (i64,) = tx
                        .fetch_one(ctx, sqlx::query_as(count).bind(row.id))
                        .await?;
                    if services > 0 {
                        return Err(Error::Conflict(format!(
                            "group {tenant}/{name} still has {services} service(s); delete them first"
                        )));
                    }
                    tx.execute(ctx, sqlx::query(delete).bind(row.id)).await?;
                    Ok(())
                })
            })
            .await
    }

    /// One page (from 1, 1 to 1000 entries) of the tenant's groups, ordered by name.
    pub async fn list_groups(
        &self,
        ctx: &Context,
        tenant: &str,
        page: u32,
        size: u32,
    ) -> Result<Page<Group>> {
        let (limit, offset) = window(page, size)?;
        let d = self.db.dialect();
        let (total,): (i64,) = self
            .db
            .fetch_one(
                ctx,
                sqlx::query_as(d.sql("SELECT COUNT(*) FROM reg_groups WHERE tenant = ?"))
                    .bind(tenant),
            )
            .await?;
        let sql = d.sql(concat!(
            "SELECT ",
            group_columns!(),
            " FROM reg_groups WHERE tenant = ? ORDER BY name LIMIT ? OFFSET ?"
        ));
        let rows: Vec<GroupRow> = self
            .db
            .fetch_all(
                ctx,
                sqlx::query_as(sql).bind(tenant).bind(limit).bind(offset),
            )
            .await?;
        let items = rows
            .into_iter()
            .map(Group::try_from)
            .collect::<Result<_>>()?;
        Ok(page_of(items, total, page, size))
    }

    /// Every group of every tenant, ordered by tenant and name (a node's start-up).
    pub async fn all_groups(&self, ctx: &Context) -> Result<Vec<Group>> {
        let sql = self.db.dialect().sql(concat!(
            "SELECT ",
            group_columns!(),
            " FROM reg_groups ORDER BY tenant, name"
        ));
        let rows: Vec<GroupRow> = self.db.fetch_all(ctx, sqlx::query_as(sql)).await?;
        rows.into_iter().map(Group::try_from).collect()
    }
}
