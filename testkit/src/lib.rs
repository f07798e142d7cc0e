//! keel-testkit: what keel's tests share.
//!
//! - [`backend`]: the real services a test needs, from `KEEL_TEST_ETCD`, `KEEL_TEST_REDIS`,
//!   `KEEL_TEST_POSTGRES`, `KEEL_TEST_MYSQL`, `KEEL_TEST_KAFKA` (printed by
//!   `scripts/services.sh`). Without the variable a test is skipped with a printed reason —
//!   except under `CI=true`, where a missing backend fails the test: CI never skips silently.
//! - [`Namespace`]: a unique name per test, used as key prefix, database name or topic, so
//!   tests can run in parallel against one server.
//! - [`eventually`]: poll a condition with a deadline instead of sleeping.
//!
//! ```
//! use keel_testkit::{Backend, backend};
//!
//! // In a test: `let Some(url) = backend(Backend::Redis) else { return };`
//! if let Some(url) = backend(Backend::Redis) {
//!     assert!(url.starts_with("redis://"));
//! }
//! ```
//!
//! Contract suites (one per provider, instantiated for every backend) are added here by the
//! crates that define those providers.

mod backends;
/// Contract suites, one per provider, run against every backend of that provider.
// Contract cases are test code: a panic is how they report a failure.
#[allow(clippy::unwrap_used)]
pub mod contracts {
    #[cfg(feature = "cache")]
    pub mod cache;
    #[cfg(feature = "coord")]
    pub mod coord;
    #[cfg(feature = "db")]
    pub mod db;
    #[cfg(feature = "mq")]
    pub mod mq;
    #[cfg(feature = "once")]
    pub mod once;
}
#[cfg(feature = "db")]
mod fresh_db;
mod namespace;
mod poll;
mod process;

pub use backends::{Backend, backend, is_ci};
#[cfg(feature = "db")]
pub use fresh_db::{FreshDatabase, fresh_database, with_database};
pub use namespace::Namespace;
pub use poll::{eventually, eventually_async};
pub use process::{OwnedRedis, free_port};
