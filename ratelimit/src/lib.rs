//! keel-ratelimit: token-bucket rate limits per resource and key.
//!
//! - **Rules** per resource: `rate` (fractions allowed), `burst`, and a mode — **local** (buckets
//!   in this process, on governor, bounded in keys with idle eviction) or **distributed** (one
//!   bucket in Redis through keel-cache's atomic token bucket, on the server's clock, shared by
//!   every process). Both modes give the same answers for the same request sequence.
//! - **Policies** where no bucket can decide: `unknown_rule` (closed by default) and, per
//!   distributed rule, `on_backend_error` (`open`, `closed` or `local`); every such decision is
//!   counted and logged (at most one line per 10 s).
//! - **Hot reload**: rules live in coord under `/config/{env}/{service}/ratelimit/`; a valid
//!   update is swapped in whole (unchanged rules keep their buckets), an invalid one is refused
//!   and the last good set stays.
//! - A **tower Layer** ([`RateLimitLayer`]) that answers `429` with `Retry-After`.
//!
//! ```
//! use keel_clog::{Context, Env};
//! use keel_ratelimit::{Config, Options, Rule};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::for_env(Env::Development);
//! config.rules = config.rules.with("login", Rule::local(0.5).with_burst(3));
//! let limiter = keel_ratelimit::new(&Context::new(), config, Options::default()).await?;
//!
//! let ctx = Context::new();
//! for _ in 0..3 {
//!     assert!(limiter.allow(&ctx, "login", "alice").await?.allowed);
//! }
//! let refused = limiter.allow(&ctx, "login", "alice").await?;
//! assert!(!refused.allowed);
//! assert!(refused.retry_after.as_secs_f64() > 1.9); // one token every two seconds
//! assert!(limiter.allow(&ctx, "login", "bob").await?.allowed); // a bucket per key
//! # Ok(()) }
//! ```
//!
//! See `docs/ratelimit.md`.

mod compiled;
mod config;
mod decision;
mod distributed;
mod error;
mod key_store;
mod layer;
mod limiter;
mod local;
mod rule;
mod stats;

pub use config::{Config, Options};
pub use decision::{Basis, Decision};
pub use error::{Error, Result};
pub use layer::{KeyFn, KeySource, RateLimitLayer, RateLimitService};
pub use limiter::{RateLimiter, new};
pub use rule::{FailPolicy, Rule, RuleMode, Rules};
pub use stats::{ResourceStats, Stats};
