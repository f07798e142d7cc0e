//! The once Provider and the algorithm, written once over keel-cache.
//!
//! For key `k`:
//! 1. a cached result at `{ns}r:k` answers at once;
//! 2. otherwise the caller tries to take the placeholder `{ns}l:k` (`SET NX` with a random token
//!    and `lock_ttl`); the winner checks for a result once more (someone may have finished in
//!    between), runs the work while renewing the placeholder every `lock_ttl/3`
//!    (token-checked), caches the result for `ttl` **only if every renewal succeeded**, and
//!    releases the placeholder (token-checked);
//! 3. everyone else polls for the result (1 ms doubling to 50 ms) until it appears, the
//!    placeholder vanishes (the runner failed or died: they try to take it), `wait_timeout`
//!    passes, or their Context ends.
//!
//! A runner that dies stops renewing; its placeholder expires after `lock_ttl` and a waiting
//! caller runs the work. A failed run caches nothing, so the work can be retried.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use keel_cache::Provider as Cache;
use keel_clog::{Context, Logger};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{BoxError, Config, Error, Mode, Result};

/// Dependencies of the once provider.
#[derive(Clone, Default)]
pub struct Options {
    /// Parent logger; the provider logs under `<namespace>.once`.
    pub logger: Logger,
    /// The cache holding results and placeholders. Required in distributed mode (a Redis
    /// cache); in standalone mode `None` means a private in-process store.
    pub cache: Option<Arc<dyn Cache>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("logger", &self.logger)
            .finish_non_exhaustive()
    }
}

/// Work to run at most once, producing the bytes to cache.
pub type Work<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, BoxError>> + Send + 'a>>;

/// What an execution returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<T> {
    /// The result (this caller's run, or the one cached by an earlier or concurrent run).
    pub value: T,
    /// Whether this call ran the work.
    pub ran: bool,
}

/// Idempotent execution. Use the typed helpers of [`OnceExt`].
#[async_trait]
pub trait Provider: Send + Sync {
    /// Runs `work` unless a result for `key` exists or another caller is running it; returns
    /// the result either way. Results are cached for `ttl`.
    async fn execute_bytes<'a>(
        &self,
        ctx: &Context,
        key: &str,
        ttl: Duration,
        work: Work<'a>,
    ) -> Result<Outcome<Vec<u8>>>;
    /// Forgets the cached result of `key` (the next call runs the work); true if there was one.
    async fn clear(&self, ctx: &Context, key: &str) -> Result<bool>;
    /// Stops accepting calls. Idempotent.
    async fn close(&self) -> Result<()>;
}

/// Typed helpers over any [`Provider`].
#[async_trait]
pub trait OnceExt: Provider {
    /// Runs `f` once for `key` and returns its result to every caller (JSON-encoded in the
    /// cache, so `T` must round-trip through serde).
    async fn execute<T, F, Fut, E>(
        &self,
        ctx: &Context,
        key: &str,
        ttl: Duration,
        f: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
        E: Into<BoxError>,
    {
        let work: Work<'_> = Box::pin(async move {
            let value = f().await.map_err(Into::into)?;
            serde_json::to_vec(&value).map_err(|e| Box::new(e) as BoxError)
        });
        let outcome = self.execute_bytes(ctx, key, ttl, work).await?;
        serde_json::from_slice(&outcome.value).map_err(|source| Error::Decode {
            key: key.to_owned(),
            source,
        })
    }

    /// Runs `f` once for `key`; true when this call ran it, false when it had already run (or
    /// ran concurrently elsewhere).
    async fn do_once<F, Fut, E>(
        &self,
        ctx: &Context,
        key: &str,
        ttl: Duration,
        f: F,
    ) -> Result<bool>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<(), E>> + Send,
        E: Into<BoxError>,
    {
        let work: Work<'_> = Box::pin(async move {
            f().await.map_err(Into::into)?;
            Ok(b"null".to_vec())
        });
        Ok(self.execute_bytes(ctx, key, ttl, work).await?.ran)
    }
}

impl<P: Provider + ?Sized> OnceExt for P {}

/// Builds the provider described by `config`.
pub async fn new(ctx: &Context, config: Config, opts: Options) -> Result<Arc<dyn Provider>> {
    config.validate()?;
    let logger = opts.logger.named("once");
    let cache = match (opts.cache, config.mode) {
        (Some(cache), _) => cache,
        (None, Mode::Standalone) => {
            let cache_config = keel_cache::Config::for_env(keel_clog::Env::Development);
            keel_cache::new(ctx, cache_config, keel_cache::Options::default()).await?
        }
        (None, Mode::Distributed) => {
            return Err(Error::InvalidConfig(
                "distributed mode needs Options::cache (a keel-cache on Redis)".into(),
            ));
        }
    };
    Ok(Arc::new(Once {
        cache,
        config,
        logger,
        closed: AtomicBool::new(false),
    }))
}

struct Once {
    cache: Arc<dyn Cache>,
    config: Config,
    logger: Logger,
    closed: AtomicBool,
}

