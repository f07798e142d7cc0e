//! The public face of the active health checker: its configuration, its targets, the flips it
//! reports, and the handle that owns the background scheduler (see [`super::scheduler`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::scheduler::Scheduler;
use crate::{CheckKind, HealthStatus, Instance};

/// Room in the flip channel before flips are coalesced (see [`HealthChecker::start`]).
const FLIP_CHANNEL_CAPACITY: usize = 1024;

/// How the checker paces and judges probes.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckerConfig {
    /// Most probes in flight at once across all targets (default 64; 0 is treated as 1).
    pub max_concurrent: usize,
    /// Consecutive successes that make an unhealthy target healthy (default 2; 0 counts as 1).
    pub rise: u32,
    /// Consecutive failures that make a healthy target unhealthy (default 3; 0 counts as 1).
    pub fall: u32,
    /// Each interval is stretched or shrunk at random by up to this fraction, so targets
    /// registered together drift apart (default 0.1; clamped to 0..=0.9).
    pub jitter: f64,
}

impl Default for CheckerConfig {
    fn default() -> Self {
        CheckerConfig {
            max_concurrent: 64,
            rise: 2,
            fall: 3,
            jitter: 0.1,
        }
    }
}

impl CheckerConfig {
    /// The configuration with out-of-range values brought into range, so a bad value cannot
    /// stall the checker (no permits) or make it flap (a zero threshold).
    pub(crate) fn normalized(&self) -> Self {
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 0.9)
        } else {
            0.0
        };
        CheckerConfig {
            max_concurrent: self.max_concurrent.max(1),
            rise: self.rise.max(1),
            fall: self.fall.max(1),
            jitter,
        }
    }
}

/// One instance to probe, with the health the registry currently shows for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    /// The instance; unique within one [`HealthChecker::set_targets`] call.
    pub instance_id: String,
    /// `http` or `tcp`; other kinds are ignored.
    pub kind: CheckKind,
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path an HTTP probe GETs.
    pub path: String,
    /// Time between the end of one probe and the start of the next (before jitter).
    pub interval: Duration,
    /// How long one probe may take.
    pub timeout: Duration,
    /// The health the registry currently shows; a new target starts from it. For a known
    /// target, a value that disagrees with the checker after the registry has recorded the
    /// checker's last flip was set by hand: the checker adopts it and counts `rise`/`fall`
    /// from there. Right after a flip the old value is expected (the registry has not recorded
    /// the flip yet) and is ignored for a grace period of 10 s.
    pub healthy: bool,
}

impl ProbeTarget {
    /// The target for an instance whose check is `http` or `tcp`; `None` for other kinds.
    pub fn from_instance(instance: &Instance) -> Option<ProbeTarget> {
        let check = &instance.health_check;
        check.kind.is_active().then(|| ProbeTarget {
            instance_id: instance.instance_id.clone(),
            kind: check.kind,
            host: instance.host.clone(),
            port: instance.port,
            path: check.path().to_owned(),
            interval: check.interval(),
            timeout: check.timeout(),
            healthy: instance.checked_health == HealthStatus::Healthy,
        })
    }

    /// Whether `other` is probed the same way (everything but `healthy` is equal), in which
    /// case a new target set keeps this target's schedule and counters.
    pub(crate) fn same_check(&self, other: &ProbeTarget) -> bool {
        self.kind == other.kind
            && self.host == other.host
            && self.port == other.port
            && self.path == other.path
            && self.interval == other.interval
            && self.timeout == other.timeout
    }
}

/// A target's health changed: `fall` failures in a row made it unhealthy, or `rise` successes
/// in a row made it healthy again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthFlip {
    /// The instance.
    pub instance_id: String,
    /// Its new health.
    pub healthy: bool,
    /// What the last probe saw (`"HTTP 500"`, `"connection refused"`, `"HTTP 200"`, ...).
    pub detail: String,
}

