//! Writes that change what clients are served — releases (idempotent),
//! rollbacks, gray releases — and what follows each: the cache, the wake-up, the announcement
//! to other nodes, the release event.

use keel_clog::Context;
use keel_once::OnceExt;

use super::{ConfigCenter, IDEMPOTENCY_TTL, RELEASE_TOPIC, ReleaseEvent, STALE_AFTER};
use crate::{Error, GrayRelease, GrayRules, NamespaceId, NewGray, Release, Result, announce};

impl ConfigCenter {
    /// Makes the namespace's items a new release. With `idempotency_key`, repeating the call
    /// returns the first call's release instead of making another.
    pub async fn release(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        name: &str,
        comment: &str,
        actor: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Release> {
        self.store.get_namespace(ctx, id).await?;
        // keel-once coalesces concurrent repeats (across nodes, in Redis) and answers repeats
        // without touching the database; the key stored with the release answers repeats
        // keel-once has forgotten (a standalone restart, or past its TTL).
        let make = || async {
            let key = self.new_release_key();
            match idempotency_key {
                Some(idem) => {
                    self.store
                        .create_release_once(ctx, id, &key, name, comment, actor, idem)
                        .await
                }
                None => {
                    self.store
                        .create_release(ctx, id, &key, name, comment, actor)
                        .await
                }
            }
        };
        let release = match idempotency_key {
            None => make().await?,
            Some(idem) => {
                if idem.is_empty() || idem.len() > 128 {
                    return Err(Error::Invalid(
                        "Idempotency-Key must be 1 to 128 characters".into(),
                    ));
                }
                let once_key = format!("cc:release:{id}:{idem}");
                self.once
                    .execute(ctx, &once_key, IDEMPOTENCY_TTL, make)
                    .await
                    .map_err(|e| match e {
                        // The release itself failed: report its own error (404, 400, ...).
                        keel_once::Error::Failed { source, .. } => match source.downcast::<Error>()
                        {
                            Ok(own) => *own,
                            Err(other) => Error::Conflict(other.to_string()),
                        },
                        other => Error::Conflict(format!("release with Idempotency-Key: {other}")),
                    })?
            }
        };
        self.released(ctx, &release.namespace, Some(&release)).await;
        Ok(release)
    }

    /// Makes `target`'s configuration current again, as a new release.
    pub async fn rollback(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        target: &str,
        actor: &str,
    ) -> Result<Release> {
        let key = self.new_release_key();
        let release = self.store.rollback(ctx, id, target, &key, actor).await?;
        self.released(ctx, &release.namespace, Some(&release)).await;
        Ok(release)
    }

    /// Makes the namespace's items a gray release for the clients `rules` match (replacing
    /// the active gray release, if any).
    pub async fn gray_release(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        name: &str,
        comment: &str,
        rules: &GrayRules,
        actor: &str,
    ) -> Result<GrayRelease> {
        rules.validate()?;
        let key = self.new_release_key();
        let gray = self
            .store
            .create_gray(
                ctx,
                id,
                NewGray {
                    release_key: &key,
                    name,
                    comment,
                    rules,
                },
                actor,
            )
            .await?;
        self.released(ctx, id, None).await;
        Ok(gray)
    }

    /// Makes the active gray release `gray_key` everyone's, as a new release.
    pub async fn merge_gray(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        gray_key: &str,
        actor: &str,
    ) -> Result<Release> {
        let key = self.new_release_key();
        let release = self
            .store
            .merge_gray(ctx, id, gray_key, &key, actor)
            .await?;
        self.released(ctx, id, Some(&release)).await;
        Ok(release)
    }

    /// Ends the active gray release `gray_key`; its clients go back to the current release.
    pub async fn abandon_gray(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        gray_key: &str,
        actor: &str,
    ) -> Result<()> {
        self.store.abandon_gray(ctx, id, gray_key, actor).await?;
        self.released(ctx, id, None).await;
        Ok(())
    }

    /// After a write that changed what `id` serves: reloads it into the cache (waking this
    /// node's clients), announces it to the other nodes, and publishes `release` (a new normal
    /// release, if the write made one) as an event.
    pub(super) async fn released(
        &self,
        ctx: &Context,
        id: &NamespaceId,
        release: Option<&Release>,
    ) {
        if let Some(release) = release {
            metrics::counter!("keel_config_releases_total").increment(1);
            self.publish_event(ctx, release);
        }
        let token = match self.load_served(ctx, id).await {
            Ok(served) => self.install(id, served).token(),
            Err(e) => {
                // Saved but not reloaded: drop the stale entry so the next read loads it.
                tracing::warn!(namespace = %id, error = %e, "could not reload a namespace after a release");
                self.forget(id);
                return;
            }
        };
        if let Some(coord) = &self.coord
            && let Err(e) = coord
                .put(ctx, &announce::key(id), token.into_bytes(), None)
                .await
        {
            tracing::warn!(namespace = %id, error = %e, "release saved but not announced to other nodes; they catch up within {STALE_AFTER:?}");
        }
    }

    /// Publishes a release event without making the release wait for the broker; a failed
    /// publication is logged (the release itself is saved and announced regardless).
    fn publish_event(&self, ctx: &Context, release: &Release) {
        let Some(mq) = &self.events else { return };
        let event = ReleaseEvent {
            namespace: release.namespace.clone(),
            release_key: release.release_key.clone(),
            name: release.name.clone(),
            created_at: release.created_at,
            created_by: release.created_by.clone(),
            rolled_back_from: release.rolled_back_from.clone(),
        };
        let payload = match serde_json::to_vec(&event) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!(error = %e, "could not encode a release event");
                return;
            }
        };
        // Keyed by namespace: one namespace's events stay in order.
        let message = keel_mq::Message::keyed(release.namespace.to_string(), payload);
        let namespace = release.namespace.to_string();
        mq.send_with_callback(
            ctx,
            RELEASE_TOPIC,
            message,
            Box::new(move |outcome| {
                if let Err(e) = outcome {
                    tracing::warn!(namespace, error = %e, "release event not published");
                }
            }),
        );
    }

    /// Forgets what was deleted under `scope` (an app when `cluster` is empty, a cluster when
    /// `namespace` is empty, else a namespace) here, and tells the other nodes.
    pub async fn deleted(&self, ctx: &Context, scope: &NamespaceId) {
        self.forget(scope);
        let Some(coord) = &self.coord else { return };
        let keys = if scope.namespace.is_empty() {
            match coord.list(ctx, &announce::scope_prefix(scope)).await {
                Ok(listing) => listing.kvs.into_iter().map(|kv| kv.key).collect(),
                Err(e) => {
                    tracing::warn!(scope = %scope, error = %e, "could not list announcements to retract");
                    Vec::new()
                }
            }
        } else {
            vec![announce::key(scope)]
        };
        for key in keys {
            if let Err(e) = coord.delete(ctx, &key).await {
                tracing::warn!(key, error = %e, "could not retract an announcement; other nodes forget it within {STALE_AFTER:?}");
            }
        }
    }
}
