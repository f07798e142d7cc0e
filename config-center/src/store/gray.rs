//! Gray releases: at most one active per namespace (`cc_gray_releases`, keyed by namespace), a
//! snapshot of the working copy served only to the clients its rules match. Merging turns it
//! into a normal (current) release; abandoning drops it.

use keel_clog::Context;
use serde_json::json;

use super::conn::Conn;
use super::documents::{DocumentWrite, ParsedDocument};
use super::history::{self, Event};
use super::releases::{self, NewRelease};
use super::rows::{corrupt, decode_configs, encode_configs};
use super::{ConfigStore, conflict_on_unique, input, items, locate, now_ms};
use crate::document::{md5_hex, text_of};
use crate::{Error, Format, GrayRelease, GrayRules, NamespaceId, Release, Result};

/// A row of `cc_gray_releases`.
#[derive(sqlx::FromRow)]
struct GrayRow {
    release_key: String,
    name: String,
    comment: String,
    configs: String,
    rules: String,
    created_at: i64,
    created_by: String,
    raw_content: Option<String>,
    content_type: Option<String>,
}

impl GrayRow {
    fn into_gray(self, id: &NamespaceId) -> Result<GrayRelease> {
        let configs = decode_configs(&self.configs)?;
        let rules: GrayRules =
            serde_json::from_str(&self.rules).map_err(|e| corrupt("gray release rules", e))?;
        Ok(GrayRelease {
            release: Release {
                release_key: self.release_key,
                namespace: id.clone(),
                name: self.name,
                comment: self.comment,
                configs,
                created_at: self.created_at,
                created_by: self.created_by,
                rolled_back_from: None,
                raw_content: self.raw_content,
                content_type: self.content_type,
            },
            rules,
        })
    }
}

const SELECT: &str = "SELECT release_key, name, comment, configs, rules, created_at, created_by, \
                      raw_content, content_type FROM cc_gray_releases WHERE namespace_id = ?";

async fn active(
    conn: &mut Conn<'_, '_>,
    ctx: &Context,
    namespace_id: i64,
) -> Result<Option<GrayRow>> {
    let sql = conn.dialect().sql(SELECT);
    Ok(conn
        .fetch_optional(ctx, sqlx::query_as(sql).bind(namespace_id))
        .await?)
}

fn not_active(id: &NamespaceId, key: &str) -> Error {
    Error::NotFound(format!(
        "{key:?} is not the active gray release of namespace {id}"
    ))
}

/// A document made a gray release (a Nacos beta publish), and how.
#[derive(Debug, Clone, Copy)]
pub struct GrayDocument<'a> {
    /// The document.
    pub document: DocumentWrite<'a>,
    /// Compare-and-set: the MD5 the active gray release's document must have (any, when there
    /// is no active gray release).
    pub expect_md5: Option<&'a str>,
    /// Fields added to the history entry (who published it from where).
    pub detail: &'a serde_json::Value,
}

/// What a new gray release is made of (besides the working copy it snapshots).
#[derive(Debug, Clone, Copy)]
pub struct NewGray<'a> {
    /// Its key (unique among all releases).
    pub release_key: &'a str,
    /// A name.
    pub name: &'a str,
    /// Free text.
    pub comment: &'a str,
    /// Who gets it.
    pub rules: &'a GrayRules,
}

impl ConfigStore {
    /// Snapshots the working copy as the namespace's gray release for the clients `rules`
    /// match, replacing the active one (if any). Records `gray.create`.
    pub async fn create_gray(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        new: NewGray<'_>,
        actor: &str,
    ) -> Result<GrayRelease> {
        self.create_gray_with(ctx, id, new, None, actor).await
    }

    /// Makes `gray.document` (not the working copy, which stays as it is) the namespace's gray
    /// release for the clients `rules` match, replacing the active one (if any); a Nacos beta
    /// publish. With `gray.expect_md5`, only if there is no active gray release or the MD5 of
    /// its document is that (compare-and-set); Conflict otherwise. Records `gray.create`, with
    /// `gray.detail`'s fields added.
    pub async fn create_gray_document(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        new: NewGray<'_>,
        gray: GrayDocument<'_>,
        actor: &str,
    ) -> Result<GrayRelease> {
        self.create_gray_with(ctx, id, new, Some(gray), actor).await
    }

