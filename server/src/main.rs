//! `keel`: the configuration center and registry in one binary.
//!
//! ```text
//! keel serve                                  # standalone, data in ./keel-data, on 127.0.0.1:8848
//! keel serve --listen 0.0.0.0:8848 --data-dir /var/lib/keel --config /etc/keel/keel.toml
//! ```

mod config;
mod front;
mod metrics;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// keel: configuration center and service registry.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
}

/// Flags of `keel serve`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KEEL_LISTEN", default_value = "127.0.0.1:8848")]
    pub(crate) listen: SocketAddr,
    /// Directory for the embedded store (standalone mode); created if missing.
    #[arg(long, env = "KEEL_DATA_DIR", default_value = "./keel-data")]
    pub(crate) data_dir: PathBuf,
    /// A keel.toml with everything else: mode, database_url, etcd, etcd_prefix, redis_url,
    /// kafka, log_level, [ratelimit] and [registry] (docs/config-center.md, docs/registry.md).
    #[arg(long, env = "KEEL_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
    }
}
