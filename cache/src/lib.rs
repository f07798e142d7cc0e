//! keel-cache: a cache with Redis's data types — strings, hashes, sets, sorted sets, TTLs — plus
//! the atomic primitives rate limiting and idempotency need (compare-and-delete,
//! set-if-absent-returning-the-existing-value, a server-clocked token bucket) and a
//! token-checked lock; on Redis (feature `redis`) or in process with the same semantics.
//!
//! A **miss is not an error**: reads return `Option`, and `None` means absent.
//!
//! ```
//! use std::time::Duration;
//! use keel_cache::{Bucket, Config, Options};
//! use keel_clog::{Context, Env};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_cache::Result<()> {
//! let ctx = Context::new();
//! let mut config = Config::for_env(Env::Development);
//! config.namespace = "order:".into(); // every key is stored as order:<key>
//! let cache = keel_cache::new(&ctx, config, Options::default()).await?;
//! cache.set(&ctx, "greeting", b"hi".to_vec(), Some(Duration::from_secs(60))).await?;
//! assert_eq!(cache.get(&ctx, "greeting").await?, Some(b"hi".to_vec()));
//! assert_eq!(cache.get(&ctx, "missing").await?, None); // a miss
//! let limit = Bucket { rate: 0.5, burst: 2.0, cost: 1.0 };
//! assert!(cache.token_bucket(&ctx, "rl:login:alice", limit).await?.allowed);
//! cache.close().await?;
//! # Ok(()) }
//! ```
//!
//! See `docs/cache.md`.

mod backend;
mod client;
mod command;
mod config;
mod error;
mod lock;
mod provider;
mod redact;
mod types;

pub use backend::standalone::StandaloneStore;
pub use config::{Config, Mode};
pub use error::{Error, Result};
pub use lock::{CacheLock, CacheLockGuard};
pub use provider::{MAX_KEY_BYTES, Options, Provider, new};
pub use types::{Bucket, KeyTtl, TokenDecision, bucket_step};

/// The Lua script `token_bucket` runs on Redis (for benchmarks comparing with a raw EVALSHA).
#[cfg(feature = "redis")]
pub const TOKEN_BUCKET_SCRIPT: &str = backend::redis::TOKEN_BUCKET;