    async fn create_gray_with(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        new: NewGray<'_>,
        document: Option<GrayDocument<'_>>,
        actor: &str,
    ) -> Result<GrayRelease> {
        let parsed = document
            .map(|gray| ParsedDocument::parse(gray.document))
            .transpose()?;
        let expect_md5 = document.and_then(|gray| gray.expect_md5);
        let detail = document.map(|gray| gray.detail);
        let NewGray {
            release_key,
            name,
            comment,
            rules,
        } = new;
        input::release_key(release_key)?;
        input::text("release name", name)?;
        input::text("release comment", comment)?;
        input::text("actor", actor)?;
        rules.validate()?;
        let stored_rules =
            serde_json::to_string(rules).map_err(|e| Error::Invalid(format!("gray rules: {e}")))?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let ns = locate::lock_namespace(tx, ctx, id).await?;
                    let (configs, raw_content, content_type) = match &parsed {
                        Some(doc) => {
                            doc.fits(ns.format, id)?;
                            (doc.configs.clone(), doc.raw(), Some(doc.content_type))
                        }
                        None => (
                            items::snapshot(&mut Conn::Tx(tx), ctx, ns.id).await?,
                            None,
                            None,
                        ),
                    };
                    let stored = encode_configs(&configs)?;
                    let active = active(&mut Conn::Tx(tx), ctx, ns.id).await?;
                    let replaced = active.as_ref().map(|row| row.release_key.clone());
                    if let (Some(expected), Some(row)) = (expect_md5, active) {
                        let current = row.into_gray(id)?;
                        let current = md5_hex(&text_of(&current.release, ns.format));
                        if current != expected {
                            return Err(Error::Conflict(format!(
                                "the gray release of namespace {id} changed: its document's MD5 is {current}, not {expected}"
                            )));
                        }
                    }
                    let mut recorded = json!({ "name": name, "rules": rules, "replaced": replaced, "keys": configs.len() });
                    if let (Some(serde_json::Value::Object(extra)), Some(fields)) =
                        (detail, recorded.as_object_mut())
                    {
                        for (field, value) in extra {
                            fields.entry(field.clone()).or_insert_with(|| value.clone());
                        }
                    }
                    let delete = tx
                        .dialect()
                        .sql("DELETE FROM cc_gray_releases WHERE namespace_id = ?");
                    tx.execute(ctx, sqlx::query(delete).bind(ns.id)).await?;
                    let insert = tx.dialect().insert(
                        "cc_gray_releases",
                        &[
                            "namespace_id",
                            "release_key",
                            "name",
                            "comment",
                            "configs",
                            "rules",
                            "created_at",
                            "created_by",
                            "raw_content",
                            "content_type",
                        ],
                        None,
                    )?;
                    let created_at = now_ms();
                    tx.execute(
                        ctx,
                        sqlx::query(insert)
                            .bind(ns.id)
                            .bind(release_key)
                            .bind(name)
                            .bind(comment)
                            .bind(stored.as_str())
                            .bind(stored_rules.as_str())
                            .bind(created_at)
                            .bind(actor)
                            .bind(raw_content)
                            .bind(content_type),
                    )
                    .await
                    .map_err(|e| {
                        conflict_on_unique(e.into(), || {
                            format!("release key {release_key:?} is already used")
                        })
                    })?;
                    history::record(
                        tx,
                        ctx,
                        Event::in_namespace(
                            id,
                            ns.id,
                            actor,
                            "gray.create",
                            release_key,
                            recorded,
                        ),
                    )
                    .await?;
                    Ok(GrayRelease {
                        release: Release {
                            release_key: release_key.to_owned(),
                            namespace: id.clone(),
                            name: name.to_owned(),
                            comment: comment.to_owned(),
                            configs,
                            created_at,
                            created_by: actor.to_owned(),
                            rolled_back_from: None,
                            raw_content: raw_content.map(str::to_owned),
                            content_type: content_type.map(str::to_owned),
                        },
                        rules: rules.clone(),
                    })
                })
            })
            .await
    }

    /// The namespace's active gray release, if any.
    pub async fn gray_release(
        &self,
        ctx: &Context,
        id: &NamespaceId,
    ) -> Result<Option<GrayRelease>> {
        let mut conn = Conn::Pool(&self.db);
        let ns = locate::namespace(&mut conn, ctx, id).await?;
        active(&mut conn, ctx, ns.id)
            .await?
            .map(|row| row.into_gray(id))
            .transpose()
    }

    /// What the namespace serves: its current release and its active gray release, with one
    /// lookup of the namespace (a node loads both on every cache miss and every announcement).
    pub async fn current_and_gray(
        &self,
        ctx: &Context,
        id: &NamespaceId,
    ) -> Result<(Option<Release>, Option<GrayRelease>)> {
        let (_, current, gray) = self.serving(ctx, id).await?;
        Ok((current, gray))
    }

    /// [`current_and_gray`](Self::current_and_gray) with the namespace's format (how its
    /// releases read as one document).
    pub async fn serving(
        &self,
        ctx: &Context,
        id: &NamespaceId,
    ) -> Result<(Format, Option<Release>, Option<GrayRelease>)> {
        let mut conn = Conn::Pool(&self.db);
        let ns = locate::namespace(&mut conn, ctx, id).await?;
        let current = releases::newest(&mut conn, ctx, ns.id)
            .await?
            .map(|r| r.into_release(id))
            .transpose()?;
        let gray = active(&mut conn, ctx, ns.id)
            .await?
            .map(|row| row.into_gray(id))
            .transpose()?;
        Ok((ns.format, current, gray))
    }

    /// Makes the active gray release `gray_key` everyone's: a new release `new_key` with its
    /// configuration becomes current and the gray release ends. Records `gray.merge`.
    pub async fn merge_gray(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        gray_key: &str,
        new_key: &str,
        actor: &str,
    ) -> Result<Release> {
        input::release_key(new_key)?;
        input::text("actor", actor)?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let ns = locate::lock_namespace(tx, ctx, id).await?;
                    let gray = active(&mut Conn::Tx(tx), ctx, ns.id)
                        .await?
                        .filter(|row| row.release_key == gray_key)
                        .ok_or_else(|| not_active(id, gray_key))?;
                    let comment = format!("merge of gray release {gray_key}");
                    let created_at = now_ms();
                    releases::insert(
                        tx,
                        ctx,
                        &NewRelease {
                            namespace_id: ns.id,
                            release_key: new_key,
                            name: &gray.name,
                            comment: &comment,
                            configs: &gray.configs,
                            created_at,
                            actor,
                            rolled_back_from: None,
                            idempotency_key: None,
                            raw_content: gray.raw_content.as_deref(),
                            content_type: gray.content_type.as_deref(),
                        },
                    )
                    .await?;
                    let delete = tx
                        .dialect()
                        .sql("DELETE FROM cc_gray_releases WHERE namespace_id = ?");
                    tx.execute(ctx, sqlx::query(delete).bind(ns.id)).await?;
                    history::record(
                        tx,
                        ctx,
                        Event::in_namespace(
                            id,
                            ns.id,
                            actor,
                            "gray.merge",
                            new_key,
                            json!({ "gray": gray_key }),
                        ),
                    )
                    .await?;
                    let mut release = gray.into_gray(id)?.release;
                    release.release_key = new_key.to_owned();
                    release.comment = comment;
                    release.created_at = created_at;
                    release.created_by = actor.to_owned();
                    Ok(release)
                })
            })
            .await
    }

    /// Ends the active gray release `gray_key` without merging: its clients go back to the
    /// current release. Records `gray.abandon`.
    pub async fn abandon_gray(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        gray_key: &str,
        actor: &str,
    ) -> Result<()> {
        input::text("actor", actor)?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let ns = locate::lock_namespace(tx, ctx, id).await?;
                    let delete = tx.dialect().sql(
                        "DELETE FROM cc_gray_releases WHERE namespace_id = ? AND release_key = ?",
                    );
                    let done = tx
                        .execute(ctx, sqlx::query(delete).bind(ns.id).bind(gray_key))
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err(not_active(id, gray_key));
                    }
                    history::record(
                        tx,
                        ctx,
                        Event::in_namespace(id, ns.id, actor, "gray.abandon", gray_key, json!({})),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }
}
