//! Releases: immutable snapshots of a namespace's items, as clients read them. The newest
//! release of a namespace (highest id) is its current one; a rollback is a new release that
//! restores an older one's configuration.

use keel_clog::Context;
use keel_db::Tx;
use serde_json::json;

use super::conn::Conn;
use super::history::{self, Event};
use super::rows::{ReleaseRow, encode_configs};
use super::{ConfigStore, conflict_on_unique, input, items, locate, now_ms, page_of, window};
use crate::{Error, NamespaceId, Page, PageRequest, Release, Result};

fn release_missing(id: &NamespaceId, key: &str) -> Error {
    Error::NotFound(format!("release {key:?} not found in namespace {id}"))
}

/// What a new release row holds.
pub(super) struct NewRelease<'a> {
    pub(super) namespace_id: i64,
    pub(super) release_key: &'a str,
    pub(super) name: &'a str,
    pub(super) comment: &'a str,
    /// The configuration as stored (see [`encode_configs`]).
    pub(super) configs: &'a str,
    pub(super) created_at: i64,
    pub(super) actor: &'a str,
    pub(super) rolled_back_from: Option<&'a str>,
    /// The client's Idempotency-Key, if it sent one.
    pub(super) idempotency_key: Option<&'a str>,
    /// The text it was published as, when its configs do not hold it byte for byte.
    pub(super) raw_content: Option<&'a str>,
    /// The type it was published as.
    pub(super) content_type: Option<&'a str>,
}

/// Inserts a release; Conflict when its key is taken (release keys are unique everywhere).
pub(super) async fn insert(tx: &mut Tx<'_>, ctx: &Context, new: &NewRelease<'_>) -> Result<()> {
    let sql = tx.dialect().insert(
        "cc_releases",
        &[
            "namespace_id",
            "release_key",
            "name",
            "comment",
            "configs",
            "created_at",
            "created_by",
            "rolled_back_from",
            "idempotency_key",
            "raw_content",
            "content_type",
        ],
        None,
    )?;
    tx.execute(
        ctx,
        sqlx::query(sql)
            .bind(new.namespace_id)
            .bind(new.release_key)
            .bind(new.name)
            .bind(new.comment)
            .bind(new.configs)
            .bind(new.created_at)
            .bind(new.actor)
            .bind(new.rolled_back_from)
            .bind(new.idempotency_key)
            .bind(new.raw_content)
            .bind(new.content_type),
    )
    .await
    .map_err(|e| {
        conflict_on_unique(e.into(), || {
            format!("release key {:?} is already used", new.release_key)
        })
    })?;
    Ok(())
}

/// The namespace's newest release, if any.
pub(super) async fn newest(
    conn: &mut Conn<'_, '_>,
    ctx: &Context,
    namespace_id: i64,
) -> Result<Option<ReleaseRow>> {
    let sql = conn.dialect().sql(
        "SELECT release_key, name, comment, configs, created_at, created_by, rolled_back_from, \
         raw_content, content_type FROM cc_releases WHERE namespace_id = ? ORDER BY id DESC LIMIT 1",
    );
    Ok(conn
        .fetch_optional(ctx, sqlx::query_as(sql).bind(namespace_id))
        .await?)
}

