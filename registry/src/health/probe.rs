//! One active probe: a TCP connect, or a minimal HTTP/1.1 GET judged by its status line.
//!
//! Plain `tokio::net::TcpStream` rather than an HTTP client: the probe needs only the status
//! code, the server build has no HTTP client, and reading nothing past the status line keeps a
//! misbehaving instance (a huge or endless body) from costing the registry anything.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::CheckKind;

/// Most bytes read while looking for the end of the status line; a real one is far shorter.
const MAX_STATUS_LINE: usize = 8 * 1024;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// Whether the instance passed: connected (tcp) or answered 2xx (http).
    pub healthy: bool,
    /// What was seen, for people: `"HTTP 200"`, `"HTTP 500"`, `"connection refused"`,
    /// `"timed out after 2s"`, ...
    pub detail: String,
    /// How long the probe took.
    pub took: Duration,
}

/// Probes `host:port` once, the whole probe (name resolution included) bounded by `timeout`.
///
/// `tcp`: healthy when a connection opens. `http`: sends `GET {path}` with `Connection: close`
/// and is healthy on a 2xx status; only the status line is read. `host` is a DNS name or an IP
/// address (an IPv6 literal may come with or without brackets). Kinds that are not active
/// (`ttl`, `none`) are reported unhealthy with a detail saying so, since nothing can be probed.
pub async fn probe(
    kind: CheckKind,
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> ProbeOutcome {
    let started = Instant::now();
    let result = match tokio::time::timeout(timeout, run(kind, host, port, path)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "timed out after {}",
            humantime::format_duration(timeout)
        )),
    };
    let (healthy, detail) = match result {
        Ok(detail) => (true, detail),
        Err(detail) => (false, detail),
    };
    ProbeOutcome {
        healthy,
        detail,
        took: started.elapsed(),
    }
}

/// The probe without its deadline: `Ok(detail)` when healthy, `Err(detail)` when not.
async fn run(kind: CheckKind, host: &str, port: u16, path: &str) -> Result<String, String> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match kind {
        CheckKind::Tcp => connect(host, port).await.map(|_| "connected".to_owned()),
        CheckKind::Http => {
            // Anything that could end the request line or a header would let a registered
            // path or host smuggle its own headers; validation forbids it, this makes sure.
            if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(format!("path {path:?} is not a valid request target"));
            }
            if host.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(format!("host {host:?} is not a valid host name"));
            }
            let stream = connect(host, port).await?;
            http_status(stream, host, port, path).await
        }
        CheckKind::Ttl | CheckKind::None => Err(format!(
            "health check type {} is not probed by the registry",
            kind.as_str()
        )),
    }
}

/// Connects to the first address of `host` that accepts.
async fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return TcpStream::connect(SocketAddr::new(ip, port))
            .await
            .map_err(|e| describe(&e));
    }
    // Names (and IPv6 literals with a zone, which `IpAddr` does not parse) go through the
    // system resolver.
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} resolves to no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = describe(&e),
        }
    }
    Err(last)
}

/// Sends the GET and reads just enough to know the status code.
async fn http_status(
    mut stream: TcpStream,
    host: &str,
    port: u16,
    path: &str,
) -> Result<String, String> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    // An origin-form target must start with '/'; be lenient with `health` for `/health`.
    let slash = if path.starts_with('/') { "" } else { "/" };
    let request = format!(
        "GET {slash}{path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: keel-registry-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| describe(&e))?;

    let mut buf = vec![0u8; MAX_STATUS_LINE];
    let mut filled = 0;
    let line_end = loop {
        if let Some(end) = buf[..filled].windows(2).position(|w| w == b"\r\n") {
            break end;
        }
        if filled == buf.len() {
            return Err(format!(
                "no HTTP status line in the first {MAX_STATUS_LINE} bytes"
            ));
        }
        let n = stream
            .read(&mut buf[filled..])
            .await
            .map_err(|e| describe(&e))?;
        if n == 0 {
            return Err(if filled == 0 {
                "connection closed without a response".to_owned()
            } else {
                "connection closed before the status line was complete".to_owned()
            });
        }
        filled += n;
    };
    let status = parse_status(&buf[..line_end]).ok_or_else(|| {
        let shown = String::from_utf8_lossy(&buf[..line_end.min(64)]).into_owned();
        format!("not an HTTP response: {shown:?}")
    })?;
    let detail = format!("HTTP {status}");
    if (200..300).contains(&status) {
        Ok(detail)
    } else {
        Err(detail)
    }
}

/// The code of a status line such as `HTTP/1.1 204 No Content`.
fn parse_status(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|c| (100..600).contains(c))
}

/// A short, stable description of a connect or I/O error.
fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
        io::ErrorKind::TimedOut => "connection timed out".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503"), Some(503));
        assert_eq!(parse_status(b"HTTP/1.1 2000 OK"), None);
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status(b"HTTP/1.1 abc"), None);
    }

    #[tokio::test]
    async fn passive_kinds_are_not_probed() {
        let out = probe(CheckKind::Ttl, "127.0.0.1", 1, "/", Duration::from_secs(1)).await;
        assert!(!out.healthy);
        assert!(out.detail.contains("not probed"), "{}", out.detail);
    }
}
