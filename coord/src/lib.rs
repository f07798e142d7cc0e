//! keel-coord: distributed coordination — KV with revisions, watches, leases, locks, leader
//! election, a service registry, instance-id allocation and hot-reloaded configuration —
//! on etcd (feature `etcd`) or on an in-process store with the same semantics.
//!
//! ```
//! use std::time::Duration;
//! use keel_clog::{Context, Env};
//! use keel_coord::{Config, Options, ProviderExt, StartAt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_coord::Result<()> {
//! let ctx = Context::new();
//! let coord = keel_coord::new(&ctx, Config::for_env(Env::Development), Options::default()).await?;
//! let mut watch = coord.watch(&ctx, "/config/", true, StartAt::Now).await?;
//! coord.put_json(&ctx, "/config/limit", &42, None).await?;
//! let event = watch.next().await.unwrap();
//! assert_eq!(event.kv.key, "/config/limit");
//! assert_eq!(coord.get_json::<u32>(&ctx, "/config/limit").await?, Some(42));
//!
//! let lease = coord.grant_lease(&ctx, Duration::from_secs(5)).await?;
//! coord.put(&ctx, "/alive/me", b"1".to_vec(), Some(lease.id())).await?;
//! lease.revoke().await?; // the key goes with it
//! coord.close().await?;
//! # Ok(()) }
//! ```
//!
//! See `docs/coord.md` for the key layout, semantics and failure behaviour.

mod backend;
mod config;
mod config_watch;
mod election;
mod error;
mod ids;
mod keys;
mod lease;
mod lock;
mod provider;
mod registry;
mod types;
mod watch;

pub use backend::standalone::StandaloneStore;
pub use config::{Config, Mode};
pub use config_watch::{ConfigWatch, LogLevel, bind_log_level, config_prefix};
pub use election::{ELECTION_PREFIX, Election, Leader, Leadership};
pub use error::{Error, Result};
pub use ids::{IDS_PREFIX, InstanceId, acquire_instance_id};
pub use keys::MAX_KEY_BYTES;
pub use lease::{Lease, LeaseLoss, LeaseState};
pub use lock::{LOCK_PREFIX, Lock, LockGuard};
pub use provider::{Options, Provider, ProviderExt, StartAt, new};
pub use registry::{Registration, SERVICES_PREFIX, ServiceInstance, ServiceRegistry, ServiceWatch};
pub use types::{EventKind, Expect, KeyValue, LeaseId, Listing, WatchEvent};
pub use watch::Watcher;
