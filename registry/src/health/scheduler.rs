//! The one task behind a [`HealthChecker`](super::HealthChecker): a `DelayQueue` of due
//! targets, a `JoinSet` of probes in flight, and the rise/fall bookkeeping.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::Rng;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{AbortHandle, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tokio_util::time::{DelayQueue, delay_queue};

use super::backlog::Backlog;
use super::checker::{CheckerConfig, HealthFlip, ProbeTarget};
use super::probe::{ProbeOutcome, probe};

/// Shortest interval honoured: a zero interval would turn the scheduler into a busy loop.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Longest interval honoured; DelayQueue cannot hold much more than two years.
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// How long after a delivered flip a target set may still show the old health without that
/// counting as a manual change: the registry needs a moment to record the flip.
const ACK_GRACE: Duration = Duration::from_secs(10);

/// What the scheduler knows about one target.
struct Entry {
    target: Arc<ProbeTarget>,
    /// The checker's view of the target's health.
    healthy: bool,
    /// Whether a target set has shown `healthy` since the checker last flipped it: from then
    /// on, a set showing anything else was changed by hand.
    acked: bool,
    /// When the checker last flipped the target.
    flipped_at: Option<Instant>,
    successes: u32,
    failures: u32,
    /// Set while the next probe waits in the queue; never while a probe runs, which is what
    /// keeps probes of one target from overlapping.
    timer: Option<delay_queue::Key>,
    /// Set while a probe runs (or waits for a permit).
    probe: Option<AbortHandle>,
}

pub(super) struct Scheduler {
    config: CheckerConfig,
    entries: HashMap<String, Entry>,
    queue: DelayQueue<String>,
    probes: JoinSet<Option<ProbeOutcome>>,
    /// Probe task → instance; a task missing here belongs to a retired target.
    running: HashMap<tokio::task::Id, String>,
    semaphore: Arc<Semaphore>,
    flips: mpsc::Sender<HealthFlip>,
    /// False once the receiver is gone: flips are then only counted.
    flips_open: bool,
    backlog: Backlog,
}

impl Scheduler {
    pub(super) fn new(config: CheckerConfig, flips: mpsc::Sender<HealthFlip>) -> Self {
        Scheduler {
            semaphore: Arc::new(Semaphore::new(config.max_concurrent)),
            config,
            entries: HashMap::new(),
            queue: DelayQueue::new(),
            probes: JoinSet::new(),
            running: HashMap::new(),
            flips,
            flips_open: true,
            backlog: Backlog::default(),
        }
    }

