//! What a namespace serves — its current release and, when one is active, its gray release —
//! cached per node and loaded from the database on a miss or when stale.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use keel_clog::Context;

use super::{ConfigCenter, STALE_AFTER};
use crate::document::{md5_hex, text_of};
use crate::{Format, GrayRelease, GrayRules, NamespaceId, Release, Result};

/// Who is asking: what gray rules are matched against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientId {
    /// The client's IP (given by the client, else the connection's peer).
    pub ip: Option<IpAddr>,
    /// The client's labels.
    pub labels: Vec<String>,
}

/// A namespace's current release and active gray release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Served {
    /// How the namespace's releases read as one document.
    pub(crate) format: Format,
    pub(crate) main: Option<Arc<Release>>,
    /// `main` as one document, made on first use (only text clients need it).
    pub(crate) main_document: OnceLock<Document>,
    pub(crate) gray: Option<ServedGray>,
}

/// An active gray release, ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServedGray {
    pub(crate) release: Arc<Release>,
    pub(crate) rules: GrayRules,
    /// `release` as one document, made on first use.
    pub(crate) document: OnceLock<Document>,
}

impl From<GrayRelease> for ServedGray {
    fn from(gray: GrayRelease) -> Self {
        ServedGray {
            release: Arc::new(gray.release),
            rules: gray.rules,
            document: OnceLock::new(),
        }
    }
}

/// A release as one text and that text's MD5 (what Nacos clients read and compare).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Document {
    pub(crate) text: Arc<str>,
    pub(crate) md5: Arc<str>,
}

impl Document {
    fn of(release: &Release, format: Format) -> Self {
        let text = text_of(release, format);
        Document {
            md5: md5_hex(&text).into(),
            text: text.into(),
        }
    }
}

impl Served {
    /// Changes whenever what any client is served changes: the main key, plus the gray key
    /// while a gray release is active. Announced between nodes and held by the notifier.
    pub(crate) fn token(&self) -> String {
        let main = self.main.as_ref().map_or("", |r| r.release_key.as_str());
        match &self.gray {
            Some(gray) => format!("{main}+{}", gray.release.release_key),
            None => main.to_owned(),
        }
    }

    /// The release `client` is served: the gray one if its rules match, else the main one.
    pub(crate) fn for_client(&self, client: &ClientId) -> Option<&Arc<Release>> {
        self.document_for(client).map(|(release, _, _)| release)
    }

    /// The release `client` is served, with a cell for it as one document, and whether it is
    /// the gray one.
    pub(crate) fn document_for(
        &self,
        client: &ClientId,
    ) -> Option<(&Arc<Release>, &OnceLock<Document>, bool)> {
        match &self.gray {
            Some(gray) if gray.rules.matches(client.ip, &client.labels) => {
                Some((&gray.release, &gray.document, true))
            }
            _ => self.main.as_ref().map(|m| (m, &self.main_document, false)),
        }
    }

    /// The MD5 of what `client` is served as one document (`""` before the first release):
    /// what a text client holds and compares, without copying the document.
    pub(crate) fn md5_for(&self, client: &ClientId) -> &str {
        match self.document_for(client) {
            Some((release, cell, _)) => {
                &cell.get_or_init(|| Document::of(release, self.format)).md5
            }
            None => "",
        }
    }

    /// What `client` is served as one document (`None` before the first release).
    pub(crate) fn document(&self, client: &ClientId) -> Option<(Arc<Release>, Document, bool)> {
        let (release, cell, gray) = self.document_for(client)?;
        let document = cell.get_or_init(|| Document::of(release, self.format));
        Some((Arc::clone(release), document.clone(), gray))
    }
}

impl ConfigCenter {
    /// The cached entry of `id`, unless missing or stale.
    pub(crate) fn cached(&self, id: &NamespaceId) -> Option<Arc<Served>> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .filter(|(_, loaded)| loaded.elapsed() < STALE_AFTER)
            .map(|(served, _)| Arc::clone(served))
    }

    /// Reads what `id` serves from the database.
    pub(crate) async fn load_served(&self, ctx: &Context, id: &NamespaceId) -> Result<Served> {
        let (format, main, gray) = self.store.serving(ctx, id).await?;
        Ok(Served {
            format,
            main: main.map(Arc::new),
            main_document: OnceLock::new(),
            gray: gray.map(ServedGray::from),
        })
    }

    /// Caches what `id` serves and wakes the clients waiting on it if that changed.
    pub(crate) fn install(&self, id: &NamespaceId, served: Served) -> Arc<Served> {
        let served = Arc::new(served);
        let previous = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), (Arc::clone(&served), Instant::now()));
        let previous_main = previous
            .as_ref()
            .and_then(|(p, _)| p.main.as_ref().map(|r| r.release_key.clone()));
        if let Some(main) = &served.main
            && previous_main.as_deref() != Some(main.release_key.as_str())
        {
            // From the release being saved (on whichever node) to this node's clients waking.
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let lag_ms = now_ms.saturating_sub(main.created_at).max(0);
            metrics::histogram!("keel_config_push_seconds").record(lag_ms as f64 / 1000.0);
        }
        self.notifier.publish(id, &served.token());
        served
    }

    /// What `id` (already resolved) serves: from memory, else from the database.
    pub(crate) async fn served(&self, ctx: &Context, id: &NamespaceId) -> Result<Arc<Served>> {
        if let Some(served) = self.cached(id) {
            return Ok(served);
        }
        let loaded = self.load_served(ctx, id).await?;
        Ok(self.install(id, loaded))
    }

    /// Takes in an announcement (possibly this node's own): reloads `id` unless the cache
    /// already serves `token`.
    pub(crate) async fn adopt(&self, ctx: &Context, id: &NamespaceId, token: &str) -> Result<()> {
        if self.cached(id).is_some_and(|s| s.token() == token) {
            return Ok(());
        }
        let loaded = self.load_served(ctx, id).await?;
        self.install(id, loaded);
        Ok(())
    }

    /// The namespace serving `asked` through the cluster fallback, if found recently.
    pub(crate) fn cached_fallback(&self, asked: &NamespaceId) -> Option<NamespaceId> {
        self.fallbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(asked)
            .filter(|(_, found)| found.elapsed() < STALE_AFTER)
            .map(|(served, _)| served.clone())
    }

    /// Remembers that `served` serves `asked`.
    pub(crate) fn remember_fallback(&self, asked: &NamespaceId, served: &NamespaceId) {
        self.fallbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(asked.clone(), (served.clone(), Instant::now()));
    }

    /// Forgets cached namespaces (and fallbacks to them) under `scope` (an app when `cluster`
    /// is empty, a cluster when `namespace` is empty, else a namespace).
    pub(crate) fn forget(&self, scope: &NamespaceId) {
        let within = |ns: &NamespaceId| {
            ns.env == scope.env
                && ns.app == scope.app
                && (scope.cluster.is_empty() || ns.cluster == scope.cluster)
                && (scope.namespace.is_empty() || ns.namespace == scope.namespace)
        };
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|ns, _| !within(ns));
        self.fallbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|asked, (served, _)| !within(asked) && !within(served));
        // Whoever waits on a deleted namespace learns it now, not at its timeout.
        self.notifier.clear(within);
    }
}
