//! Namespaces as documents — one text per namespace, compared by MD5 — for text clients (the
//! Nacos API): read, publish (with compare-and-set), gray ("beta") publish, delete, and waiting
//! until the MD5 a client holds is out of date.
//!
//! A document is read from the exact namespace asked (no `default` cluster fallback: a text
//! client names its config exactly), and a namespace without a release has no document.

use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;

use super::ConfigCenter;
use super::served::ClientId;
use crate::store::{DocumentWrite, GrayDocument, NewGray};
use crate::{Error, Format, GrayRelease, GrayRules, NamespaceId, Release, Result};

/// What a text client is served for a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedDocument {
    /// The whole document (see [`crate::document::text_of`]).
    pub text: Arc<str>,
    /// The lowercase hex MD5 of `text`.
    pub md5: Arc<str>,
    /// The namespace's format.
    pub format: Format,
    /// The type the document was published as; `None` for releases made natively.
    pub content_type: Option<String>,
    /// The release it comes from.
    pub release_key: String,
    /// When that release was made (Unix ms).
    pub modified_at: i64,
    /// Whether it is the namespace's gray release (the client matched its rules).
    pub gray: bool,
}

impl ConfigCenter {
    /// The document `client` is served for namespace `id`; `None` when the namespace does not
    /// exist or has no release yet.
    pub async fn document(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        client: &ClientId,
    ) -> Result<Option<ServedDocument>> {
        let served = match self.served(ctx, id).await {
            Ok(served) => served,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(served
            .document(client)
            .map(|(release, document, gray)| ServedDocument {
                text: document.text,
                md5: document.md5,
                format: served.format,
                content_type: release.content_type.clone(),
                release_key: release.release_key.clone(),
                modified_at: release.created_at,
                gray,
            }))
    }

    /// Whether the MD5 of the document `client` is served for `id` is `held` (`""`: the client
    /// holds none, true when there is none).
    pub async fn document_md5_is(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        client: &ClientId,
        held: &str,
    ) -> Result<bool> {
        match self.served(ctx, id).await {
            Ok(served) => Ok(served.md5_for(client) == held),
            Err(Error::NotFound(_)) => Ok(held.is_empty()),
            Err(e) => Err(e),
        }
    }

    /// Publishes `document` as namespace `id`'s configuration (creating the app and namespace
    /// when missing) and wakes its watchers everywhere. With `expect_md5`, only if the current
    /// document's MD5 is that (or there is none yet): Conflict otherwise.
    pub async fn publish_document(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        document: DocumentWrite<'_>,
        expect_md5: Option<&str>,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<Release> {
        let key = self.new_release_key();
        let release = self
            .store
            .publish_document(ctx, id, document, &key, expect_md5, actor, detail)
            .await?;
        self.released(ctx, id, Some(&release)).await;
        Ok(release)
    }

    /// Makes `gray.document` the gray release of namespace `id` for the clients `rules` match
    /// (the working copy and the main release stay), creating the namespace when missing. With
    /// `gray.expect_md5`, only if the active gray release's document has that MD5 (or there is
    /// none): Conflict otherwise.
    pub async fn gray_document(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        gray: GrayDocument<'_>,
        rules: &GrayRules,
        actor: &str,
    ) -> Result<GrayRelease> {
        rules.validate()?;
        // A beta of a config that has no formal release yet is allowed (as in Nacos).
        self.store
            .ensure_namespace(ctx, id, gray.document.format, actor)
            .await?;
        let key = self.new_release_key();
        let gray = self
            .store
            .create_gray_document(
                ctx,
                id,
                NewGray {
                    release_key: &key,
                    name: "beta",
                    comment: "",
                    rules,
                },
                gray,
                actor,
            )
            .await?;
        self.released(ctx, id, None).await;
        Ok(gray)
    }

    /// Ends namespace `id`'s gray release, whichever it is; false when there was none.
    pub async fn end_gray(&self, ctx: &Context, id: &NamespaceId, actor: &str) -> Result<bool> {
        let Some(gray) = self.store.gray_release(ctx, id).await? else {
            return Ok(false);
        };
        match self
            .abandon_gray(ctx, id, &gray.release.release_key, actor)
            .await
        {
            Ok(()) => Ok(true),
            // Merged or ended concurrently: it is gone either way.
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes namespace `id` as a document (see [`crate::ConfigStore::delete_document`]) and
    /// tells its watchers everywhere; false when there was nothing to delete.
    pub async fn delete_document(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<bool> {
        let deleted = self.store.delete_document(ctx, id, actor, detail).await?;
        if deleted {
            match self.store.get_namespace(ctx, id).await {
                // The kept `application` namespace: it now serves nothing.
                Ok(_) => self.released(ctx, id, None).await,
                Err(_) => self.deleted(ctx, id).await,
            }
        }
        Ok(deleted)
    }

    /// Waits until the MD5 of the document `client` is served for one of `watches`
    /// (namespace, the MD5 the client holds, `""` for none) differs from the client's, or
    /// `timeout` passes. Returns the indexes of the watches that changed; empty on timeout or
    /// shutdown.
    pub async fn wait_for_documents(
        &self,
        ctx: &Context,
        watches: &[(NamespaceId, String)],
        client: &ClientId,
        timeout: Duration,
    ) -> Result<Vec<usize>> {
        // Subscribe before comparing, so a publish in between is not missed.
        let mut receivers = Vec::with_capacity(watches.len());
        for (id, _) in watches {
            receivers.push(self.notifier.subscribe(id));
        }
        self.wait_until_any(ctx, &mut receivers, timeout, |i| async move {
            let (id, held) = &watches[i];
            let same = self.document_md5_is(ctx, id, client, held).await?;
            Ok((!same).then_some(i))
        })
        .await
    }
}
