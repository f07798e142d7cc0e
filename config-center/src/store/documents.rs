//! Documents: a namespace written as one text — what the Nacos API publishes, beta-publishes
//! and deletes — next to the item-by-item working copy.
//!
//! A published document becomes the working copy (items added, updated and deleted to match
//! it) and a release in one transaction, so native and text clients always agree on what is
//! current. A properties text is parsed into items and also kept as published
//! ([`Release::raw_content`]); any other format is its `content` item, byte for byte.

use std::collections::BTreeMap;

use keel_clog::Context;
use serde_json::json;

use super::conn::Conn;
use super::history::{self, Event};
use super::releases::{self, NewRelease};
use super::rows::{HistoryRow, ReleaseRow, encode_configs};
use super::{ConfigStore, input, items, locate, now_ms, page_of, window};
use crate::document::{md5_hex, parse_properties, text_of};
use crate::{
    CONTENT_KEY, ClusterId, DEFAULT_CLUSTER, DEFAULT_NAMESPACE, Error, Format, HistoryEntry, Item,
    NamespaceId, NewApp, Page, PageRequest, Release, Result,
};

/// Longest declared document type (`properties`, `json`, `html`, ...).
const MAX_CONTENT_TYPE_LEN: usize = 32;

/// A namespace written as one text.
#[derive(Debug, Clone, Copy)]
pub struct DocumentWrite<'a> {
    /// How the text is written; the namespace takes this format.
    pub format: Format,
    /// The whole document.
    pub text: &'a str,
    /// The type the writer declared (kept and shown back, e.g. `html` for a `text` namespace).
    pub content_type: &'a str,
}

/// A document checked and parsed into the items it sets.
pub(super) struct ParsedDocument<'a> {
    format: Format,
    text: &'a str,
    pub(super) content_type: &'a str,
    pub(super) configs: BTreeMap<String, String>,
}

impl<'a> ParsedDocument<'a> {
    /// Checks `doc` (size, type, the document against its format, properties keys as keel
    /// stores keys) and parses it.
    pub(super) fn parse(doc: DocumentWrite<'a>) -> Result<Self> {
        input::text("content", doc.text)?;
        if doc.content_type.is_empty()
            || doc.content_type.len() > MAX_CONTENT_TYPE_LEN
            || !doc
                .content_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
        {
            return Err(Error::Invalid(format!(
                "content type {:?} must be 1 to {MAX_CONTENT_TYPE_LEN} letters, digits, '-', '_', '.' or '/'",
                doc.content_type
            )));
        }
        let configs = match doc.format {
            Format::Properties => {
                let configs = parse_properties(doc.text)?;
                for (key, value) in &configs {
                    input::item_key(key)?;
                    input::text("item value", value)?;
                }
                configs
            }
            other => {
                crate::validate::content(other, doc.text)?;
                BTreeMap::from([(CONTENT_KEY.to_owned(), doc.text.to_owned())])
            }
        };
        Ok(ParsedDocument {
            format: doc.format,
            text: doc.text,
            content_type: doc.content_type,
            configs,
        })
    }

    /// The text to keep beside the items: only where the items do not hold it byte for byte.
    pub(super) fn raw(&self) -> Option<&'a str> {
        (self.format == Format::Properties).then_some(self.text)
    }

    /// A gray document must be written as its namespace is (the gray and main releases are
    /// read alike).
    pub(super) fn fits(&self, format: Format, id: &NamespaceId) -> Result<()> {
        if self.format == format {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "namespace {id} is {format}; publish it as {format} (a gray release cannot change the format)"
        )))
    }
}

/// Actions that change what a namespace serves, the ones a config's history shows.
pub const SERVING_ACTIONS: &[&str] = &[
    "release.create",
    "release.rollback",
    "gray.create",
    "gray.merge",
    "gray.abandon",
    "namespace.delete",
];

