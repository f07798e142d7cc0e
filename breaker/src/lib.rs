//! keel-breaker: circuit breakers. Named breakers (closed → open → half-open → closed) with
//! policies from config and hot-reloaded from keel-coord (a reload resets only the breakers
//! whose policy changed), a classifier deciding which errors count, a fallback that runs only
//! on rejection, state for metrics, and a tower Layer for clients.
//!
//! ```
//! use keel_breaker::{Config, Options};
//! use keel_clog::{Context, Env};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let breakers = keel_breaker::new(&Context::new(), Config::for_env(Env::Development), Options::default()).await?;
//! let payments = breakers.get("payments");
//! let answer = payments
//!     .call_or_else(
//!         || async { Err::<u32, &str>("gateway timeout") },
//!         |_err| true,                       // this error counts against the breaker
//!         || async { Ok(0) },                // only used when the breaker rejects the call
//!     )
//!     .await;
//! assert_eq!(answer, Err("gateway timeout")); // a real failure is returned, not hidden
//! # Ok(()) }
//! ```
//!
//! See `docs/breaker.md`.

mod breaker;
mod clock;
mod error;
mod layer;
mod policy;
mod registry;

pub use breaker::{Breaker, Permit, State};
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use error::{ConfigError, Error};
pub use layer::{BreakerLayer, BreakerService};
pub use policy::{Policies, Policy};
pub use registry::{BreakerStatus, Breakers, Config, Options, new};
