//! The cache Provider: `new(ctx, config, opts)` → `Arc<dyn Provider>`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_trait::async_trait;
use keel_clog::{Context, Logger};

use crate::backend::Backend;
use crate::backend::standalone::StandaloneStore;
use crate::client::Cache;
use crate::types::{Bucket, KeyTtl, TokenDecision};
use crate::{Config, Mode, Result};

/// Longest key, namespace included.
pub const MAX_KEY_BYTES: usize = 1024;

/// Dependencies of the cache provider.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Parent logger; the provider logs under `<namespace>.cache`.
    pub logger: Logger,
    /// Standalone mode: the store to use; providers given the same store share keys. `None`
    /// creates a private store of `Config::max_entries`.
    pub standalone: Option<StandaloneStore>,
}

/// A cache with Redis's data types and semantics. Reads return `Option`: `None` is a **miss**
/// (the key, field or member does not exist) — never an error.
///
/// Every method takes the Context first: its deadline (capped by `Config::request_timeout`)
/// and cancellation bound the call.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The string at `key`; `None` on a miss.
    async fn get(&self, ctx: &Context, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores a string, replacing any value and TTL (`ttl: None` = no expiry).
    async fn set(
        &self,
        ctx: &Context,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<()>;
    /// Stores a string only if `key` is absent; true when stored.
    async fn set_nx(
        &self,
        ctx: &Context,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<bool>;
    /// Atomically: if `key` is absent, stores `value` and returns `None`; otherwise returns the
    /// value already there (and changes nothing).
    async fn set_if_absent_get(
        &self,
        ctx: &Context,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<Option<Vec<u8>>>;
    /// Adds `delta` to the integer at `key` (absent = 0); the TTL is kept.
    async fn incr_by(&self, ctx: &Context, key: &str, delta: i64) -> Result<i64>;
    /// Several strings at once; `None` for each miss.
    async fn mget(&self, ctx: &Context, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>>;
    /// Several strings at once, atomically.
    async fn mset(&self, ctx: &Context, pairs: &[(&str, Vec<u8>)]) -> Result<()>;

    /// Sets hash fields; returns how many were new.
    async fn hset(&self, ctx: &Context, key: &str, fields: &[(&str, Vec<u8>)]) -> Result<u64>;
    /// One hash field; `None` on a miss.
    async fn hget(&self, ctx: &Context, key: &str, field: &str) -> Result<Option<Vec<u8>>>;
    /// Every field, sorted by name (empty on a miss).
    async fn hgetall(&self, ctx: &Context, key: &str) -> Result<Vec<(String, Vec<u8>)>>;
    /// Removes fields; returns how many existed. An emptied hash disappears.
    async fn hdel(&self, ctx: &Context, key: &str, fields: &[&str]) -> Result<u64>;
    /// Adds `delta` to an integer field (absent = 0).
    async fn hincr_by(&self, ctx: &Context, key: &str, field: &str, delta: i64) -> Result<i64>;

    /// Adds members; returns how many were new.
    async fn sadd(&self, ctx: &Context, key: &str, members: &[&str]) -> Result<u64>;
    /// Removes members; returns how many existed. An emptied set disappears.
    async fn srem(&self, ctx: &Context, key: &str, members: &[&str]) -> Result<u64>;
    /// Every member, sorted.
    async fn smembers(&self, ctx: &Context, key: &str) -> Result<Vec<String>>;
    /// Whether `member` is in the set.
    async fn sismember(&self, ctx: &Context, key: &str, member: &str) -> Result<bool>;
    /// How many members.
    async fn scard(&self, ctx: &Context, key: &str) -> Result<u64>;

    /// Adds or re-scores members; returns how many were new. Scores may be ±∞, not NaN.
    async fn zadd(&self, ctx: &Context, key: &str, members: &[(f64, &str)]) -> Result<u64>;
    /// Removes members; returns how many existed. An emptied sorted set disappears.
    async fn zrem(&self, ctx: &Context, key: &str, members: &[&str]) -> Result<u64>;
    /// A member's score; `None` on a miss.
    async fn zscore(&self, ctx: &Context, key: &str, member: &str) -> Result<Option<f64>>;
    /// Members by rank `start..=stop` in (score, member) order; negative ranks count from the end.
    async fn zrange(
        &self,
        ctx: &Context,
        key: &str,
        start: i64,
        stop: i64,
    ) -> Result<Vec<(String, f64)>>;
    /// Members with `min <= score <= max`, skipping `offset`, at most `count`.
    async fn zrange_by_score(
        &self,
        ctx: &Context,
        key: &str,
        min: f64,
        max: f64,
        offset: usize,
        count: Option<usize>,
    ) -> Result<Vec<(String, f64)>>;
    /// How many members.
    async fn zcard(&self, ctx: &Context, key: &str) -> Result<u64>;

    /// Deletes keys of any type; returns how many existed.
    async fn del(&self, ctx: &Context, keys: &[&str]) -> Result<u64>;
    /// Whether `key` exists.
    async fn exists(&self, ctx: &Context, key: &str) -> Result<bool>;
    /// Sets a TTL; false when the key does not exist.
    async fn expire(&self, ctx: &Context, key: &str, ttl: Duration) -> Result<bool>;
    /// Removes the TTL; false when the key had none (or does not exist).
    async fn persist(&self, ctx: &Context, key: &str) -> Result<bool>;
    /// The remaining life of `key`.
    async fn ttl(&self, ctx: &Context, key: &str) -> Result<KeyTtl>;

    /// Atomically deletes `key` only if it holds `expected`; true when deleted.
    async fn compare_and_delete(&self, ctx: &Context, key: &str, expected: &[u8]) -> Result<bool>;
    /// Atomically sets the TTL of `key` only if it holds `expected`; true when set.
    async fn compare_and_expire(
        &self,
        ctx: &Context,
        key: &str,
        expected: &[u8],
        ttl: Duration,
    ) -> Result<bool>;
    /// Takes `bucket.cost` tokens from the bucket at `key` if it has them, atomically, on the
    /// store's clock (Redis `TIME`). The bucket's key expires once it would be full again.
    async fn token_bucket(&self, ctx: &Context, key: &str, bucket: Bucket)
    -> Result<TokenDecision>;

    /// The logger of this provider, for recipes built on it.
    fn logger(&self) -> &Logger;
    /// Closes the connection. Idempotent.
    async fn close(&self) -> Result<()>;
}

/// Builds the provider described by `config`.
pub async fn new(ctx: &Context, config: Config, opts: Options) -> Result<Arc<dyn Provider>> {
    config.validate()?;
    let logger = opts.logger.named("cache");
    let backend: Arc<dyn Backend> = match config.mode {
        Mode::Standalone => Arc::new(
            opts.standalone
                .unwrap_or_else(|| StandaloneStore::new(config.max_entries)),
        ),
        #[cfg(feature = "redis")]
        Mode::Distributed => {
            let connect = crate::backend::redis::RedisCache::connect(&config);
            let connected = ctx.run(connect).await.map_err(|e| match e {
                keel_clog::Error::Cancelled => crate::Error::Cancelled,
                _ => crate::Error::DeadlineExceeded,
            })??;
            Arc::new(connected)
        }
        #[cfg(not(feature = "redis"))]
        Mode::Distributed => {
            unreachable!("validate() refuses distributed mode without the redis feature")
        }
    };
    logger.span(ctx, "new").in_scope(|| {
        tracing::info!(
            mode = ?config.mode,
            url = crate::redact::redact_url(&config.url),
            namespace = config.namespace,
            "cache ready"
        );
    });
    Ok(Arc::new(Cache {
        backend,
        namespace: config.namespace,
        request_timeout: config.request_timeout,
        max_value_bytes: config.max_value_bytes,
        logger,
        closed: AtomicBool::new(false),
    }))
}