impl ConfigStore {
    /// Publishes `document` as namespace `id`'s configuration: creates the app (owner
    /// `actor`), its `default` cluster and the namespace when missing, makes the working copy
    /// match the document, and releases it as `release_key` — all of it, or nothing, in the
    /// namespace's transaction. `detail` goes into the `release.create` history entry (who
    /// published from where). A document of another format changes the namespace's format
    /// (and ends its gray release, which was written in the old one).
    ///
    /// With `expect_md5`, the publish happens only if the namespace has no release yet or the
    /// MD5 of its current document is `expect_md5` (compare-and-set); otherwise Conflict.
    #[allow(clippy::too_many_arguments)] // one call of the Nacos publish
    pub async fn publish_document(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        document: DocumentWrite<'_>,
        release_key: &str,
        expect_md5: Option<&str>,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<Release> {
        check_names(id)?;
        input::release_key(release_key)?;
        input::text("actor", actor)?;
        let parsed = ParsedDocument::parse(document)?;
        self.ensure_namespace(ctx, id, document.format, actor)
            .await?;
        let parsed = &parsed;
        let detail = &detail;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let ns = locate::lock_namespace(tx, ctx, id).await?;
                    let previous = releases::newest(&mut Conn::Tx(tx), ctx, ns.id)
                        .await?
                        .map(|row| row.into_release(id))
                        .transpose()?;
                    if let (Some(expected), Some(previous)) = (expect_md5, &previous) {
                        let current = md5_hex(&text_of(previous, ns.format));
                        if current != expected {
                            return Err(Error::Conflict(format!(
                                "namespace {id} changed: its document's MD5 is {current}, not {expected}"
                            )));
                        }
                    }
                    if ns.format != parsed.format {
                        let sql = tx
                            .dialect()
                            .sql("UPDATE cc_namespaces SET format = ? WHERE id = ?");
                        tx.execute(
                            ctx,
                            sqlx::query(sql).bind(parsed.format.as_str()).bind(ns.id),
                        )
                        .await?;
                        // A gray release of the old format would no longer read as one
                        // document of the namespace: it ends with the change of format.
                        let sql = tx
                            .dialect()
                            .sql("DELETE FROM cc_gray_releases WHERE namespace_id = ?");
                        tx.execute(ctx, sqlx::query(sql).bind(ns.id)).await?;
                    }
                    let changed = replace_items(tx, ctx, ns.id, &parsed.configs, actor).await?;
                    history::record(
                        tx,
                        ctx,
                        Event::in_namespace(id, ns.id, actor, "items.replace", &id.namespace, changed),
                    )
                    .await?;
                    let stored = encode_configs(&parsed.configs)?;
                    let created_at = now_ms();
                    let raw_content = parsed.raw();
                    releases::insert(
                        tx,
                        ctx,
                        &NewRelease {
                            namespace_id: ns.id,
                            release_key,
                            name: "",
                            comment: "",
                            configs: &stored,
                            created_at,
                            actor,
                            rolled_back_from: None,
                            idempotency_key: None,
                            raw_content,
                            content_type: Some(parsed.content_type),
                        },
                    )
                    .await?;
                    let mut event = json!({
                        "keys": parsed.configs.len(),
                        "format": parsed.format.as_str(),
                        "type": parsed.content_type,
                        "content": parsed.text,
                        "md5": md5_hex(parsed.text),
                        "previous": previous.as_ref().map(|r| r.release_key.as_str()),
                    });
                    merge(&mut event, detail);
                    history::record(
                        tx,
                        ctx,
                        Event::in_namespace(id, ns.id, actor, "release.create", release_key, event),
                    )
                    .await?;
                    Ok(Release {
                        release_key: release_key.to_owned(),
                        namespace: id.clone(),
                        name: String::new(),
                        comment: String::new(),
                        configs: parsed.configs.clone(),
                        created_at,
                        created_by: actor.to_owned(),
                        rolled_back_from: None,
                        raw_content: raw_content.map(str::to_owned),
                        content_type: Some(parsed.content_type.to_owned()),
                    })
                })
            })
            .await
    }

    /// The app, its `default` cluster and namespace `id` (format `format`), created when
    /// missing. Each is its own small transaction; a concurrent creator wins harmlessly.
    pub(crate) async fn ensure_namespace(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        format: Format,
        actor: &str,
    ) -> Result<()> {
        match locate::namespace(&mut Conn::Pool(&self.db), ctx, id).await {
            Ok(_) => return Ok(()),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let app = NewApp {
            name: id.app.clone(),
            description: String::new(),
            owner: actor.to_owned(),
        };
        ignore_conflict(self.create_app(ctx, &id.env, &app, actor).await)?;
        let cluster = ClusterId {
            env: id.env.clone(),
            app: id.app.clone(),
            cluster: id.cluster.clone(),
        };
        if id.cluster != DEFAULT_CLUSTER {
            ignore_conflict(self.create_cluster(ctx, &cluster, actor).await)?;
        }
        ignore_conflict(
            self.create_namespace(ctx, &cluster, &id.namespace, format, actor)
                .await,
        )
    }

    /// Deletes namespace `id` as a document: the namespace with its items and releases (for the
    /// `application` namespace of the `default` cluster, which every app keeps, only its items,
    /// releases and gray release), recording `namespace.delete` with the document it served.
    /// False when there was nothing to delete.
    pub async fn delete_document(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<bool> {
        check_names(id)?;
        input::text("actor", actor)?;
        let detail = &detail;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let ns = match locate::lock_namespace(tx, ctx, id).await {
                        Ok(ns) => ns,
                        Err(Error::NotFound(_)) => return Ok(false),
                        Err(e) => return Err(e),
                    };
                    let newest = releases::newest(&mut Conn::Tx(tx), ctx, ns.id)
                        .await?
                        .map(|row| row.into_release(id))
                        .transpose()?;
                    let kept = id.cluster == DEFAULT_CLUSTER && id.namespace == DEFAULT_NAMESPACE;
                    if kept {
                        if newest.is_none() {
                            return Ok(false);
                        }
                        for sql in [
                            "DELETE FROM cc_items WHERE namespace_id = ?",
                            "DELETE FROM cc_releases WHERE namespace_id = ?",
                            "DELETE FROM cc_gray_releases WHERE namespace_id = ?",
                        ] {
                            let sql = tx.dialect().sql(sql);
                            tx.execute(ctx, sqlx::query(sql).bind(ns.id)).await?;
                        }
                    } else {
                        // ON DELETE CASCADE removes its items, releases and gray release.
                        let sql = tx.dialect().sql("DELETE FROM cc_namespaces WHERE id = ?");
                        tx.execute(ctx, sqlx::query(sql).bind(ns.id)).await?;
                    }
                    let text = newest.as_ref().map(|r| text_of(r, ns.format).into_owned());
                    let mut event = json!({
                        "release": newest.as_ref().map(|r| r.release_key.as_str()),
                        "format": ns.format.as_str(),
                        "type": newest.as_ref().and_then(|r| r.content_type.as_deref()),
                        "md5": text.as_deref().map(md5_hex),
                        "content": text,
                        "kept": kept,
                    });
                    merge(&mut event, detail);
                    history::record(
                        tx,
                        ctx,
                        Event::in_namespace(
                            id,
                            ns.id,
                            actor,
                            "namespace.delete",
                            &id.namespace,
                            event,
                        ),
                    )
                    .await?;
                    Ok(true)
                })
            })
            .await
    }

    /// The entries that changed what namespace `id` serves ([`SERVING_ACTIONS`]) recorded
    /// under its names, newest first — also those of earlier namespaces of the same names,
    /// deleted since: a config's whole history.
    pub async fn serving_history(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        page: PageRequest,
    ) -> Result<Page<HistoryEntry>> {
        let (limit, offset) = window(page)?;
        let d = self.db.dialect();
        // Kept in step with SERVING_ACTIONS (statements are static text: no SQL is spliced).
        let count = d.sql(
            "SELECT COUNT(*) FROM cc_history WHERE env = ? AND app_name = ? AND cluster_name = ? \
             AND namespace_name = ? AND action IN ('release.create', 'release.rollback', \
             'gray.create', 'gray.merge', 'gray.abandon', 'namespace.delete')",
        );
        let (total,): (i64,) = self
            .db
            .fetch_one(
                ctx,
                sqlx::query_as(count)
                    .bind(id.env.as_str())
                    .bind(id.app.as_str())
                    .bind(id.cluster.as_str())
                    .bind(id.namespace.as_str()),
            )
            .await?;
        let select = d.sql(
            "SELECT id, created_at, actor, action, target, detail FROM cc_history \
             WHERE env = ? AND app_name = ? AND cluster_name = ? AND namespace_name = ? \
             AND action IN ('release.create', 'release.rollback', 'gray.create', 'gray.merge', \
             'gray.abandon', 'namespace.delete') ORDER BY id DESC LIMIT ? OFFSET ?",
        );
        let rows: Vec<HistoryRow> = self
            .db
            .fetch_all(
                ctx,
                sqlx::query_as(select)
                    .bind(id.env.as_str())
                    .bind(id.app.as_str())
                    .bind(id.cluster.as_str())
                    .bind(id.namespace.as_str())
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

    /// One history entry by its id, with the names of the namespace it was recorded under.
    pub async fn history_entry(
        &self,
        ctx: &Context,
        entry: i64,
    ) -> Result<Option<(NamespaceId, HistoryEntry)>> {
        #[derive(sqlx::FromRow)]
        struct Located {
            env: String,
            app_name: String,
            cluster_name: String,
            namespace_name: String,
            #[sqlx(flatten)]
            row: HistoryRow,
        }
        let sql = self.db.dialect().sql(
            "SELECT env, app_name, cluster_name, namespace_name, id, created_at, actor, action, \
             target, detail FROM cc_history WHERE id = ?",
        );
        let found: Option<Located> = self
            .db
            .fetch_optional(ctx, sqlx::query_as(sql).bind(entry))
            .await?;
        found
            .map(|l| {
                let id = NamespaceId {
                    env: l.env,
                    app: l.app_name,
                    cluster: l.cluster_name,
                    namespace: l.namespace_name,
                };
                HistoryEntry::try_from(l.row).map(|e| (id, e))
            })
            .transpose()
    }

    /// One page of the namespaces of `env`'s `default` clusters that have a release, by app and
    /// name, with their current releases; `app` and `namespace` (`None`: any) narrow it down.
    /// What a Nacos config listing shows.
    pub async fn list_documents(
        &self,
        ctx: &Context,
        env: &str,
        app: Option<&str>,
        namespace: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<(NamespaceId, Format, Release)>> {
        #[derive(sqlx::FromRow)]
        struct Listed {
            app_name: String,
            namespace_name: String,
            format: String,
            #[sqlx(flatten)]
            release: ReleaseRow,
        }
        let (limit, offset) = window(page)?;
        let d = self.db.dialect();
        // `'' = ?` switches a filter off: one static statement for every combination.
        let count = d.sql(
            "SELECT COUNT(*) FROM cc_apps a \
             JOIN cc_clusters c ON c.app_id = a.id AND c.name = 'default' \
             JOIN cc_namespaces n ON n.cluster_id = c.id \
             WHERE a.env = ? AND ('' = ? OR a.name = ?) AND ('' = ? OR n.name = ?) \
             AND EXISTS (SELECT 1 FROM cc_releases r WHERE r.namespace_id = n.id)",
        );
        let (app, namespace) = (app.unwrap_or_default(), namespace.unwrap_or_default());
        let (total,): (i64,) = self
            .db
            .fetch_one(
                ctx,
                sqlx::query_as(count)
                    .bind(env)
                    .bind(app)
                    .bind(app)
                    .bind(namespace)
                    .bind(namespace),
            )
            .await?;
        let select = d.sql(
            "SELECT a.name AS app_name, n.name AS namespace_name, n.format, r.release_key, r.name, \
             r.comment, r.configs, r.created_at, r.created_by, r.rolled_back_from, r.raw_content, \
             r.content_type FROM cc_apps a \
             JOIN cc_clusters c ON c.app_id = a.id AND c.name = 'default' \
             JOIN cc_namespaces n ON n.cluster_id = c.id \
             JOIN cc_releases r ON r.id = \
               (SELECT MAX(r2.id) FROM cc_releases r2 WHERE r2.namespace_id = n.id) \
             WHERE a.env = ? AND ('' = ? OR a.name = ?) AND ('' = ? OR n.name = ?) \
             ORDER BY a.name, n.name LIMIT ? OFFSET ?",
        );
        let rows: Vec<Listed> = self
            .db
            .fetch_all(
                ctx,
                sqlx::query_as(select)
                    .bind(env)
                    .bind(app)
                    .bind(app)
                    .bind(namespace)
                    .bind(namespace)
                    .bind(limit)
                    .bind(offset),
            )
            .await?;
        let listed = rows
            .into_iter()
            .map(|row| {
                let id = NamespaceId {
                    env: env.to_owned(),
                    app: row.app_name,
                    cluster: DEFAULT_CLUSTER.to_owned(),
                    namespace: row.namespace_name,
                };
                let release = row.release.into_release(&id)?;
                Ok((id, Format::parse(&row.format)?, release))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(listed, total, page))
    }

    /// The document release `release_key` of namespace `id` served, if both still exist.
    pub async fn release_document(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        release_key: &str,
    ) -> Result<Option<String>> {
        let ns = match locate::namespace(&mut Conn::Pool(&self.db), ctx, id).await {
            Ok(ns) => ns,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        match self.get_release(ctx, id, release_key).await {
            Ok(release) => Ok(Some(text_of(&release, ns.format).into_owned())),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Every name of a namespace path.
fn check_names(id: &NamespaceId) -> Result<()> {
    input::name("env", &id.env)?;
    input::name("app", &id.app)?;
    input::name("cluster", &id.cluster)?;
    input::name("namespace", &id.namespace)
}

/// Makes the namespace's items exactly `configs`: unchanged keys keep their version, changed
/// ones get the next, new ones start at 1, the rest are deleted. Returns what changed (for the
/// history).
async fn replace_items(
    tx: &mut keel_db::Tx<'_>,
    ctx: &Context,
    namespace_id: i64,
    configs: &BTreeMap<String, String>,
    actor: &str,
) -> Result<serde_json::Value> {
    let old = items::load_all(&mut Conn::Tx(tx), ctx, namespace_id).await?;
    let now = now_ms();
    let (mut added, mut updated, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
    for row in &old {
        if !configs.contains_key(&row.item_key) {
            let sql = tx
                .dialect()
                .sql("DELETE FROM cc_items WHERE namespace_id = ? AND item_key = ?");
            tx.execute(
                ctx,
                sqlx::query(sql)
                    .bind(namespace_id)
                    .bind(row.item_key.as_str()),
            )
            .await?;
            deleted.push(row.item_key.as_str());
        }
    }
    for (key, value) in configs {
        let existing = old.iter().find(|row| &row.item_key == key);
        let item = |version| Item {
            key: key.clone(),
            value: value.clone(),
            comment: String::new(),
            version,
            updated_at: now,
            updated_by: actor.to_owned(),
        };
        match existing {
            Some(row) if &row.item_value == value => {}
            Some(row) => {
                let mut next = item(row.version + 1);
                next.comment = row.comment.clone();
                // Under the app lock the version read above is still current.
                if !items::update_row(tx, ctx, namespace_id, &next, row.version).await? {
                    return Err(Error::Conflict(format!(
                        "item {key:?} changed concurrently; publish again"
                    )));
                }
                updated.push(key.as_str());
            }
            None => {
                items::insert_row(tx, ctx, namespace_id, &item(1)).await?;
                added.push(key.as_str());
            }
        }
    }
    Ok(json!({ "added": added, "updated": updated, "deleted": deleted }))
}

/// `a` with `extra`'s fields added (when both are objects).
fn merge(a: &mut serde_json::Value, extra: &serde_json::Value) {
    if let (Some(a), Some(extra)) = (a.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            a.insert(k.clone(), v.clone());
        }
    }
}

/// A create that found the thing already there is fine here.
fn ignore_conflict<T>(result: Result<T>) -> Result<()> {
    match result {
        Ok(_) | Err(Error::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
