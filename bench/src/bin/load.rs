//! `load`: N keep-alive HTTP/1.1 connections sending one request each at a time to one URL,
//! for a fixed time (and at most a fixed number of requests). Prints one JSON object:
//! requests/s, p50/p99/max latency, errors.
//!
//! ```text
//! load --url http://127.0.0.1:8848/api/v1/envs/dev/apps/a/clusters/default/namespaces/application/configs \
//!      --connections 50 --seconds 10
//! ```
#![allow(clippy::print_stdout)] // printing the result is this program's job

use std::time::{Duration, Instant};

use clap::Parser;
use keel_bench::cpu_ticks;
use keel_bench::http::{Conn, Url};
use keel_bench::stats::{Summary, ms};

/// Hammer one URL with N connections.
#[derive(Debug, Parser)]
struct Args {
    /// `http://IP:PORT/path?query` to GET.
    #[arg(long)]
    url: String,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured seconds first (connections open, caches warm).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Stop after this many measured requests in total, even before `--seconds`.
    #[arg(long, default_value_t = 50_000_000)]
    max_requests: u64,
    /// Runtime worker threads for the load generator (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The server's process id: when given, its CPU time per request is reported too.
    #[arg(long)]
    pid: Option<u32>,
    /// A name for this run, copied into the output.
    #[arg(long, default_value = "load")]
    label: String,
}

/// What one connection saw: latencies and non-200 answers in the measured window, errors
/// (broken connections, bad answers) throughout.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    non_200: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.connections == 0 || args.threads == 0 {
        return Err("--connections and --threads must be at least 1".into());
    }
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let url = Url::parse(&args.url)?;
    let request = url.get();
    let start = Instant::now() + Duration::from_secs_f64(args.warmup);
    let end = start + Duration::from_secs_f64(args.seconds);
    // Each connection gets an equal share of the request budget, so the total stays bounded
    // without a shared counter on the hot path.
    let budget = args.max_requests.div_ceil(args.connections as u64);
    let mut tasks = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let conn = Conn::connect(&url.addr, None).await?;
        let request = request.clone();
        tasks.push(tokio::spawn(hammer(conn, request, start, end, budget)));
    }
    // CPU over the measured window only (10 ms ticks).
    tokio::time::sleep_until(start.into()).await;
    let cpu_before = args.pid.map(cpu_ticks).transpose()?;
    let mut latencies = Vec::new();
    let (mut errors, mut non_200) = (0, 0);
    let mut finished = start;
    for task in tasks {
        let (tally, done) = task.await?;
        latencies.extend(tally.latencies_us);
        errors += tally.errors;
        non_200 += tally.non_200;
        finished = finished.max(done);
    }
    let cpu_after = args.pid.map(cpu_ticks).transpose()?;
    let elapsed = finished.saturating_duration_since(start).as_secs_f64();
    let summary = Summary::of(&mut latencies);
    let rps = if elapsed > 0.0 {
        summary.count as f64 / elapsed
    } else {
        0.0
    };
    let out = serde_json::json!({
        "label": args.label,
        "url": args.url,
        "connections": args.connections,
        "seconds": elapsed,
        "requests": summary.count,
        "rps": rps.round(),
        "p50_ms": ms(summary.p50),
        "p99_ms": ms(summary.p99),
        "max_ms": ms(summary.max),
        "errors": errors,
        "server_cpu_us_per_request": cpu_before.zip(cpu_after).map(|(before, after)| {
            (after.saturating_sub(before) * 10_000) as f64 / summary.count.max(1) as f64
        }),
        "non_200": non_200,
    });
    println!("{out}");
    Ok(())
}

/// One connection: request, wait for the answer, repeat until `end` or the budget is spent.
/// A broken connection is reconnected (and counted as an error).
async fn hammer(
    mut conn: Conn,
    request: Vec<u8>,
    start: Instant,
    end: Instant,
    budget: u64,
) -> (Tally, Instant) {
    let mut tally = Tally::default();
    let addr = *conn.addr();
    loop {
        let sent = Instant::now();
        if sent >= end || tally.latencies_us.len() as u64 >= budget {
            return (tally, sent.min(end));
        }
        let outcome = conn.send(&request).await;
        let measured = sent >= start;
        match outcome {
            Ok(answer) => {
                if measured {
                    let us = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                    tally.latencies_us.push(us);
                    if answer.status != 200 {
                        tally.non_200 += 1;
                    }
                }
            }
            Err(_) => {
                tally.errors += 1;
                match Conn::connect(&addr, None).await {
                    Ok(fresh) => conn = fresh,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    }
}
