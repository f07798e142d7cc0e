//! Register → watcher notified latency (keel only): W long polls parked on one service
//! (`GET /api/v1/services/S/instances?revision=N&wait=30s`), then R rounds of one
//! registration each, timing every watcher's answer from the moment the registration was
//! sent. Each watcher re-parks at once with the revision it was answered; a round starts
//! when `GET /metrics` shows `keel_registry_parked_watches` ≥ W.
//!
//! Instances registered here carry one-hour timeouts, so no expiry or health flip wakes the
//! watchers during the run.

use std::io;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{host, micros};
use crate::http::{Conn, Url, form_encode};
use crate::keel::{expect, gauge};
use crate::stats::{Summary, ms};

/// A notification run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server.
    pub server: Url,
    /// The watched service.
    pub service: String,
    /// Parked long polls.
    pub watchers: usize,
    /// Registrations, one per round.
    pub rounds: usize,
    /// Longest wait for the watchers to park, and for a round's answers.
    pub deadline: Duration,
}

/// One watcher's answer.
struct Woken {
    at: Instant,
    revision: i64,
}

const PARKED_GAUGE: &str = "keel_registry_parked_watches";

/// Runs the rounds; the JSON has the latency percentiles over every (watcher, round).
pub async fn run(plan: &Plan) -> io::Result<Value> {
    let mut ctl = Conn::connect(&plan.server.addr, None).await?;
    let list = format!("/api/v1/services/{}/instances", form_encode(&plan.service));
    // An instance first, so the service exists; then its revision.
    register(&mut ctl, plan, 0).await?;
    let answer = ctl.send(&plan.server.with_path(&list).get()).await?;
    expect(&answer, &[200], "listing the service")?;
    let revision = revision_of(&answer.json()?)?;

    let parking = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watchers = Vec::with_capacity(plan.watchers);
    for _ in 0..plan.watchers {
        let conn = Conn::connect(&plan.server.addr, None).await?;
        let (server, list, tx) = (plan.server.clone(), list.clone(), tx.clone());
        watchers.push(tokio::spawn(watch(conn, server, list, revision, tx)));
    }
    drop(tx);

    let (mut latencies, mut acks, mut firsts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut stale, mut missing) = (0u64, 0u64);
    let mut parking_s = 0.0;
    for round in 1..=plan.rounds {
        wait_parked(&mut ctl, plan).await?;
        if round == 1 {
            parking_s = parking.elapsed().as_secs_f64();
        }
        let sent = Instant::now();
        let registered = register(&mut ctl, plan, round).await?;
        acks.push(micros(sent.elapsed()));
        let deadline = Instant::now() + plan.deadline;
        let mut first = u32::MAX;
        for _ in 0..plan.watchers {
            match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                Ok(Some(woken)) => {
                    let us = micros(woken.at.saturating_duration_since(sent));
                    first = first.min(us);
                    latencies.push(us);
                    stale += u64::from(woken.revision < registered);
                }
                Ok(None) | Err(_) => missing += 1,
            }
        }
        firsts.push(first);
    }
    for watcher in &watchers {
        watcher.abort();
    }
    let (all, ack, first) = (
        Summary::of(&mut latencies),
        Summary::of(&mut acks),
        Summary::of(&mut firsts),
    );
    Ok(json!({
        "watchers": plan.watchers,
        "rounds": plan.rounds,
        "parking_s": (parking_s * 10.0).round() / 10.0,
        "answers": all.count,
        "p50_ms": ms(all.p50),
        "p99_ms": ms(all.p99),
        "max_ms": ms(all.max),
        "first_p50_ms": ms(first.p50),
        "register_ack_p50_ms": ms(ack.p50),
        "register_ack_p99_ms": ms(ack.p99),
        "stale_answers": stale,
        "missing_answers": missing,
    }))
}

/// Registers instance `i` of the service; answers the revision it made.
async fn register(conn: &mut Conn, plan: &Plan, i: usize) -> io::Result<i64> {
    let body = json!({
        "serviceName": plan.service,
        "host": host(i),
        "port": super::PORT,
        "healthCheck": {"type": "ttl", "interval": "5s", "unhealthyTimeout": "1h", "deleteTimeout": "1h"},
    });
    let answer = conn
        .send(&plan.server.with_path("/api/v1/instances").post_json(&body))
        .await?;
    expect(&answer, &[200], "registering")?;
    revision_of(&answer.json()?)
}

fn revision_of(envelope: &Value) -> io::Result<i64> {
    envelope["data"]["revision"]
        .as_i64()
        .ok_or_else(|| io::Error::other(format!("no data.revision in {envelope}")))
}

/// The `"revision":N` of an answer without parsing it: every watcher's answer is read on
/// one client thread, and parsing the whole body (all the service's instances) would delay
/// the answers behind it. Instances carry no `revision` field; the envelope's is the last.
fn scan_revision(body: &[u8]) -> Option<i64> {
    const FIELD: &[u8] = b"\"revision\":";
    let at = body.windows(FIELD.len()).rposition(|w| w == FIELD)? + FIELD.len();
    let digits = body[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'-')
        .count();
    std::str::from_utf8(&body[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// Polls `/metrics` until the watchers are parked.
async fn wait_parked(ctl: &mut Conn, plan: &Plan) -> io::Result<()> {
    let metrics = plan.server.with_path("/metrics").get();
    let deadline = Instant::now() + plan.deadline;
    loop {
        let answer = ctl.send(&metrics).await?;
        let page = String::from_utf8_lossy(&answer.body);
        let parked = gauge(&page, PARKED_GAUGE).unwrap_or(0.0);
        if parked >= plan.watchers as f64 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "only {parked} of {} watchers parked after {:?}",
                plan.watchers, plan.deadline
            )));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One watcher: long poll, report the answer, re-park with its revision; a 304 re-parks.
async fn watch(
    mut conn: Conn,
    server: Url,
    list: String,
    mut revision: i64,
    tx: mpsc::UnboundedSender<Woken>,
) -> io::Result<()> {
    loop {
        let request = server
            .with_path(&format!("{list}?revision={revision}&wait=30s"))
            .get();
        let answer = conn.send(&request).await?;
        let at = Instant::now();
        match answer.status {
            304 => continue,
            200 => {
                revision = match scan_revision(&answer.body) {
                    Some(revision) => revision,
                    None => revision_of(&answer.json()?)?,
                };
                if tx.send(Woken { at, revision }).is_err() {
                    return Ok(());
                }
            }
            other => {
                return Err(io::Error::other(format!("a long poll answered {other}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_are_found_without_parsing() {
        let body = br#"{"code":0,"data":{"instances":[{"port":1}],"revision":42,"tenant":"t"}}"#;
        assert_eq!(scan_revision(body), Some(42));
        assert_eq!(scan_revision(b"{}"), None);
    }
}
