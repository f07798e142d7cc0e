//! keel-uid: unique ids for keel services.
//!
//! - **Snowflake** ids: 64-bit, time-ordered, `41 bits ms since epoch | 10 bits worker |
//!   12 bits sequence`, up to 4,096,000 ids per second per worker, lock-free. A clock that
//!   steps backwards is waited out up to a bound and otherwise reported as an error — never
//!   papered over with ids that could repeat.
//! - **UUIDv7** values (RFC 9562) from the `uuid` crate, increasing per generator.
//!
//! ```
//! use keel_clog::{Context, Env};
//! use keel_uid::{Config, Options};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_uid::Result<()> {
//! let mut config = Config::for_env(Env::Development);
//! config.worker_id = 7;
//! let ids = keel_uid::new(&Context::new(), config, Options::default()).await?;
//! let a = ids.next_id()?;
//! let b = ids.next_id()?;
//! assert!(b > a);
//! assert_eq!(ids.decompose(a).worker_id, 7);
//! let u = ids.next_uuid()?;
//! assert_eq!(u.get_version_num(), 7);
//! ids.close().await?;
//! # Ok(()) }
//! ```
//!
//! The worker id is given in [`Config::worker_id`]; it must be unique among the processes
//! issuing ids together.

mod clock;
mod config;
#[cfg(feature = "coord")]
mod coord_worker;
mod error;
mod provider;
mod snowflake;
mod uuid_v7;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, CoordWorker, DEFAULT_EPOCH_UNIX_MS};
pub use error::{Error, Result};
pub use provider::{Options, Provider, new, with_clock};
pub use snowflake::{
    MAX_WORKER_ID, SEQUENCE_BITS, Snowflake, SnowflakeParts, TIME_BITS, WORKER_BITS, decompose,
};
pub use uuid_v7::UuidV7;