    /// Runs until `cancel` fires or the checker (the target sender) is dropped; dropping
    /// `self` at the end aborts the probes still in flight.
    pub(super) async fn run(
        mut self,
        mut targets: watch::Receiver<Arc<Vec<ProbeTarget>>>,
        cancel: CancellationToken,
    ) {
        // A handle of our own: a permit borrowed from `self.flips` would lock `self` in the
        // other branches' handlers.
        let flips = self.flips.clone();
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                changed = targets.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let set = Arc::clone(&targets.borrow_and_update());
                    self.apply(&set);
                }
                Some(done) = self.probes.join_next_with_id(), if !self.probes.is_empty() => {
                    self.finished(done);
                }
                reserved = flips.reserve(), if !self.backlog.is_empty() => match reserved {
                    Ok(permit) => {
                        if let Some(flip) = self.backlog.pop() {
                            permit.send(flip);
                        }
                    }
                    Err(_) => self.receiver_gone(),
                },
                Some(expired) = self.queue.next(), if !self.queue.is_empty() => {
                    self.due(expired.into_inner());
                }
            }
        }
        metrics::gauge!("keel_registry_health_targets").set(0.0);
    }

    /// Installs a new target set (see `HealthChecker::set_targets`).
    fn apply(&mut self, set: &[ProbeTarget]) {
        let mut next = HashMap::with_capacity(set.len());
        for target in set {
            if !target.kind.is_active() || next.contains_key(&target.instance_id) {
                continue;
            }
            let entry = match self.entries.remove(&target.instance_id) {
                Some(mut entry) if entry.target.same_check(target) => {
                    self.reconcile(&mut entry, target.healthy);
                    entry
                }
                old => {
                    if let Some(old) = old {
                        self.retire(&target.instance_id, old);
                    }
                    self.fresh(target)
                }
            };
            next.insert(target.instance_id.clone(), entry);
        }
        for (instance_id, old) in std::mem::replace(&mut self.entries, next) {
            self.retire(&instance_id, old);
        }
        metrics::gauge!("keel_registry_health_targets").set(self.entries.len() as f64);
    }

    /// Compares the health the registry shows with ours; the registry's wins when it was set
    /// by hand (see [`Entry::acked`]).
    ///
    /// A disagreement right after a flip is the registry not having recorded it yet and is
    /// ignored — while the flip waits in the backlog, and for [`ACK_GRACE`] after. Sets can be
    /// coalesced (only the newest is applied), so the registry recording the flip and then
    /// someone reverting it may both be missed; the grace period bounds how long that goes
    /// unnoticed, and adopting the registry's value also re-sends the flip if the probes still
    /// disagree after `fall`/`rise` more of them.
    fn reconcile(&mut self, entry: &mut Entry, shown: bool) {
        if shown == entry.healthy {
            entry.acked = true;
            return;
        }
        let settled = entry.acked
            || (!self.backlog.contains(&entry.target.instance_id)
                && entry.flipped_at.is_none_or(|at| at.elapsed() >= ACK_GRACE));
        if settled {
            entry.healthy = shown;
            entry.successes = 0;
            entry.failures = 0;
            entry.acked = true;
            self.backlog.discard(&entry.target.instance_id);
        }
    }

    /// A new entry, its first probe at a random point within one interval.
    fn fresh(&mut self, target: &ProbeTarget) -> Entry {
        let first = pace(target.interval).mul_f64(rand::rng().random::<f64>());
        Entry {
            target: Arc::new(target.clone()),
            healthy: target.healthy,
            acked: true,
            flipped_at: None,
            successes: 0,
            failures: 0,
            timer: Some(self.queue.insert(target.instance_id.clone(), first)),
            probe: None,
        }
    }

    /// Forgets a target: its timer, its probe in flight and its undelivered flip.
    fn retire(&mut self, instance_id: &str, entry: Entry) {
        if let Some(key) = entry.timer {
            self.queue.try_remove(&key);
        }
        if let Some(probe) = entry.probe {
            probe.abort();
            self.running.remove(&probe.id());
        }
        self.backlog.discard(instance_id);
    }

    /// A target's timer expired: start its probe, which waits for a permit first.
    fn due(&mut self, instance_id: String) {
        let Some(entry) = self.entries.get_mut(&instance_id) else {
            return;
        };
        entry.timer = None;
        let target = Arc::clone(&entry.target);
        let semaphore = Arc::clone(&self.semaphore);
        let handle = self.probes.spawn(async move {
            // The semaphore is never closed; `None` would only mean "did not run".
            let _permit = semaphore.acquire_owned().await.ok()?;
            let t = &*target;
            Some(probe(t.kind, &t.host, t.port, &t.path, t.timeout).await)
        });
        self.running.insert(handle.id(), instance_id);
        entry.probe = Some(handle);
    }

    /// A probe task ended: count the result, maybe flip, and schedule the next probe.
    fn finished(&mut self, done: Result<(tokio::task::Id, Option<ProbeOutcome>), JoinError>) {
        let (task, outcome) = match done {
            Ok((task, outcome)) => (task, outcome),
            Err(e) => {
                if e.is_panic() {
                    tracing::error!(error = %e, "a health probe panicked; it is retried");
                }
                (e.id(), None)
            }
        };
        // Absent: the target was removed or changed while the probe ran; its result is moot.
        let Some(instance_id) = self.running.remove(&task) else {
            return;
        };
        let Some(entry) = self.entries.get_mut(&instance_id) else {
            return;
        };
        entry.probe = None;
        let mut flip = None;
        if let Some(outcome) = outcome {
            let kind = entry.target.kind.as_str();
            let result = if outcome.healthy { "up" } else { "down" };
            metrics::counter!("keel_registry_health_checks_total", "kind" => kind, "result" => result)
                .increment(1);
            tracing::debug!(
                instance_id,
                healthy = outcome.healthy,
                detail = outcome.detail,
                took = ?outcome.took,
                "health probe"
            );
            if outcome.healthy {
                entry.successes = entry.successes.saturating_add(1);
                entry.failures = 0;
            } else {
                entry.failures = entry.failures.saturating_add(1);
                entry.successes = 0;
            }
            let turns = if entry.healthy {
                entry.failures >= self.config.fall
            } else {
                entry.successes >= self.config.rise
            };
            if turns {
                entry.healthy = !entry.healthy;
                entry.acked = false;
                entry.flipped_at = Some(Instant::now());
                flip = Some(HealthFlip {
                    instance_id: instance_id.clone(),
                    healthy: entry.healthy,
                    detail: outcome.detail,
                });
            }
        }
        let wait = jittered(entry.target.interval, self.config.jitter);
        entry.timer = Some(self.queue.insert(instance_id, wait));
        if let Some(flip) = flip {
            self.emit(flip);
        }
    }

    /// Reports a flip without ever waiting for the receiver.
    fn emit(&mut self, flip: HealthFlip) {
        let to = if flip.healthy { "healthy" } else { "unhealthy" };
        metrics::counter!("keel_registry_health_flips_total", "to" => to).increment(1);
        tracing::info!(
            instance_id = flip.instance_id,
            to,
            detail = flip.detail,
            "instance health changed"
        );
        if !self.flips_open {
            return;
        }
        // Behind a backlog, a direct send could overtake an older flip of the same instance.
        if !self.backlog.is_empty() {
            self.backlog.push(flip);
            return;
        }
        match self.flips.try_send(flip) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(flip)) => self.backlog.push(flip),
            Err(mpsc::error::TrySendError::Closed(_)) => self.receiver_gone(),
        }
    }

    fn receiver_gone(&mut self) {
        if self.flips_open {
            tracing::warn!("nobody receives health flips any more; they are only counted");
        }
        self.flips_open = false;
        self.backlog = Backlog::default();
    }
}

/// The interval brought into the range the scheduler honours.
fn pace(interval: Duration) -> Duration {
    interval.clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// The interval stretched or shrunk at random by up to `jitter` (already within 0..=0.9).
fn jittered(interval: Duration, jitter: f64) -> Duration {
    let factor = 1.0 + jitter * rand::rng().random_range(-1.0..=1.0);
    pace(interval).mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_fraction() {
        let base = Duration::from_secs(10);
        for _ in 0..1000 {
            let d = jittered(base, 0.1);
            assert!(
                d >= Duration::from_secs(9) && d <= Duration::from_secs(11),
                "{d:?}"
            );
        }
        assert_eq!(jittered(Duration::ZERO, 0.0), MIN_INTERVAL);
    }
}
