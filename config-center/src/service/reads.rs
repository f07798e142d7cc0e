//! Client reads and waits: the namespace a client is served (with the `default` cluster
//! fallback), its configuration (304, incremental), and waiting until that changes.

use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;
use tokio::sync::watch;

use super::served::{ClientId, Served};
use super::{Changes, ConfigAnswer, ConfigCenter};
use crate::model::DEFAULT_CLUSTER;
use crate::{Error, NamespaceId, Release, Result};

/// A snapshot of what a namespace serves (its current release and gray release).
#[derive(Debug, Clone)]
pub struct Serving(Arc<Served>);

impl Serving {
    /// The release key `client` is served (`""` while the namespace has no release).
    pub fn release_key_for(&self, client: &ClientId) -> &str {
        self.0
            .for_client(client)
            .map_or("", |release| release.release_key.as_str())
    }

    /// The MD5 of the document `client` is served (`""` while the namespace has no release):
    /// what a text (Nacos) client holds. Computed once per release, on first use.
    pub fn document_md5_for(&self, client: &ClientId) -> &str {
        self.0.md5_for(client)
    }
}

impl ConfigCenter {
    /// The namespace a client of `id` is served: its own, or the `default` cluster's when its
    /// cluster does not have that namespace.
    pub async fn resolve(&self, ctx: &Context, id: &NamespaceId) -> Result<NamespaceId> {
        // A namespace with a cached release exists; it wins over a remembered fallback (it may
        // have been created since).
        if self.cached(id).is_some() {
            return Ok(id.clone());
        }
        if let Some(served) = self.cached_fallback(id) {
            return Ok(served);
        }
        match self.store.get_namespace(ctx, id).await {
            Ok(_) => Ok(id.clone()),
            Err(Error::NotFound(_)) if id.cluster != DEFAULT_CLUSTER => {
                let fallback = NamespaceId {
                    cluster: DEFAULT_CLUSTER.into(),
                    ..id.clone()
                };
                self.store.get_namespace(ctx, &fallback).await?;
                self.remember_fallback(id, &fallback);
                Ok(fallback)
            }
            Err(e) => Err(e),
        }
    }

    /// The release `client` is served for `id` (resolved), if any.
    async fn release_for(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        client: &ClientId,
    ) -> Result<Option<Arc<Release>>> {
        Ok(self.served(ctx, id).await?.for_client(client).cloned())
    }

    /// What a client holding `known` (a release key, or nothing) should get for `id`.
    pub async fn client_config(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        known: Option<&str>,
        incremental: bool,
        client: &ClientId,
    ) -> Result<ConfigAnswer> {
        // A namespace with a cached release is its own (see `resolve`): one lookup, not two.
        let (served_id, served) = match self.cached(id) {
            Some(served) => (std::borrow::Cow::Borrowed(id), served),
            None => {
                let served_id = self.resolve(ctx, id).await?;
                let served = self.served(ctx, &served_id).await?;
                (std::borrow::Cow::Owned(served_id), served)
            }
        };
        let Some(current) = served.for_client(client).cloned() else {
            return Err(Error::NotFound(format!(
                "namespace {served_id} has no release yet; release it first"
            )));
        };
        let Some(known) = known else {
            return Ok(ConfigAnswer::Full(current));
        };
        if known == current.release_key {
            return Ok(ConfigAnswer::NotModified);
        }
        if !incremental {
            return Ok(ConfigAnswer::Full(current));
        }
        // The client's release: the gray one it may have been served, or a normal release.
        let gray = served
            .gray
            .as_ref()
            .filter(|g| g.release.release_key == known)
            .map(|g| Arc::clone(&g.release));
        let old = match gray {
            Some(gray) => Ok((*gray).clone()),
            None => self.store.get_release(ctx, &served_id, known).await,
        };
        match old {
            Ok(old) => Ok(ConfigAnswer::Changes(Box::new(Changes::between(
                &old, &current,
            )))),
            // A key from another namespace, a purged or an ended gray release: send everything.
            Err(Error::NotFound(_)) => Ok(ConfigAnswer::Full(current)),
            Err(e) => Err(e),
        }
    }

    /// What `served_id` (resolved) serves now, to answer many of its clients without a lookup
    /// each.
    pub async fn serving(&self, ctx: &Context, served_id: &NamespaceId) -> Result<Serving> {
        Ok(Serving(self.served(ctx, served_id).await?))
    }

    /// A receiver that changes whenever what `asked`'s namespace serves changes.
    pub async fn subscribe(
        &self,
        ctx: &Context,
        asked: &NamespaceId,
    ) -> Result<watch::Receiver<Option<String>>> {
        let served_id = self.resolve(ctx, asked).await?;
        self.subscribe_resolved(ctx, &served_id).await
    }

    /// A receiver that changes whenever what `served_id` (a namespace [`resolve`]d already)
    /// serves changes, seeded with its current token.
    ///
    /// [`resolve`]: ConfigCenter::resolve
    pub async fn subscribe_resolved(
        &self,
        ctx: &Context,
        served_id: &NamespaceId,
    ) -> Result<watch::Receiver<Option<String>>> {
        // Subscribe before reading, so a release in between is not missed.
        let receiver = self.notifier.subscribe(served_id);
        if receiver.borrow().is_none() {
            let served = self.served(ctx, served_id).await?;
            self.notifier.seed(served_id, &served.token());
        }
        Ok(receiver)
    }

    /// The key `client` should hold for the resolved namespace `served_id` now (`""` while
    /// there is no release for it).
    async fn key_for(
        &self,
        ctx: &Context,
        served_id: &NamespaceId,
        client: &ClientId,
    ) -> Result<String> {
        Ok(self
            .release_for(ctx, served_id, client)
            .await?
            .map(|r| r.release_key.clone())
            .unwrap_or_default())
    }

    /// Waits until the release `client` is served for one of `watches` (namespace, the key the
    /// client has) differs from the client's, or `timeout` passes. Returns the namespaces (as
    /// the client named them) with their new keys; empty on timeout or shutdown.
    pub async fn wait_for_changes(
        &self,
        ctx: &Context,
        watches: &[(NamespaceId, String)],
        client: &ClientId,
        timeout: Duration,
    ) -> Result<Vec<(NamespaceId, String)>> {
        // Resolved once: a wake-up then costs memory lookups only, not a database query per
        // parked client.
        let mut served_ids = Vec::with_capacity(watches.len());
        let mut receivers = Vec::with_capacity(watches.len());
        for (asked, _) in watches {
            let served_id = self.resolve(ctx, asked).await?;
            receivers.push(self.subscribe_resolved(ctx, &served_id).await?);
            served_ids.push(served_id);
        }
        let served_ids = &served_ids;
        self.wait_until_any(ctx, &mut receivers, timeout, |i| async move {
            let (asked, known) = &watches[i];
            let current = self.key_for(ctx, &served_ids[i], client).await?;
            Ok((current != *known).then(|| (asked.clone(), current)))
        })
        .await
    }
}