/// How a release of a namespace is looked up.
#[derive(Clone, Copy)]
enum ReleaseBy<'a> {
    /// Its release key.
    Key(&'a str),
    /// The Idempotency-Key it was made with.
    IdempotencyKey(&'a str),
}

/// The namespace's release found `by` its key or its Idempotency-Key, if any.
async fn find(
    conn: &mut Conn<'_, '_>,
    ctx: &Context,
    namespace_id: i64,
    by: ReleaseBy<'_>,
) -> Result<Option<ReleaseRow>> {
    // Static text per lookup: statements are cached by their SQL, and no column name is ever
    // spliced in at run time.
    let (portable, value) = match by {
        ReleaseBy::Key(key) => (
            "SELECT release_key, name, comment, configs, created_at, created_by, \
             rolled_back_from, raw_content, content_type FROM cc_releases WHERE namespace_id = ? AND release_key = ?",
            key,
        ),
        ReleaseBy::IdempotencyKey(key) => (
            "SELECT release_key, name, comment, configs, created_at, created_by, \
             rolled_back_from, raw_content, content_type FROM cc_releases WHERE namespace_id = ? AND idempotency_key = ?",
            key,
        ),
    };
    let sql = conn.dialect().sql(portable);
    Ok(conn
        .fetch_optional(ctx, sqlx::query_as(sql).bind(namespace_id).bind(value))
        .await?)
}

impl ConfigStore {
    /// Releases the namespace: snapshots every current item (key → value) in the same
    /// transaction, makes the snapshot the namespace's current release and records
    /// `release.create`. Conflict when `release_key` is already used.
    pub async fn create_release(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        release_key: &str,
        name: &str,
        comment: &str,
        actor: &str,
    ) -> Result<Release> {
        self.create_release_with(ctx, id, release_key, name, comment, actor, None)
            .await
    }

    /// [`create_release`](Self::create_release) remembering the client's Idempotency-Key:
    /// when the namespace already has a release made with `idempotency_key`, that release is
    /// returned and nothing is written (checked under the app lock, so concurrent repeats
    /// cannot both release).
    #[allow(clippy::too_many_arguments)] // create_release's arguments plus the key
    pub async fn create_release_once(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        release_key: &str,
        name: &str,
        comment: &str,
        actor: &str,
        idempotency_key: &str,
    ) -> Result<Release> {
        input::text("Idempotency-Key", idempotency_key)?;
        self.create_release_with(
            ctx,
            id,
            release_key,
            name,
            comment,
            actor,
            Some(idempotency_key),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)] // the two public forms above are the interface
    async fn create_release_with(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        release_key: &str,
        name: &str,
        comment: &str,
        actor: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Release> {
        input::release_key(release_key)?;
        input::text("release name", name)?;
        input::text("release comment", comment)?;
        input::text("actor", actor)?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    // Under the app lock no item write can slip between this read and the
                    // insert: the snapshot is exactly the working copy at release time.
                    let ns = locate::lock_namespace(tx, ctx, id).await?;
                    if let Some(key) = idempotency_key
                        && let Some(made) = find(
                            &mut Conn::Tx(tx),
                            ctx,
                            ns.id,
                            ReleaseBy::IdempotencyKey(key),
                        )
                        .await?
                    {
                        return made.into_release(id);
                    }
                    let configs = items::snapshot(&mut Conn::Tx(tx), ctx, ns.id).await?;
                    let stored = encode_configs(&configs)?;
                    let previous = newest(&mut Conn::Tx(tx), ctx, ns.id)
                        .await?
                        .map(|r| r.release_key);
                    let created_at = now_ms();
                    insert(
                        tx,
                        ctx,
                        &NewRelease {
                            namespace_id: ns.id,
                            release_key,
                            name,
                            comment,
                            configs: &stored,
                            created_at,
                            actor,
                            rolled_back_from: None,
                            idempotency_key,
                            raw_content: None,
                            content_type: None,
                        },
                    )
                    .await?;
                    history::record(
                        tx,
                        ctx,
                        Event::in_namespace(
                            id,
                            ns.id,
                            actor,
                            "release.create",
                            release_key,
                            json!({ "name": name, "comment": comment, "keys": configs.len(), "previous": previous }),
                        ),
                    )
                    .await?;
                    Ok(Release {
                        release_key: release_key.to_owned(),
                        namespace: id.clone(),
                        name: name.to_owned(),
                        comment: comment.to_owned(),
                        configs,
                        created_at,
                        created_by: actor.to_owned(),
                        rolled_back_from: None,
                        raw_content: None,
                        content_type: None,
                    })
                })
            })
            .await
    }

    /// The namespace's current release (its newest), or `None` before the first release.
    pub async fn current_release(
        &self,
        ctx: &Context,
        id: &NamespaceId,
    ) -> Result<Option<Release>> {
        let mut conn = Conn::Pool(&self.db);
        let ns = locate::namespace(&mut conn, ctx, id).await?;
        newest(&mut conn, ctx, ns.id)
            .await?
            .map(|r| r.into_release(id))
            .transpose()
    }

    /// One release of the namespace; NotFound when `release_key` is not one of its releases.
    pub async fn get_release(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        release_key: &str,
    ) -> Result<Release> {
        let mut conn = Conn::Pool(&self.db);
        let ns = locate::namespace(&mut conn, ctx, id).await?;
        find(&mut conn, ctx, ns.id, ReleaseBy::Key(release_key))
            .await?
            .ok_or_else(|| release_missing(id, release_key))?
            .into_release(id)
    }

    /// One page of the namespace's releases, newest first.
    pub async fn list_releases(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        page: PageRequest,
    ) -> Result<Page<Release>> {
        let (limit, offset) = window(page)?;
        let ns = locate::namespace(&mut Conn::Pool(&self.db), ctx, id).await?;
        let d = self.db.dialect();
        let (total,): (i64,) = self
            .db
            .fetch_one(
                ctx,
                sqlx::query_as(d.sql("SELECT COUNT(*) FROM cc_releases WHERE namespace_id = ?"))
                    .bind(ns.id),
            )
            .await?;
        let rows: Vec<ReleaseRow> = self
            .db
            .fetch_all(
                ctx,
                sqlx::query_as(d.sql(
                    "SELECT release_key, name, comment, configs, created_at, created_by, \
                     rolled_back_from, raw_content, content_type FROM cc_releases WHERE namespace_id = ? \
                     ORDER BY id DESC LIMIT ? OFFSET ?",
                ))
                .bind(ns.id)
                .bind(limit)
                .bind(offset),
            )
            .await?;
        let releases = rows
            .into_iter()
            .map(|r| r.into_release(id))
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(releases, total, page))
    }

    /// Rolls the namespace back to release `target_key`: a new release `new_key` with the
    /// target's configuration (same name, `rolled_back_from = target_key`) becomes current,
    /// and `release.rollback` is recorded. The working copy (items) is left as it is.
    /// NotFound when the target is not a release of this namespace; Conflict when `new_key`
    /// is already used.
    pub async fn rollback(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        target_key: &str,
        new_key: &str,
        actor: &str,
    ) -> Result<Release> {
        input::release_key(new_key)?;
        input::text("actor", actor)?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let ns = locate::lock_namespace(tx, ctx, id).await?;
                    let mut conn = Conn::Tx(tx);
                    let target = find(&mut conn, ctx, ns.id, ReleaseBy::Key(target_key))
                        .await?
                        .ok_or_else(|| release_missing(id, target_key))?;
                    let previous = newest(&mut conn, ctx, ns.id).await?.map(|r| r.release_key);
                    let comment = format!("rollback to release {target_key}");
                    let created_at = now_ms();
                    // The target's stored text is copied as it is: byte for byte its
                    // configuration, without a decode/encode round trip.
                    insert(
                        tx,
                        ctx,
                        &NewRelease {
                            namespace_id: ns.id,
                            release_key: new_key,
                            name: &target.name,
                            comment: &comment,
                            configs: &target.configs,
                            created_at,
                            actor,
                            rolled_back_from: Some(target_key),
                            idempotency_key: None,
                            raw_content: target.raw_content.as_deref(),
                            content_type: target.content_type.as_deref(),
                        },
                    )
                    .await?;
                    history::record(
                        tx,
                        ctx,
                        Event::in_namespace(
                            id,
                            ns.id,
                            actor,
                            "release.rollback",
                            new_key,
                            json!({ "target": target_key, "previous": previous }),
                        ),
                    )
                    .await?;
                    let mut release = target.into_release(id)?;
                    release.release_key = new_key.to_owned();
                    release.comment = comment;
                    release.created_at = created_at;
                    release.created_by = actor.to_owned();
                    release.rolled_back_from = Some(target_key.to_owned());
                    Ok(release)
                })
            })
            .await
    }
}
