//! `fanout`: parks N long polls on one namespace of a running server, measures the server's
//! memory per parked poll (RSS from `/proc/<pid>/status`, before and after parking), makes one
//! release, and measures how long until the last poll is answered. Prints one JSON object.
//!
//! keel: `GET .../notifications?releaseKey=K&timeout=120s`, all parked when `GET /metrics`
//! says `keel_config_parked_long_polls` ≥ N. Nacos v1 (`--target nacos`, r-nacos or keel's
//! `/nacos/v1/cs/*`): the listener `POST /nacos/v1/cs/configs/listener` with
//! `Listening-Configs` and `Long-Pulling-Timeout`; there is no parked gauge to wait for, so
//! parking is taken as done `--settle` seconds after the last request was written.
//!
//! With `--server-metrics` (a keel server, either API) the server's own figure is read too:
//! `keel_config_fanout_last_seconds` / `keel_config_fanout_last_clients` in `/metrics`, the
//! time from the release to the last parked poll answered, as keel measured it. A server
//! without those gauges gives `null`, never an error.
//!
//! The fd limit must allow N sockets in this process and in the server (`ulimit -n`).
#![allow(clippy::print_stdout)] // printing the result is this program's job

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use keel_bench::http::{Conn, Url};
use keel_bench::keel::{Namespace, gauge, release_key};
use keel_bench::nacos;
use keel_bench::stats::ms;
use keel_bench::{cpu_ticks, rss_kib};
use tokio::sync::Semaphore;

