//! A lock on the cache: `SET key token NX PX ttl` to take it, a token-checked delete to release
//! it and a token-checked expire to renew it, so a holder whose lock expired can never release
//! or extend someone else's.
//!
//! This is a lease-style lock for short critical sections within one Redis (or one process).
//! For locks that must survive a Redis failover, use keel-coord's `Lock` (fencing tokens on a
//! consensus store).

use std::sync::Arc;
use std::time::Duration;

use keel_clog::Context;

use crate::{Error, Provider, Result};

/// A named lock on a cache.
pub struct CacheLock {
    cache: Arc<dyn Provider>,
    key: String,
    ttl: Duration,
}

/// A held lock; it expires after its TTL unless renewed.
pub struct CacheLockGuard {
    cache: Arc<dyn Provider>,
    key: String,
    token: Vec<u8>,
    ttl: Duration,
}

impl std::fmt::Debug for CacheLockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLockGuard")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl CacheLock {
    /// The lock `name` (stored at `lock:{name}`) held for at most `ttl` without renewal.
    pub fn new(cache: Arc<dyn Provider>, name: &str, ttl: Duration) -> Result<Self> {
        if name.is_empty() || name.len() > 256 {
            return Err(Error::InvalidKey {
                key: name.chars().take(64).collect(),
                reason: "lock names are 1-256 bytes",
            });
        }
        if ttl < Duration::from_millis(10) {
            return Err(Error::InvalidArgument(format!(
                "lock TTL {ttl:?} must be at least 10ms"
            )));
        }
        Ok(CacheLock {
            cache,
            key: format!("lock:{name}"),
            ttl,
        })
    }

    /// Takes the lock if it is free; `None` if someone holds it.
    pub async fn try_acquire(&self, ctx: &Context) -> Result<Option<CacheLockGuard>> {
        let token = format!("{:032x}", rand::random::<u128>()).into_bytes();
        if self
            .cache
            .set_nx(ctx, &self.key, token.clone(), Some(self.ttl))
            .await?
        {
            Ok(Some(CacheLockGuard {
                cache: Arc::clone(&self.cache),
                key: self.key.clone(),
                token,
                ttl: self.ttl,
            }))
        } else {
            Ok(None)
        }
    }

    /// Waits (polling with backoff) until the lock is taken or the Context ends.
    pub async fn acquire(&self, ctx: &Context) -> Result<CacheLockGuard> {
        let mut wait = Duration::from_millis(5);
        loop {
            if let Some(guard) = self.try_acquire(ctx).await? {
                return Ok(guard);
            }
            let jitter = Duration::from_micros(rand::random::<u64>() % 5_000);
            ctx.run(tokio::time::sleep(wait + jitter))
                .await
                .map_err(|e| match e {
                    keel_clog::Error::Cancelled => Error::Cancelled,
                    _ => Error::DeadlineExceeded,
                })?;
            wait = (wait * 2).min(Duration::from_millis(200));
        }
    }
}

impl CacheLockGuard {
    /// The random token proving ownership.
    pub fn token(&self) -> &[u8] {
        &self.token
    }

    /// Extends the lock by its TTL; false when it was lost (expired, taken by another).
    pub async fn renew(&self, ctx: &Context) -> Result<bool> {
        self.cache
            .compare_and_expire(ctx, &self.key, &self.token, self.ttl)
            .await
    }

    /// Releases the lock; false when it had already been lost.
    pub async fn release(self, ctx: &Context) -> Result<bool> {
        self.cache
            .compare_and_delete(ctx, &self.key, &self.token)
            .await
    }
}