/// Probes a changing set of instances in the background and reports health flips.
///
/// Dropping it (or [`close`](HealthChecker::close)) stops the scheduler and aborts probes in
/// flight; `close` also waits until they are gone.
#[derive(Debug)]
pub struct HealthChecker {
    targets: watch::Sender<Arc<Vec<ProbeTarget>>>,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl HealthChecker {
    /// Starts a checker with no targets; must be called inside a Tokio runtime.
    ///
    /// Flips arrive on the returned channel, which is bounded. When the receiver falls behind,
    /// the checker does not wait for it: it keeps the newest flip per instance (at most one
    /// per target, so the backlog is bounded by the target count) and delivers the backlog in
    /// order as room appears. Flips of targets that are removed or change their check are
    /// dropped from the backlog, as they no longer describe anything probed.
    pub fn start(config: CheckerConfig) -> (HealthChecker, mpsc::Receiver<HealthFlip>) {
        Self::start_with_capacity(config, FLIP_CHANNEL_CAPACITY)
    }

    /// [`start`](Self::start) with a chosen flip-channel capacity (tests fill it quickly).
    pub(crate) fn start_with_capacity(
        config: CheckerConfig,
        capacity: usize,
    ) -> (HealthChecker, mpsc::Receiver<HealthFlip>) {
        let (flips_tx, flips_rx) = mpsc::channel(capacity.max(1));
        let (targets_tx, targets_rx) = watch::channel(Arc::new(Vec::new()));
        let cancel = CancellationToken::new();
        let scheduler = Scheduler::new(config.normalized(), flips_tx);
        let task = tokio::spawn(scheduler.run(targets_rx, cancel.clone()));
        let checker = HealthChecker {
            targets: targets_tx,
            cancel,
            task: Mutex::new(Some(task)),
        };
        (checker, flips_rx)
    }

    /// Replaces the whole target set at once.
    ///
    /// Targets whose check is unchanged keep their schedule and counters; removed ones stop
    /// (a probe in flight is aborted); new or changed ones start counting afresh from their
    /// `healthy` field and get their first probe at a random point within their interval, so
    /// thousands of instances registered together are not probed in the same instant. Targets
    /// of other kinds than `http`/`tcp` are ignored; of duplicate ids the first wins.
    pub fn set_targets(&self, targets: Vec<ProbeTarget>) {
        // send_replace keeps the value even when the scheduler is gone (after close), and only
        // the newest set matters: each one replaces the previous entirely.
        self.targets.send_replace(Arc::new(targets));
    }

    /// Stops probing and waits until the scheduler and its probes are gone. Idempotent.
    pub async fn close(&self) {
        self.cancel.cancel();
        let mut task = self.task.lock().await;
        if let Some(handle) = task.take()
            && let Err(e) = handle.await
            && e.is_panic()
        {
            tracing::error!(error = %e, "the health-check scheduler panicked");
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        // The scheduler notices at its next poll and drops its JoinSet, aborting the probes.
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_channel_coalesces_instead_of_blocking() {
        // Five listeners that count connections; each target starts unhealthy and flips to
        // healthy on its first probe (rise 1).
        let mut targets = Vec::new();
        let mut counts = Vec::new();
        let mut accept_tasks = Vec::new();
        for i in 0..5 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let count = Arc::new(AtomicUsize::new(0));
            let c = Arc::clone(&count);
            accept_tasks.push(tokio::spawn(async move {
                while listener.accept().await.is_ok() {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            }));
            counts.push(count);
            targets.push(ProbeTarget {
                instance_id: format!("i-{i}"),
                kind: CheckKind::Tcp,
                host: "127.0.0.1".into(),
                port,
                path: String::new(),
                interval: Duration::from_millis(50),
                timeout: Duration::from_secs(5),
                healthy: false,
            });
        }
        let config = CheckerConfig {
            rise: 1,
            ..CheckerConfig::default()
        };
        let (checker, mut flips) = HealthChecker::start_with_capacity(config, 1);
        checker.set_targets(targets);

        // Every target probed twice: all five have flipped, one into the channel and four
        // into the backlog, and the checker kept probing meanwhile.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while counts.iter().any(|c| c.load(Ordering::SeqCst) < 2) {
            assert!(
                std::time::Instant::now() < deadline,
                "targets were not probed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut seen = BTreeSet::new();
        for _ in 0..5 {
            let flip = tokio::time::timeout(Duration::from_secs(20), flips.recv())
                .await
                .unwrap()
                .unwrap();
            assert!(flip.healthy);
            seen.insert(flip.instance_id);
        }
        assert_eq!(seen.len(), 5, "{seen:?}");
        checker.close().await;
        for t in accept_tasks {
            t.abort();
        }
    }
}
