//! keel-once: idempotent execution. For one key, the first caller runs the work; callers that
//! arrive while it runs wait (bounded) and receive the same result; later callers get the cached
//! result until its TTL; a failed run caches nothing, so it can be retried. Across processes
//! through a shared keel-cache (Redis), or in process.
//!
//! ```
//! use std::time::Duration;
//! use keel_clog::{Context, Env};
//! use keel_once::{Config, OnceExt, Options};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_once::Result<()> {
//! let ctx = Context::new();
//! let once = keel_once::new(&ctx, Config::for_env(Env::Development), Options::default()).await?;
//! let ttl = Duration::from_secs(3600);
//! // A client retries a payment with the same idempotency key: it is charged once.
//! let first: u64 = once.execute(&ctx, "pay:order-17", ttl, || async { Ok::<_, std::io::Error>(4200) }).await?;
//! let again: u64 = once.execute(&ctx, "pay:order-17", ttl, || async { Ok::<_, std::io::Error>(9999) }).await?;
//! assert_eq!((first, again), (4200, 4200));
//! assert!(once.do_once(&ctx, "welcome-mail:ann", ttl, || async { Ok::<_, std::io::Error>(()) }).await?);
//! assert!(!once.do_once(&ctx, "welcome-mail:ann", ttl, || async { Ok::<_, std::io::Error>(()) }).await?);
//! # Ok(()) }
//! ```
//!
//! See `docs/once.md`.

mod config;
mod error;
mod provider;

pub use config::{Config, Mode};
pub use error::{BoxError, Error, Result};
pub use provider::{OnceExt, Options, Outcome, Provider, Work, new};