/// Park N long polls, release once, time the wake-up.
#[derive(Debug, Parser)]
struct Args {
    /// The server, `http://IP:PORT`.
    #[arg(long)]
    server: String,
    /// The server's process id (its RSS is read from /proc).
    #[arg(long)]
    pid: u32,
    /// Which API to use.
    #[arg(long, value_enum, default_value_t = Target::Keel)]
    target: Target,
    /// Long polls to park.
    #[arg(long, default_value_t = 10_000)]
    polls: usize,
    /// Spread connections over source IPs 127.0.0.1 … 127.0.0.<sources> (ephemeral ports).
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// The most seconds to wait for all polls to be parked.
    #[arg(long, default_value_t = 60)]
    park_deadline: u64,
    /// Seconds to let the server settle after parking (before reading its RSS).
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// keel app (created if missing; its `application` namespace is used) or Nacos dataId.
    #[arg(long, default_value = "fanout")]
    name: String,
    /// Runtime worker threads for the clients (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds to keep the connections open after the last answer (separates the wake-up
    /// from the connections' teardown in a profile of the server).
    #[arg(long, default_value_t = 0.0)]
    linger: f64,
    /// Nacos: the listener's `Long-Pulling-Timeout` in ms (Nacos clients send 30000).
    #[arg(long, default_value_t = 30_000)]
    nacos_timeout_ms: u64,
    /// Read keel's server-side fan-out gauges from `/metrics` after the run.
    #[arg(long)]
    server_metrics: bool,
    /// A name for this run, copied into the output.
    #[arg(long, default_value = "fanout")]
    label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// keel's `/api/v1` long poll.
    Keel,
    /// The Nacos v1 listener (r-nacos, or keel's `/nacos/v1/cs/*`).
    Nacos,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.polls == 0 || args.sources == 0 || args.threads == 0 || args.connect_concurrency == 0 {
        return Err("--polls, --sources, --threads and --connect-concurrency must be ≥ 1".into());
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

/// The server-specific half: what a poll is, and how to release.
enum Server {
    Keel(Box<Namespace>),
    Nacos { conn: Conn, data_id: String },
}

impl Server {
    /// Prepares the namespace/config; returns it with the poll request to park.
    async fn prepare(args: &Args, url: &Url) -> io::Result<(Server, Vec<u8>)> {
        match args.target {
            Target::Keel => {
                let mut ns = Namespace::create(url, "bench", &args.name, "application").await?;
                ns.put_item("fanout.value", "0").await?;
                let key = ns.release("before").await?;
                let poll = url
                    .with_path(&format!(
                        "{}/notifications?releaseKey={key}&timeout=120s",
                        ns.path
                    ))
                    .get();
                Ok((Server::Keel(Box::new(ns)), poll))
            }
            Target::Nacos => {
                let mut conn = Conn::connect(&url.addr, None).await?;
                let data_id = args.name.clone();
                nacos::publish(&mut conn, url, &data_id, "fanout.value=0").await?;
                let md5 = nacos::server_md5(&mut conn, url, &data_id).await?;
                let poll = nacos::listener_request(url, &data_id, &md5, args.nacos_timeout_ms);
                Ok((Server::Nacos { conn, data_id }, poll))
            }
        }
    }

    /// Changes the config without releasing (keel: the working copy), untimed.
    async fn stage(&mut self) -> io::Result<()> {
        match self {
            Server::Keel(ns) => ns.put_item("fanout.value", "1").await,
            Server::Nacos { .. } => Ok(()),
        }
    }

    /// The timed part: one release (keel) or publish (Nacos).
    async fn release(&mut self, url: &Url) -> io::Result<()> {
        match self {
            Server::Keel(ns) => {
                let request = ns.release_request("after");
                let answer = ns.conn().send(&request).await?;
                release_key(&answer).map(drop)
            }
            Server::Nacos { conn, data_id } => {
                nacos::publish(conn, url, data_id, "fanout.value=1").await
            }
        }
    }

    /// Whether a poll's answer reports the release.
    fn woke(&self, status: u16, body: &[u8]) -> bool {
        match self {
            Server::Keel(_) => status == 200,
            Server::Nacos { .. } => nacos::listener_woke(status, body),
        }
    }
}

/// One parked poll's outcome: when its answer arrived, its status and body.
type Outcome = io::Result<(Instant, u16, Vec<u8>, Conn)>;

async fn park(
    url: Url,
    source: IpAddr,
    request: Arc<Vec<u8>>,
    gate: Arc<Semaphore>,
    written: Arc<AtomicUsize>,
) -> Outcome {
    let mut conn = {
        let _permit = gate
            .acquire()
            .await
            .map_err(|_| io::Error::other("closed"))?;
        let mut attempt = 0;
        let mut conn = loop {
            match Conn::connect(&url.addr, Some(source)).await {
                Ok(conn) => break conn,
                Err(e) if attempt >= 3 => return Err(e),
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        conn.write(&request).await?;
        conn
    };
    written.fetch_add(1, Ordering::Relaxed);
    let answer = tokio::time::timeout(Duration::from_secs(150), conn.read_answer())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in 150 s"))??;
    Ok((Instant::now(), answer.status, answer.body, conn))
}

async fn parked_on_keel(url: &Url) -> io::Result<f64> {
    let mut conn = Conn::connect(&url.addr, None).await?;
    let page = conn.send(&url.with_path("/metrics").get()).await?;
    Ok(gauge(
        &String::from_utf8_lossy(&page.body),
        "keel_config_parked_long_polls",
    )
    .unwrap_or(0.0))
}

/// keel's gauges of its last fan-out: seconds from the release to the last parked poll
/// answered, and how many polls that release answered.
const FANOUT_SECONDS: &str = "keel_config_fanout_last_seconds";
const FANOUT_CLIENTS: &str = "keel_config_fanout_last_clients";

/// keel's own figure of its last fan-out, `(seconds, clients)`, or `None` when the server has
/// no such gauges (an older keel, r-nacos) or `/metrics` cannot be read: never an error.
async fn server_fanout(url: &Url) -> Option<(f64, f64)> {
    let mut conn = Conn::connect(&url.addr, None).await.ok()?;
    let page = conn.send(&url.with_path("/metrics").get()).await.ok()?;
    let page = String::from_utf8_lossy(&page.body);
    Some((gauge(&page, FANOUT_SECONDS)?, gauge(&page, FANOUT_CLIENTS)?))
}

/// The server's figure for this run's release: the gauges once they differ from `before`.
/// The server may set them just after writing the last answer (and a fresh server shows none
/// until its first fan-out), so they are polled for up to a second; unchanged or absent by
/// then means the server did not measure this release (`None`).
async fn server_fanout_after(url: &Url, before: Option<(f64, f64)>) -> Option<(f64, f64)> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let now = server_fanout(url).await;
        if now.is_some() && now != before {
            return now;
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let url = Url::parse(&args.server)?;
    let (mut server, poll) = Server::prepare(&args, &url).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(args.pid)?;

    let started = Instant::now();
    let request = Arc::new(poll);
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let written = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..args.polls)
        .map(|i| {
            let source = IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                0,
                1 + (i % usize::from(args.sources)) as u8,
            ));
            tokio::spawn(park(
                url.clone(),
                source,
                Arc::clone(&request),
                Arc::clone(&gate),
                Arc::clone(&written),
            ))
        })
        .collect();

    // Wait until every poll is written (and, on keel, parked), within the deadline.
    let deadline = started + Duration::from_secs(args.park_deadline);
    let mut parked = 0.0;
    loop {
        let all_written = written.load(Ordering::Relaxed) >= args.polls;
        if all_written && args.target == Target::Keel {
            parked = parked_on_keel(&url).await?;
        }
        let done = match args.target {
            Target::Keel => parked >= args.polls as f64,
            Target::Nacos => all_written,
        };
        if done {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after {}s only {} polls written, {parked} parked (of {}); raise ulimit -n or --park-deadline",
                args.park_deadline,
                written.load(Ordering::Relaxed),
                args.polls
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let parking = started.elapsed();
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let rss_after = rss_kib(args.pid)?;

    server.stage().await?;
    let gauges_before = if args.server_metrics {
        server_fanout(&url).await
    } else {
        None
    };
    let cpu_before = cpu_ticks(args.pid)?;
    let sent = Instant::now();
    server.release(&url).await?;
    let acked = sent.elapsed();

    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    let (mut woken, mut other, mut errors) = (0usize, 0usize, 0usize);
    let mut open = Vec::with_capacity(args.polls);
    for task in tasks {
        match task.await? {
            Ok((at, status, body, conn)) if server.woke(status, &body) => {
                open.push(conn);
                woken += 1;
                first = Some(first.map_or(at, |f| f.min(at)));
                last = Some(last.map_or(at, |l| l.max(at)));
            }
            Ok((.., conn)) => {
                open.push(conn);
                other += 1;
            }
            Err(_) => errors += 1,
        }
    }
    // Read before this process exits and the server tears the connections down.
    let cpu_after = cpu_ticks(args.pid)?;
    let server_side = if args.server_metrics {
        server_fanout_after(&url, gauges_before).await
    } else {
        None
    };
    tokio::time::sleep(Duration::from_secs_f64(args.linger)).await;
    drop(open);
    let since = |at: Option<Instant>| at.map(|at| ms(at.saturating_duration_since(sent)));
    let per_poll = (rss_after.saturating_sub(rss_before) * 1024) as f64 / args.polls as f64;
    let out = serde_json::json!({
        "label": args.label,
        "target": format!("{:?}", args.target).to_lowercase(),
        "polls": args.polls,
        "parking_s": (parking.as_secs_f64() * 10.0).round() / 10.0,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "bytes_per_poll": per_poll.round(),
        "release_ack_ms": ms(acked),
        "first_answer_ms": since(first),
        "last_answer_ms": since(last),
        // keel's own measurement (null: not a keel server, or no such gauges yet).
        "server_last_ms": server_side.map(|(seconds, _)| (seconds * 1e6).round() / 1e3),
        "server_last_clients": server_side.map(|(_, clients)| clients),
        // Server CPU from the release to the last answer (10 ms ticks), and per woken poll.
        "server_cpu_ms": cpu_after.saturating_sub(cpu_before) * 10,
        "server_cpu_us_per_poll": (cpu_after.saturating_sub(cpu_before) * 10_000) as f64 / woken.max(1) as f64,
        "woken": woken,
        "other_answers": other,
        "errors": errors,
    });
    println!("{out}");
    Ok(())
}
