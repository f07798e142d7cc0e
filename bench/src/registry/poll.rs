//! Register → seen by polling watchers, through the Nacos v1 naming API, which has no long
//! poll (r-nacos pushes changes only over UDP or gRPC, delayed 500 ms to batch them): a Nacos
//! HTTP client learns of a registration at its next `instance/list`.
//!
//! W watchers each poll `GET /nacos/v1/ns/instance/list?serviceName=S` once per interval, their
//! phases spread evenly over the interval as independent clients' would be; R rounds of one
//! registration (`POST /nacos/v1/ns/instance`) each. A watcher's latency is the time from
//! sending the registration to the first list answer of that watcher holding the new instance.
//! Its distribution is about uniform over one interval plus the server's own delay: the
//! figure is honest about what a polling client sees, and says little about the server. The
//! **first** watcher of a round (with W watchers one polls every interval / W) bounds the
//! server's delay from registration to visibility from above.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use super::{host, micros, nacos_register};
use crate::http::{Conn, Url, form_encode};
use crate::keel::expect;
use crate::stats::{Summary, ms};

/// A polling run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server.
    pub server: Url,
    /// The watched service.
    pub service: String,
    /// Polling watchers.
    pub watchers: usize,
    /// Registrations, one per round.
    pub rounds: usize,
    /// Each watcher's polling interval.
    pub interval: Duration,
    /// Longest wait past one interval for a round's answers.
    pub deadline: Duration,
}

/// The instance a round waits for: the round and its quoted host (`"10.0.0.7"`, which in a
/// list answer occurs only as the `ip` field: instance ids continue with `#port`).
#[derive(Clone)]
struct Target {
    round: usize,
    needle: Arc<Vec<u8>>,
}

/// A watcher saw round `round`'s instance at `at`.
struct Seen {
    round: usize,
    at: Instant,
}

/// Runs the rounds; the JSON has the latency percentiles over every (watcher, round).
pub async fn run(plan: &Plan) -> io::Result<Value> {
    if plan.watchers == 0 || plan.interval.is_zero() {
        return Err(io::Error::other(
            "need at least one watcher and a non-zero interval",
        ));
    }
    let mut ctl = Conn::connect(&plan.server.addr, None).await?;
    // An instance first, so the service exists before anyone polls it.
    register(&mut ctl, plan, 0).await?;
    let list = plan
        .server
        .with_path(&format!(
            "/nacos/v1/ns/instance/list?serviceName={}",
            form_encode(&plan.service)
        ))
        .get();

    let (target_tx, target_rx) = watch::channel(None::<Target>);
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let polls = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut watchers = Vec::with_capacity(plan.watchers);
    for w in 0..plan.watchers {
        let conn = Conn::connect(&plan.server.addr, None).await?;
        let phase = plan.interval.mul_f64(w as f64 / plan.watchers as f64);
        watchers.push(tokio::spawn(poll(
            conn,
            Arc::new(list.clone()),
            started + phase,
            plan.interval,
            target_rx.clone(),
            seen_tx.clone(),
            Arc::clone(&polls),
        )));
    }
    drop(seen_tx);
    // One interval for every watcher to have polled once before the first round.
    tokio::time::sleep_until((started + plan.interval * 2).into()).await;

    let (mut latencies, mut acks, mut firsts) = (Vec::new(), Vec::new(), Vec::new());
    let mut missing = 0u64;
    let rounds_started = Instant::now();
    let polls_before = polls.load(Ordering::Relaxed);
    for round in 1..=plan.rounds {
        let needle = format!("\"{}\"", host(round)).into_bytes();
        target_tx.send_replace(Some(Target {
            round,
            needle: Arc::new(needle),
        }));
        let sent = Instant::now();
        register(&mut ctl, plan, round).await?;
        acks.push(micros(sent.elapsed()));
        let deadline = sent + plan.interval + plan.deadline;
        let (mut answered, mut first) = (0, u32::MAX);
        while answered < plan.watchers {
            match tokio::time::timeout_at(deadline.into(), seen_rx.recv()).await {
                Ok(Some(seen)) if seen.round == round => {
                    let us = micros(seen.at.saturating_duration_since(sent));
                    first = first.min(us);
                    latencies.push(us);
                    answered += 1;
                }
                Ok(Some(_)) => {} // a late report of an earlier round
                Ok(None) | Err(_) => break,
            }
        }
        missing += (plan.watchers - answered) as u64;
        if first != u32::MAX {
            firsts.push(first);
        }
    }
    let polling = rounds_started.elapsed().as_secs_f64().max(1e-9);
    let polls_per_s = (polls.load(Ordering::Relaxed) - polls_before) as f64 / polling;
    for watcher in &watchers {
        watcher.abort();
    }
    let (all, ack, first) = (
        Summary::of(&mut latencies),
        Summary::of(&mut acks),
        Summary::of(&mut firsts),
    );
    Ok(json!({
        "mode": "poll",
        "watchers": plan.watchers,
        "rounds": plan.rounds,
        "interval_ms": plan.interval.as_millis() as u64,
        "polls_per_s": polls_per_s.round(),
        "answers": all.count,
        "p50_ms": ms(all.p50),
        "p99_ms": ms(all.p99),
        "max_ms": ms(all.max),
        "first_p50_ms": ms(first.p50),
        "register_ack_p50_ms": ms(ack.p50),
        "register_ack_p99_ms": ms(ack.p99),
        "stale_answers": 0,
        "missing_answers": missing,
    }))
}

/// Registers instance `i` of the service (ephemeral: nothing beats it, but a run is over long
/// before either server would expire it, 30 s).
async fn register(conn: &mut Conn, plan: &Plan, i: usize) -> io::Result<()> {
    let answer = conn
        .send(&nacos_register(&plan.server, &plan.service, i))
        .await?;
    expect(&answer, &[200], "registering")?;
    if answer.body != b"ok" {
        return Err(io::Error::other(format!(
            "registering answered {}",
            String::from_utf8_lossy(&answer.body)
        )));
    }
    Ok(())
}

/// One watcher: a list request every `interval` from `first`; reports the first answer of
/// each round that holds the round's instance. A slow answer delays the next poll rather
/// than bunching polls up, as a client's timer would.
async fn poll(
    mut conn: Conn,
    list: Arc<Vec<u8>>,
    first: Instant,
    interval: Duration,
    target: watch::Receiver<Option<Target>>,
    seen: mpsc::UnboundedSender<Seen>,
    polls: Arc<AtomicU64>,
) -> io::Result<()> {
    let mut ticks = tokio::time::interval_at(first.into(), interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reported = 0;
    loop {
        ticks.tick().await;
        // The round is read before the request: an answer can only prove the instance of a
        // round that had started when the request was sent.
        let wanted = target.borrow().clone();
        let answer = conn.send(&list).await?;
        let at = Instant::now();
        polls.fetch_add(1, Ordering::Relaxed);
        if answer.status != 200 {
            return Err(io::Error::other(format!(
                "instance/list answered {}",
                answer.status
            )));
        }
        if let Some(t) = wanted
            && t.round > reported
            && contains(&answer.body, &t.needle)
        {
            reported = t.round;
            if seen.send(Seen { round: t.round, at }).is_err() {
                return Ok(());
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_match_the_ip_field_only() {
        let body = br#"{"hosts":[{"instanceId":"10.0.0.1#8080#DEFAULT#G@@s","ip":"10.0.0.12"}]}"#;
        assert!(!contains(body, b"\"10.0.0.1\""));
        assert!(contains(body, b"\"10.0.0.12\""));
    }
}