/// Aborts the renewal task when the run ends, however it ends.
struct Renewal(tokio::task::JoinHandle<()>);

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Once {
    fn check(&self, key: &str, ttl: Duration) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if key.is_empty() || key.len() > self.config.max_key_bytes {
            return Err(Error::InvalidKey {
                key: key.chars().take(64).collect(),
                reason: format!(
                    "keys are 1..={} bytes (Config::max_key_bytes)",
                    self.config.max_key_bytes
                ),
            });
        }
        if ttl < Duration::from_millis(1) || ttl > Duration::from_secs(10 * 365 * 86_400) {
            return Err(Error::InvalidTtl(ttl));
        }
        Ok(())
    }

    fn renew(&self, lock_key: String, token: Vec<u8>, lost: Arc<AtomicBool>) -> Renewal {
        let cache = Arc::clone(&self.cache);
        let ttl = self.config.lock_ttl;
        Renewal(tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let ctx = Context::new().with_timeout(ttl / 3);
                if !matches!(
                    cache.compare_and_expire(&ctx, &lock_key, &token, ttl).await,
                    Ok(true)
                ) {
                    lost.store(true, Ordering::Release);
                    return;
                }
            }
        }))
    }

    /// Runs the work holding the placeholder, then caches (if the placeholder held) and releases.
    async fn run(
        &self,
        ctx: &Context,
        key: &str,
        ttl: Duration,
        keys: (&str, &str),
        token: Vec<u8>,
        work: Work<'_>,
    ) -> Result<Outcome<Vec<u8>>> {
        let (result_key, lock_key) = keys;
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = self.renew(lock_key.to_owned(), token.clone(), Arc::clone(&lost));
        let outcome = work.await;
        drop(renewal);
        let release = || async {
            if let Err(err) = self.cache.compare_and_delete(ctx, lock_key, &token).await {
                tracing::warn!(ns = self.logger.namespace(), key, %err, "releasing the placeholder failed; it expires by itself");
            }
        };
        let value = match outcome {
            Ok(value) => value,
            Err(source) => {
                release().await;
                return Err(Error::Failed {
                    key: key.to_owned(),
                    source,
                });
            }
        };
        if value.len() > self.config.max_result_bytes {
            release().await;
            return Err(Error::ResultTooLarge {
                key: key.to_owned(),
                size: value.len(),
                limit: self.config.max_result_bytes,
            });
        }
        if lost.load(Ordering::Acquire) {
            // Another caller may have taken over and be running the work too: caching now
            // could overwrite its result with ours. The caller still gets what its run produced.
            tracing::warn!(
                ns = self.logger.namespace(),
                key,
                "placeholder lost while the work ran; result not cached"
            );
            return Ok(Outcome { value, ran: true });
        }
        if let Err(err) = self
            .cache
            .set(ctx, result_key, value.clone(), Some(ttl))
            .await
        {
            // The work ran; failing the call now would invite a second run.
            tracing::warn!(ns = self.logger.namespace(), key, %err, "caching the result failed; the next call runs the work again");
        }
        release().await;
        Ok(Outcome { value, ran: true })
    }
}

#[async_trait]
impl Provider for Once {
    async fn execute_bytes<'a>(
        &self,
        ctx: &Context,
        key: &str,
        ttl: Duration,
        work: Work<'a>,
    ) -> Result<Outcome<Vec<u8>>> {
        self.check(key, ttl)?;
        let result_key = format!("{}r:{key}", self.config.namespace);
        let lock_key = format!("{}l:{key}", self.config.namespace);
        let started = Instant::now();
        let waiting = ctx.with_timeout(self.config.wait_timeout);
        let mut backoff = Duration::from_millis(1);
        let mut work = Some(work);
        loop {
            if let Some(value) = self
                .cache
                .get(&waiting, &result_key)
                .await
                .map_err(|e| wait_error(e, key, started))?
            {
                return Ok(Outcome { value, ran: false });
            }
            let token = format!("{:032x}", rand::random::<u128>()).into_bytes();
            let placeholder_ttl = Some(self.config.lock_ttl);
            if self
                .cache
                .set_nx(&waiting, &lock_key, token.clone(), placeholder_ttl)
                .await
                .map_err(|e| wait_error(e, key, started))?
            {
                if let Some(value) = self.cache.get(ctx, &result_key).await? {
                    let _ = self.cache.compare_and_delete(ctx, &lock_key, &token).await;
                    return Ok(Outcome { value, ran: false });
                }
                let Some(work) = work.take() else {
                    return Err(Error::InvalidConfig("work already consumed".into()));
                };
                return self
                    .run(ctx, key, ttl, (&result_key, &lock_key), token, work)
                    .await;
            }
            match waiting.run(tokio::time::sleep(backoff)).await {
                Ok(()) => backoff = (backoff * 2).min(Duration::from_millis(50)),
                Err(keel_clog::Error::Cancelled) => return Err(Error::Cancelled),
                Err(_) if ctx.is_done() => return Err(Error::DeadlineExceeded),
                Err(_) => {
                    return Err(Error::WaitTimeout {
                        key: key.to_owned(),
                        waited: started.elapsed(),
                    });
                }
            }
        }
    }

    async fn clear(&self, ctx: &Context, key: &str) -> Result<bool> {
        self.check(key, Duration::from_secs(1))?;
        let result_key = format!("{}r:{key}", self.config.namespace);
        Ok(self.cache.del(ctx, &[&result_key]).await? > 0)
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}

/// A cache error while waiting: a deadline there is the wait timing out (or the caller's).
fn wait_error(err: keel_cache::Error, key: &str, started: Instant) -> Error {
    match err {
        keel_cache::Error::DeadlineExceeded => Error::WaitTimeout {
            key: key.to_owned(),
            waited: started.elapsed(),
        },
        keel_cache::Error::Cancelled => Error::Cancelled,
        other => Error::Cache(other),
    }
}
