//! `release`: durable write throughput. Each of M writers repeatedly changes an item and
//! releases its own namespace (keel: `POST .../items` then `POST .../releases`, timed together;
//! Nacos v1, r-nacos or keel's `/nacos/v1/cs/*`: one `POST /nacos/v1/cs/configs` publish,
//! answered `true`), until `--seconds` pass or `--count` releases per writer are made. Prints
//! one JSON object.
#![allow(clippy::print_stdout)] // printing the result is this program's job

use std::io;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use keel_bench::http::{Conn, Url};
use keel_bench::keel::Namespace;
use keel_bench::nacos;
use keel_bench::stats::{Summary, ms};

/// Release throughput with M concurrent writers.
#[derive(Debug, Parser)]
struct Args {
    /// The server, `http://IP:PORT`.
    #[arg(long)]
    server: String,
    /// Which API to use.
    #[arg(long, value_enum, default_value_t = Target::Keel)]
    target: Target,
    /// Concurrent writers, each on its own namespace (keel) or dataId (r-nacos).
    #[arg(long, default_value_t = 1)]
    writers: usize,
    /// Releases per writer at most.
    #[arg(long, default_value_t = 2_000)]
    count: usize,
    /// Seconds at most.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// A name for this run, copied into the output.
    #[arg(long, default_value = "release")]
    label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// keel: item put + release.
    Keel,
    /// Nacos v1 (r-nacos, or keel's `/nacos/v1/cs/*`): publish.
    Nacos,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.writers == 0 {
        return Err("--writers must be at least 1".into());
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let url = Url::parse(&args.server)?;
    let mut writers = Vec::with_capacity(args.writers);
    for w in 0..args.writers {
        writers.push(Writer::prepare(args.target, &url, w).await?);
    }
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|mut writer| {
            let (url, count) = (url.clone(), args.count);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for i in 0..count {
                    if Instant::now() >= end {
                        break;
                    }
                    let sent = Instant::now();
                    writer.release_once(&url, i).await?;
                    latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
                io::Result::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let summary = Summary::of(&mut latencies);
    let out = serde_json::json!({
        "label": args.label,
        "target": format!("{:?}", args.target).to_lowercase(),
        "writers": args.writers,
        "releases": summary.count,
        "seconds": elapsed,
        "releases_per_s": (summary.count as f64 / elapsed).round(),
        "p50_ms": ms(summary.p50),
        "p99_ms": ms(summary.p99),
        "max_ms": ms(summary.max),
    });
    println!("{out}");
    Ok(())
}

/// One writer's connection and namespace.
enum Writer {
    Keel(Box<Namespace>),
    Nacos { conn: Conn, data_id: String },
}

impl Writer {
    async fn prepare(target: Target, url: &Url, w: usize) -> io::Result<Writer> {
        Ok(match target {
            Target::Keel => {
                let ns = Namespace::create(url, "bench", "release", &format!("w{w}")).await?;
                Writer::Keel(Box::new(ns))
            }
            Target::Nacos => Writer::Nacos {
                conn: Conn::connect(&url.addr, None).await?,
                data_id: format!("release-w{w}"),
            },
        })
    }

    async fn release_once(&mut self, url: &Url, i: usize) -> io::Result<()> {
        match self {
            Writer::Keel(ns) => {
                ns.put_item("release.value", &i.to_string()).await?;
                ns.release(&format!("r{i}")).await.map(drop)
            }
            Writer::Nacos { conn, data_id } => {
                let content = format!("release.value={i}");
                nacos::publish(conn, url, data_id, &content).await
            }
        }
    }
}
