//! Load generators for keel's configuration center and service registry, and the pieces they
//! share.
//!
//! The binaries (`load`, `fanout`, `release`, `registry`) talk HTTP/1.1 over plain tokio TCP
//! with the small client in [`http`]: one request at a time per connection, keep-alive, no
//! pipelining, and nothing between the socket and the measurement that a real client library
//! would add (pools, retries). The same client drives keel and r-nacos, so a side-by-side figure
//! compares the servers, not two clients. `bench/config-center.sh` and `bench/registry.sh`
//! run them; `hello` is the ceiling they are measured against, and `bench/run.sh` runs it all
//! and writes docs/benchmarks.md.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use keel_bench::http::{Conn, Url};
//!
//! let url = Url::parse("http://127.0.0.1:8848/health")?;
//! let mut conn = Conn::connect(&url.addr, None).await?;
//! let answer = conn.send(&url.get()).await?;
//! assert_eq!(answer.status, 200);
//! # Ok(()) }
//! ```

pub mod http;
pub mod keel;
pub mod nacos;
pub mod registry;
pub mod stats;

/// The resident set size of process `pid` in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no VmRSS line in /proc/{pid}/status")))
}

/// CPU time (user + system) process `pid` has used so far, from `/proc/<pid>/stat`, in
/// clock ticks (`getconf CLK_TCK`, 100 per second on Linux).
pub fn cpu_ticks(pid: u32) -> std::io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the ')'.
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (tick(11), tick(12)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => Err(std::io::Error::other(format!(
            "unexpected /proc/{pid}/stat: {stat}"
        ))),
    }
}
