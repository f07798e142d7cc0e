//! Heartbeat throughput: C connections, each cycling through its share of the instances and
//! sending heartbeats back to back (one at a time per connection) for a fixed time.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::micros;
use crate::cpu_ticks;
use crate::http::{Conn, Url};
use crate::stats::{Summary, ms};

/// A heartbeat run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server.
    pub server: Url,
    /// Concurrent connections.
    pub connections: usize,
    /// Measured seconds, after `warmup`.
    pub seconds: f64,
    /// Unmeasured seconds first.
    pub warmup: f64,
    /// The server's pid, for its CPU time per heartbeat.
    pub pid: Option<u32>,
}

/// What one connection saw in the measured window.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    non_200: u64,
    errors: u64,
    first_failure: Option<String>,
}

/// Sends `beats` (one request per instance) round-robin; connection `c` takes instances
/// `c, c + C, …`.
pub async fn run(plan: &Plan, beats: Vec<Vec<u8>>) -> io::Result<Value> {
    if plan.connections == 0 || beats.is_empty() {
        return Err(io::Error::other(
            "need at least one connection and one instance",
        ));
    }
    let beats = Arc::new(beats);
    let start = Instant::now() + Duration::from_secs_f64(plan.warmup);
    let end = start + Duration::from_secs_f64(plan.seconds);
    let mut tasks = Vec::with_capacity(plan.connections);
    for c in 0..plan.connections {
        let conn = Conn::connect(&plan.server.addr, None).await?;
        let beats = Arc::clone(&beats);
        let shares = plan.connections;
        tasks.push(tokio::spawn(async move {
            let mine: Vec<&[u8]> = beats
                .iter()
                .skip(c)
                .step_by(shares)
                .map(|b| &b[..])
                .collect();
            hammer(conn, &mine, start, end).await
        }));
    }
    tokio::time::sleep_until(start.into()).await;
    let cpu_before = plan.pid.map(cpu_ticks).transpose()?;
    let mut all = Tally::default();
    for task in tasks {
        let tally = task.await.map_err(io::Error::other)?;
        all.latencies_us.extend(tally.latencies_us);
        all.non_200 += tally.non_200;
        all.errors += tally.errors;
        all.first_failure = all.first_failure.or(tally.first_failure);
    }
    let cpu_after = plan.pid.map(cpu_ticks).transpose()?;
    let summary = Summary::of(&mut all.latencies_us);
    let elapsed = Instant::now().min(end).saturating_duration_since(start);
    let seconds = elapsed.as_secs_f64().max(1e-9);
    Ok(json!({
        "instances": beats.len(),
        "connections": plan.connections,
        "seconds": seconds,
        "beats": summary.count,
        "beats_per_s": (summary.count as f64 / seconds).round(),
        "p50_ms": ms(summary.p50),
        "p99_ms": ms(summary.p99),
        "max_ms": ms(summary.max),
        "non_200": all.non_200,
        "errors": all.errors,
        "first_failure": all.first_failure,
        "server_cpu_us_per_beat": cpu_before.zip(cpu_after).map(|(before, after)| {
            (after.saturating_sub(before) * 10_000) as f64 / summary.count.max(1) as f64
        }),
    }))
}

/// One connection until `end`; a broken connection is reopened and counted.
async fn hammer(mut conn: Conn, beats: &[&[u8]], start: Instant, end: Instant) -> Tally {
    let mut tally = Tally::default();
    let addr = *conn.addr();
    for beat in beats.iter().cycle() {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let outcome = conn.send(beat).await;
        let measured = sent >= start;
        match outcome {
            Ok(answer) if measured => {
                tally.latencies_us.push(micros(sent.elapsed()));
                if answer.status != 200 {
                    tally.non_200 += 1;
                    tally.first_failure.get_or_insert_with(|| {
                        format!(
                            "{}: {}",
                            answer.status,
                            String::from_utf8_lossy(&answer.body)
                        )
                    });
                }
            }
            Ok(_) => {}
            Err(e) => {
                tally.errors += 1;
                tally.first_failure.get_or_insert_with(|| e.to_string());
                match Conn::connect(&addr, None).await {
                    Ok(fresh) => conn = fresh,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    }
    tally
}
