//! `registry`: service-registry load, against keel (`--api keel`) or r-nacos's Nacos v1
//! naming API (`--api nacos`). Each subcommand prints one JSON object.
//!
//! ```text
//! registry register --url http://127.0.0.1:8848 --api keel --count 10000 --service beat \
//!     --connections 50 --ids-out /tmp/ids
//! registry beat --url http://127.0.0.1:8848 --api keel --ids /tmp/ids --connections 50 --seconds 10
//! registry beat --url http://127.0.0.1:8849 --api nacos --count 10000 --service beat --seconds 10
//! registry notify --url http://127.0.0.1:8848 --watchers 100 --rounds 20
//! registry notify --url http://127.0.0.1:8849 --api nacos --watchers 100 --interval 100ms
//! registry hold --url http://127.0.0.1:8848 --api keel --count 100000 --interval 5s \
//!     --seconds 30 --pid 1234
//! ```
//!
//! Discovery QPS needs no subcommand: `load --url .../api/v1/services/S/instances`.
#![allow(clippy::print_stdout)] // printing the result is this program's job

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use keel_bench::http::Url;
use keel_bench::registry::{
    Api, Services, beat, beat_request, hold, notify, poll, register, runtime, ttl_check,
};
use serde_json::Value;

/// Registry benchmarks.
#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The server, `http://IP:PORT`.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8848")]
    url: String,
    /// Which API to drive.
    #[arg(long, global = true, value_enum, default_value_t = Api::Keel)]
    api: Api,
    /// Runtime worker threads of this client (1: a single-threaded runtime).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    /// A name for this run, copied into the output.
    #[arg(long, global = true, default_value = "registry")]
    label: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Register N instances (10.x.y.z:8080); print registrations/s.
    Register {
        #[command(flatten)]
        instances: Instances,
        /// Concurrent connections.
        #[arg(long, default_value_t = 50)]
        connections: usize,
        /// keel: instances per request (more than 1: `POST /api/v1/instances/batch`).
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// keel: heartbeat interval of the ttl check.
        #[arg(long, default_value = "5s", value_parser = humantime_secs)]
        interval: Duration,
        /// keel: write the instance ids here, one per line, in instance order.
        #[arg(long)]
        ids_out: Option<String>,
    },
    /// Heartbeats back to back over C connections; print beats/s and latencies.
    Beat {
        #[command(flatten)]
        instances: Instances,
        /// keel: the ids `register --ids-out` wrote (then `--count` is not used).
        #[arg(long)]
        ids: Option<String>,
        /// Concurrent connections.
        #[arg(long, default_value_t = 50)]
        connections: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Unmeasured seconds first.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// The server's pid: its CPU time per heartbeat is reported.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Register → watchers told, p50/p99/max: keel's long poll (`--api keel`), or watchers
    /// polling the Nacos v1 `instance/list` every `--interval` (`--api nacos`).
    Notify {
        /// The watched service.
        #[arg(long, default_value = "notify")]
        service: String,
        /// Parked long polls.
        #[arg(long, default_value_t = 100)]
        watchers: usize,
        /// Registrations (one per round).
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Nacos: each watcher's polling interval.
        #[arg(long, default_value = "100ms", value_parser = humantime_secs)]
        interval: Duration,
    },
    /// Register N instances and heartbeat each once per interval for T seconds; RSS, expiry.
    Hold {
        #[command(flatten)]
        instances: Instances,
        /// Heartbeat interval per instance (and keel's ttl check interval).
        #[arg(long, default_value = "5s", value_parser = humantime_secs)]
        interval: Duration,
        /// Seconds to hold after the last registration.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Registration connections.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// keel: instances per batch registration.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Heartbeat connections.
        #[arg(long, default_value_t = 16)]
        beat_connections: usize,
        /// The server's pid (RSS and CPU from /proc).
        #[arg(long)]
        pid: u32,
    },
}

/// Which instances.
#[derive(Debug, Args)]
struct Instances {
    /// Instances `0..count`.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// The service (with `--services` > 1, the prefix of `S-0`, `S-1`, …).
    #[arg(long, default_value = "bench")]
    service: String,
    /// Spread the instances over this many services (instance i → service i mod n).
    #[arg(long, default_value_t = 1)]
    services: usize,
}

/// `5s`, `500ms`, `1m`: whole seconds or milliseconds.
fn humantime_secs(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not like 5s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{text:?}: the unit must be ms, s or m")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let mut out = runtime(cli.threads)?.block_on(run(&cli))?;
    out["label"] = Value::from(cli.label);
    println!("{out}");
    Ok(())
}

async fn run(cli: &Cli) -> Result<Value, Box<dyn std::error::Error>> {
    let server = Url::parse(&cli.url)?;
    Ok(match &cli.command {
        Command::Register {
            instances,
            connections,
            batch,
            interval,
            ids_out,
        } => {
            let plan = register_plan(cli, &server, instances, *connections, *batch, *interval);
            let outcome = register::register_all(&plan, std::sync::Arc::new(|_, _| {})).await?;
            if let Some(path) = ids_out {
                let ids: Vec<&str> = outcome.ids.iter().flatten().map(String::as_str).collect();
                std::fs::write(path, ids.join("\n") + "\n")?;
            }
            outcome.to_json(&plan)
        }
        Command::Beat {
            instances,
            ids,
            connections,
            seconds,
            warmup,
            pid,
        } => {
            let services = Services::new(&instances.service, instances.services);
            let beats: Vec<Vec<u8>> = match (cli.api, ids) {
                (Api::Keel, Some(path)) => std::fs::read_to_string(path)?
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|id| beat_request(&server, Api::Keel, "", 0, Some(id)))
                    .collect(),
                (Api::Keel, None) => {
                    return Err("--api keel needs --ids (register --ids-out)".into());
                }
                (Api::Nacos, _) => (0..instances.count)
                    .map(|i| beat_request(&server, Api::Nacos, &services.of(i), i, None))
                    .collect(),
            };
            let plan = beat::Plan {
                server,
                connections: *connections,
                seconds: *seconds,
                warmup: *warmup,
                pid: *pid,
            };
            beat::run(&plan, beats).await?
        }
        Command::Notify {
            service,
            watchers,
            rounds,
            interval,
        } => match cli.api {
            Api::Keel => {
                let plan = notify::Plan {
                    server,
                    service: service.clone(),
                    watchers: *watchers,
                    rounds: *rounds,
                    deadline: Duration::from_secs(30),
                };
                notify::run(&plan).await?
            }
            Api::Nacos => {
                let plan = poll::Plan {
                    server,
                    service: service.clone(),
                    watchers: *watchers,
                    rounds: *rounds,
                    interval: *interval,
                    deadline: Duration::from_secs(10),
                };
                poll::run(&plan).await?
            }
        },
        Command::Hold {
            instances,
            interval,
            seconds,
            connections,
            batch,
            beat_connections,
            pid,
        } => {
            let plan = hold::Plan {
                register: register_plan(cli, &server, instances, *connections, *batch, *interval),
                interval: *interval,
                seconds: *seconds,
                beat_connections: *beat_connections,
                pid: *pid,
            };
            hold::run(&plan).await?
        }
    })
}

fn register_plan(
    cli: &Cli,
    server: &Url,
    instances: &Instances,
    connections: usize,
    batch: usize,
    interval: Duration,
) -> register::Plan {
    register::Plan {
        server: server.clone(),
        api: cli.api,
        services: Services::new(&instances.service, instances.services),
        count: instances.count,
        connections,
        batch,
        check: ttl_check(interval),
    }
}
