//! Active health checks: the registry probes instances whose `healthCheck.type` is `http` or
//! `tcp` and reports when their health flips.
//!
//! - [`probe`] runs one probe: a TCP connect, or an HTTP/1.1 GET judged by its status line.
//! - [`HealthChecker`] probes a changing set of [`ProbeTarget`]s on their intervals and sends
//!   a [`HealthFlip`] after `fall` failures or `rise` successes in a row (hysteresis, so one
//!   lost packet does not take an instance out of discovery).
//! - [`owner`] says which node of a cluster probes an instance (rendezvous hashing), so each
//!   instance is probed by one node and the work spreads across the cluster.
//!
//! # Scheduling
//!
//! One scheduler task owns a `tokio_util::time::DelayQueue` holding one timer per idle target
//! (a hashed timer wheel: insert and remove are O(1), and 10 000 targets cost 10 000 small
//! slots and no tasks). When a timer expires the scheduler spawns the target's probe into a
//! `JoinSet`; the probe waits for a permit of a semaphore of `max_concurrent` before touching
//! the network. When it finishes, the scheduler counts the result and only then inserts the
//! target's next timer, `interval ± jitter` later — so a target never has two probes at once,
//! and a slow or saturated checker stretches intervals instead of piling up probes. A task per
//! target would also work, but would keep 10 000 sleeping tasks alive and make atomic
//! replacement of the set (keep unchanged, stop removed, start new) a cross-task dance; here
//! it is a map update inside one task. Dropping the checker cancels the scheduler, and
//! dropping the `JoinSet` aborts the probes in flight.
//!
//! # Metrics
//!
//! - `keel_registry_health_checks_total{kind="http|tcp", result="up|down"}` — probes run.
//! - `keel_registry_health_flips_total{to="healthy|unhealthy"}` — health changes reported.
//! - `keel_registry_health_targets` — targets being probed.

mod backlog;
mod checker;
mod probe;
mod scheduler;
mod shard;

pub use checker::{CheckerConfig, HealthChecker, HealthFlip, ProbeTarget};
pub use probe::{ProbeOutcome, probe};
pub use shard::owner;
