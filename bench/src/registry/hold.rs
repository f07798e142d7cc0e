//! Holding N instances: registers them (keel: the batch API) while heartbeat connections
//! already beat every registered one once per interval, paced and spread evenly (beat slot
//! `k` is due at `k × interval / N` and goes to instance `k mod N`, on connection `k mod C`);
//! once all are registered and one more interval has passed, holds them for T seconds and
//! reports the beats achieved in that window, how late they were against their schedule, how
//! many instances the server still has (and how many are healthy), and its RSS before
//! registering, after, and at the end.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::register::{self, OnRegistered};
use super::{beat_request, census, micros};
use crate::http::Conn;
use crate::stats::{Summary, ms};
use crate::{cpu_ticks, rss_kib};

/// A hold run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How to register (server, API, services, count, connections, batch, check).
    pub register: register::Plan,
    /// Heartbeat interval per instance.
    pub interval: Duration,
    /// Seconds to hold once all are registered.
    pub seconds: f64,
    /// Heartbeat connections.
    pub beat_connections: usize,
    /// The server's pid (RSS, CPU).
    pub pid: u32,
}

/// One beat: when it was sent (µs since the start), its latency and lateness (µs), whether
/// it succeeded.
#[derive(Clone, Copy)]
struct Sample {
    sent_us: u64,
    latency_us: u32,
    late_us: u32,
    ok: bool,
}

/// Runs the hold; the JSON is the report.
pub async fn run(plan: &Plan) -> io::Result<Value> {
    let n = plan.register.count;
    if n == 0 || plan.beat_connections == 0 {
        return Err(io::Error::other("need instances and beat connections"));
    }
    let rss_before = rss_kib(plan.pid)?;
    let slots: Arc<Vec<OnceLock<Vec<u8>>>> = Arc::new((0..n).map(|_| OnceLock::new()).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let per_slot = plan.interval.as_secs_f64() / n as f64;
    let mut beaters = Vec::with_capacity(plan.beat_connections);
    for c in 0..plan.beat_connections {
        let conn = Conn::connect(&plan.register.server.addr, None).await?;
        let (slots, stop) = (Arc::clone(&slots), Arc::clone(&stop));
        let shares = plan.beat_connections;
        beaters.push(tokio::spawn(async move {
            beat(conn, &slots, &stop, start, per_slot, c, shares).await
        }));
    }

    let on_registered: OnRegistered = {
        let (slots, server, api, services) = (
            Arc::clone(&slots),
            plan.register.server.clone(),
            plan.register.api,
            plan.register.services.clone(),
        );
        Arc::new(move |i, id| {
            if let Some(slot) = slots.get(i) {
                let _ = slot.set(beat_request(&server, api, &services.of(i), i, id));
            }
        })
    };
    let registered = register::register_all(&plan.register, on_registered).await?;
    let rss_registered = rss_kib(plan.pid)?;
    // One interval to settle: every instance has had its first beat, and the beaters have
    // caught up with the schedule the registrations disturbed.
    tokio::time::sleep(plan.interval).await;
    let window_start = Instant::now();
    let cpu_before = cpu_ticks(plan.pid)?;
    tokio::time::sleep(Duration::from_secs_f64(plan.seconds)).await;
    let window_end = Instant::now();
    let cpu_after = cpu_ticks(plan.pid)?;
    let rss_end = rss_kib(plan.pid)?;
    let (held, healthy) = census(
        &plan.register.server,
        plan.register.api,
        &plan.register.services,
    )
    .await?;
    stop.store(true, Ordering::Relaxed);

    let (from, to) = (
        window_start.duration_since(start).as_micros() as u64,
        window_end.duration_since(start).as_micros() as u64,
    );
    let (mut latencies, mut lateness, mut failed) = (Vec::new(), Vec::new(), 0u64);
    let mut broken = 0u64;
    for beater in beaters {
        let (samples, errors) = beater.await.map_err(io::Error::other)?;
        broken += errors;
        for s in samples.iter().filter(|s| (from..to).contains(&s.sent_us)) {
            latencies.push(s.latency_us);
            lateness.push(s.late_us);
            failed += u64::from(!s.ok);
        }
    }
    let seconds = window_end.duration_since(window_start).as_secs_f64();
    let (latency, late) = (Summary::of(&mut latencies), Summary::of(&mut lateness));
    let kib_per = |kib: u64| (kib * 1024) as f64 / n as f64;
    Ok(json!({
        "instances": n,
        "services": plan.register.services.len(),
        "interval_s": plan.interval.as_secs_f64(),
        "target_beats_per_s": (n as f64 / plan.interval.as_secs_f64()).round(),
        "register": registered.to_json(&plan.register),
        "hold_s": seconds,
        "beats": latency.count,
        "beats_per_s": (latency.count as f64 / seconds.max(1e-9)).round(),
        "beat_p50_ms": ms(latency.p50),
        "beat_p99_ms": ms(latency.p99),
        "late_p99_ms": ms(late.p99),
        "late_max_ms": ms(late.max),
        "failed_beats": failed,
        "broken_connections": broken,
        "held": held,
        "healthy": healthy,
        "expired": (n as u64).saturating_sub(held),
        "rss_before_kib": rss_before,
        "rss_registered_kib": rss_registered,
        "rss_end_kib": rss_end,
        "bytes_per_instance": kib_per(rss_end.saturating_sub(rss_before)).round(),
        "server_cpu_pct": ((cpu_after - cpu_before) as f64 / seconds.max(1e-9)).round(),
        "server_cpu_us_per_beat": ((cpu_after - cpu_before) * 10_000) as f64 / latency.count.max(1) as f64,
    }))
}

/// One heartbeat connection: slots `c, c + C, …` at their due times, skipping instances not
/// registered yet; behind schedule it sends back to back.
async fn beat(
    mut conn: Conn,
    slots: &[OnceLock<Vec<u8>>],
    stop: &AtomicBool,
    start: Instant,
    per_slot: f64,
    c: usize,
    shares: usize,
) -> (Vec<Sample>, u64) {
    let (mut samples, mut errors) = (Vec::new(), 0u64);
    let addr = *conn.addr();
    let mut k = c;
    while !stop.load(Ordering::Relaxed) {
        let due = start + Duration::from_secs_f64(per_slot * k as f64);
        let i = k % slots.len();
        k += shares;
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let Some(request) = slots[i].get() else {
            continue;
        };
        let sent = Instant::now();
        let ok = match conn.send(request).await {
            Ok(answer) => answer.status == 200,
            Err(_) => {
                errors += 1;
                if let Ok(fresh) = Conn::connect(&addr, None).await {
                    conn = fresh;
                }
                false
            }
        };
        samples.push(Sample {
            sent_us: sent.duration_since(start).as_micros() as u64,
            latency_us: micros(sent.elapsed()),
            late_us: micros(sent.saturating_duration_since(due)),
            ok,
        });
    }
    (samples, errors)
}
