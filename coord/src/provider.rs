//! The coordination Provider: `new(ctx, config, opts)` → `Arc<dyn Provider>`.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use keel_clog::{Context, Logger};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::backend::standalone::StandaloneStore;
use crate::backend::{Backend, CasOp};
use crate::keys::{Namespace, ttl_seconds};
use crate::lease::Lease;
use crate::types::{Expect, KeyValue, LeaseId, Listing};
use crate::watch::{WatchSpec, Watcher};
use crate::{Config, Error, Mode, Result};

/// Dependencies of the coordination provider.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Parent logger; the provider logs under `<namespace>.coord`.
    pub logger: Logger,
    /// Standalone mode: the store to use. Providers given the same store share its data (like
    /// several processes on one etcd). `None` creates a private store.
    pub standalone: Option<StandaloneStore>,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// With the next change.
    #[default]
    Now,
    /// With the change at this revision (history kept by the store; older is `Compacted`).
    Revision(i64),
}

/// Key-value store with revisions, watches and leases: the base of every coordination recipe
/// (locks, elections, registries, id allocation, config watches).
///
/// Every method takes the Context first: its deadline (capped by `Config::request_timeout`)
/// and cancellation bound the call.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The key, or `None`.
    async fn get(&self, ctx: &Context, key: &str) -> Result<Option<KeyValue>>;
    /// Every key under `prefix`, sorted, at one revision.
    async fn list(&self, ctx: &Context, prefix: &str) -> Result<Listing>;
    /// Writes `value` (optionally attached to a lease); returns the write's revision.
    async fn put(
        &self,
        ctx: &Context,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<i64>;
    /// Deletes the key; the deletion's revision, or `None` when it did not exist.
    async fn delete(&self, ctx: &Context, key: &str) -> Result<Option<i64>>;
    /// Writes only if the key is as expected; otherwise [`Error::Conflict`].
    async fn compare_and_set(
        &self,
        ctx: &Context,
        key: &str,
        expect: Expect,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<i64>;
    /// Deletes only if the key has this modification revision; otherwise [`Error::Conflict`].
    async fn compare_and_delete(&self, ctx: &Context, key: &str, mod_revision: i64) -> Result<i64>;
    /// Watches one key, or every key under it when `prefix`.
    async fn watch(
        &self,
        ctx: &Context,
        key: &str,
        prefix: bool,
        start: StartAt,
    ) -> Result<Watcher>;
    /// Grants a lease kept alive in the background (TTL whole seconds, 1 s to 1 day).
    async fn grant_lease(&self, ctx: &Context, ttl: Duration) -> Result<Lease>;
    /// Grants a lease that nobody keeps alive in the background: it expires `ttl` after it
    /// was granted or last renewed with [`Provider::renew_leases`]. For leases whose life
    /// follows someone else's heartbeats — a registry's instances — where renewing on a timer
    /// would keep a dead instance alive.
    async fn grant_detached_lease(&self, ctx: &Context, ttl: Duration) -> Result<LeaseId>;
    /// Renews each lease once (back to its full TTL), in one round where the backend allows.
    /// Answers, per lease in order, its TTL, or `None` when it is gone (expired or revoked).
    async fn renew_leases(
        &self,
        ctx: &Context,
        leases: &[LeaseId],
    ) -> Result<Vec<Option<Duration>>>;
    /// Revokes a lease by id (its keys are deleted); for operators forcing an expiry. The
    /// holder's [`Lease`] reports the loss on its next keep-alive.
    async fn revoke_lease(&self, ctx: &Context, lease: LeaseId) -> Result<()>;
    /// Drops history up to `revision` (operators and tests; etcd also compacts on its own).
    async fn compact(&self, ctx: &Context, revision: i64) -> Result<()>;
    /// The logger of this provider, for recipes built on it.
    fn logger(&self) -> &Logger;
    /// Stops watches and keep-alives started by this provider. Idempotent.
    async fn close(&self) -> Result<()>;
}

/// Typed JSON helpers for any [`Provider`].
#[async_trait]
pub trait ProviderExt: Provider {
    /// Reads and deserializes a JSON value; `None` when absent.
    async fn get_json<T: DeserializeOwned>(&self, ctx: &Context, key: &str) -> Result<Option<T>> {
        match self.get(ctx, key).await? {
            Some(kv) => serde_json::from_slice(&kv.value)
                .map(Some)
                .map_err(|source| Error::Decode {
                    key: key.to_owned(),
                    source,
                }),
            None => Ok(None),
        }
    }

    /// Serializes `value` as JSON and writes it.
    async fn put_json<T: Serialize + Sync>(
        &self,
        ctx: &Context,
        key: &str,
        value: &T,
        lease: Option<LeaseId>,
    ) -> Result<i64> {
        let bytes = serde_json::to_vec(value).map_err(|source| Error::Decode {
            key: key.to_owned(),
            source,
        })?;
        self.put(ctx, key, bytes, lease).await
    }
}

impl<P: Provider + ?Sized> ProviderExt for P {}

/// Builds the provider described by `config`.
pub async fn new(ctx: &Context, config: Config, opts: Options) -> Result<Arc<dyn Provider>> {
    config.validate()?;
    let logger = opts.logger.named("coord");
    let backend: Arc<dyn Backend> = match config.mode {
        Mode::Standalone => Arc::new(
            opts.standalone
                .unwrap_or_else(|| StandaloneStore::new(config.history_limit)),
        ),
        #[cfg(feature = "etcd")]
        Mode::Distributed => {
            let connect = crate::backend::etcd::EtcdBackend::connect(&config);
            let backend = ctx
                .with_timeout(config.connect_timeout)
                .run(connect)
                .await
                .map_err(|_| {
                    Error::Unavailable(format!(
                        "connecting to etcd at {:?} took longer than {:?}",
                        config.endpoints, config.connect_timeout
                    ))
                })??;
            Arc::new(backend)
        }
        #[cfg(not(feature = "etcd"))]
        Mode::Distributed => {
            unreachable!("validate() refuses distributed mode without the etcd feature")
        }
    };
    logger.span(ctx, "new").in_scope(|| {
        tracing::info!(mode = ?config.mode, namespace = config.namespace, "coord ready");
    });
    Ok(Arc::new(Coord {
        backend,
        namespace: Namespace::new(&config.namespace),
        request_timeout: config.request_timeout,
        max_value_bytes: config.max_value_bytes,
        logger,
        closed: AtomicBool::new(false),
        stop: CancellationToken::new(),
    }))
}

/// Which failures a call may retry on its own.
#[derive(Clone, Copy)]
enum Retry {
    /// Reads: repeating them changes nothing, so any unavailability is retried.
    Idempotent,
    /// Writes: retried only when the request provably never reached the store (the connection
    /// was refused), so a write is never applied twice behind the caller's back.
    IfNotSent,
}

impl Retry {
    fn allows(self, err: &Error) -> bool {
        let Error::Unavailable(text) = err else {
            return false;
        };
        match self {
            Retry::Idempotent => true,
            Retry::IfNotSent => {
                text.contains("tcp connect error") || text.contains("onnection refused")
            }
        }
    }
}

struct Coord {
    backend: Arc<dyn Backend>,
    namespace: Namespace,
    request_timeout: Duration,
    max_value_bytes: usize,
    logger: Logger,
    closed: AtomicBool,
    stop: CancellationToken,
}

impl Coord {
    /// Runs one backend call under the context's deadline (capped by the request timeout).
    /// Runs one backend call under the context's deadline (capped by the request timeout),
    /// retrying while the backend is unavailable as `retry` allows — e.g. a request routed to
    /// an etcd member that just restarted, before the client notices the new connection.
    async fn call<T, F, Fut>(&self, ctx: &Context, retry: Retry, op: F) -> Result<T>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let attempts = async {
            let mut wait = Duration::from_millis(20);
            loop {
                match op().await {
                    Err(err) if retry.allows(&err) => {
                        tracing::debug!(ns = self.logger.namespace(), %err, ?wait, "coord backend unavailable; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_millis(500));
                    }
                    outcome => return outcome,
                }
            }
        };
        ctx.with_timeout(self.request_timeout).run(attempts).await?
    }

    fn check_value(&self, key: &str, value: &[u8]) -> Result<()> {
        if value.len() > self.max_value_bytes {
            return Err(Error::ValueTooLarge {
                key: key.to_owned(),
                size: value.len(),
                limit: self.max_value_bytes,
            });
        }
        Ok(())
    }

    fn strip(&self, mut kv: KeyValue) -> KeyValue {
        kv.key = self.namespace.strip(kv.key);
        kv
    }
}

#[async_trait]
impl Provider for Coord {
    async fn get(&self, ctx: &Context, key: &str) -> Result<Option<KeyValue>> {
        let full = self.namespace.full(key)?;
        Ok(self
            .call(ctx, Retry::Idempotent, || self.backend.get(&full))
            .await?
            .map(|kv| self.strip(kv)))
    }

    async fn list(&self, ctx: &Context, prefix: &str) -> Result<Listing> {
        let full = self.namespace.full(prefix)?;
        let listing = self
            .call(ctx, Retry::Idempotent, || self.backend.range(&full))
            .await?;
        Ok(Listing {
            kvs: listing.kvs.into_iter().map(|kv| self.strip(kv)).collect(),
            revision: listing.revision,
        })
    }

    async fn put(
        &self,
        ctx: &Context,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<i64> {
        let full = self.namespace.full(key)?;
        self.check_value(key, &value)?;
        self.call(ctx, Retry::IfNotSent, || {
            self.backend.put(&full, value.clone(), lease.unwrap_or(0))
        })
        .await
    }

    async fn delete(&self, ctx: &Context, key: &str) -> Result<Option<i64>> {
        let full = self.namespace.full(key)?;
        self.call(ctx, Retry::IfNotSent, || self.backend.delete(&full))
            .await
    }

    async fn compare_and_set(
        &self,
        ctx: &Context,
        key: &str,
        expect: Expect,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<i64> {
        let full = self.namespace.full(key)?;
        self.check_value(key, &value)?;
        let op = CasOp::Put {
            value,
            lease: lease.unwrap_or(0),
        };
        match self
            .call(ctx, Retry::IfNotSent, || {
                self.backend.compare_and_swap(&full, expect, op.clone())
            })
            .await?
        {
            Ok(revision) => Ok(revision),
            Err(actual) => Err(Error::Conflict {
                key: key.to_owned(),
                expected: expect.as_revision(),
                actual,
            }),
        }
    }

    async fn compare_and_delete(&self, ctx: &Context, key: &str, mod_revision: i64) -> Result<i64> {
        let full = self.namespace.full(key)?;
        // etcd compares a missing key's revision as 0, so "delete if at revision 0" would
        // succeed there and fail in standalone: refuse it on both.
        if mod_revision < 1 {
            return Err(Error::InvalidArgument(format!(
                "compare_and_delete needs the key's modification revision (>= 1), got {mod_revision}"
            )));
        }
        let expect = Expect::ModRevision(mod_revision);
        match self
            .call(ctx, Retry::IfNotSent, || {
                self.backend.compare_and_swap(&full, expect, CasOp::Delete)
            })
            .await?
        {
            Ok(revision) => Ok(revision),
            Err(actual) => Err(Error::Conflict {
                key: key.to_owned(),
                expected: mod_revision,
                actual,
            }),
        }
    }

    async fn watch(
        &self,
        ctx: &Context,
        key: &str,
        prefix: bool,
        start: StartAt,
    ) -> Result<Watcher> {
        let full = self.namespace.full(key)?;
        let (start_revision, present): (i64, HashSet<String>) = match start {
            StartAt::Now => {
                let listing = self
                    .call(ctx, Retry::Idempotent, || self.backend.range(&full))
                    .await?;
                let present = listing
                    .kvs
                    .into_iter()
                    .filter(|kv| prefix || kv.key == full)
                    .map(|kv| kv.key)
                    .collect();
                (listing.revision + 1, present)
            }
            StartAt::Revision(revision) if revision < 1 => {
                return Err(Error::InvalidArgument(format!(
                    "watch start revision {revision} must be at least 1"
                )));
            }
            StartAt::Revision(revision) => {
                let keys = self
                    .call(ctx, Retry::Idempotent, || {
                        self.backend.keys_at(&full, prefix, revision - 1)
                    })
                    .await?;
                (revision, keys.into_iter().collect())
            }
        };
        Ok(crate::watch::spawn(WatchSpec {
            backend: Arc::clone(&self.backend),
            namespace: self.namespace.clone(),
            key: full,
            prefix,
            start_revision,
            present,
            stop: self.stop.clone(),
            logger: self.logger.clone(),
        }))
    }

    async fn grant_lease(&self, ctx: &Context, ttl: Duration) -> Result<Lease> {
        let secs = ttl_seconds(ttl)?;
        self.call(ctx, Retry::IfNotSent, || {
            Lease::grant(Arc::clone(&self.backend), secs, &self.stop)
        })
        .await
    }

    async fn grant_detached_lease(&self, ctx: &Context, ttl: Duration) -> Result<LeaseId> {
        let secs = ttl_seconds(ttl)?;
        self.call(ctx, Retry::IfNotSent, || self.backend.lease_grant(secs))
            .await
    }

    async fn renew_leases(
        &self,
        ctx: &Context,
        leases: &[LeaseId],
    ) -> Result<Vec<Option<Duration>>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        // Renewing twice is harmless, so a retry after an unclear failure is safe.
        let ttls = self
            .call(ctx, Retry::Idempotent, || {
                self.backend.lease_keep_alive_many(leases)
            })
            .await?;
        Ok(ttls
            .into_iter()
            .map(|ttl| ttl.map(|secs| Duration::from_secs(secs.max(0) as u64)))
            .collect())
    }

    async fn revoke_lease(&self, ctx: &Context, lease: LeaseId) -> Result<()> {
        self.call(ctx, Retry::IfNotSent, || self.backend.lease_revoke(lease))
            .await
    }

    async fn compact(&self, ctx: &Context, revision: i64) -> Result<()> {
        self.call(ctx, Retry::IfNotSent, || self.backend.compact(revision))
            .await
    }

    fn logger(&self) -> &Logger {
        &self.logger
    }

    async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop.cancel();
        self.backend.close().await;
        Ok(())
    }
}
