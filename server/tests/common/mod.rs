//! Helpers shared by the tests that run `keel serve` processes.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use keel_testkit::eventually;
pub(crate) use keel_testkit::free_port;
use serde_json::Value;

/// A `keel serve` process this test started; killed (`kill -9`) on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Server {
    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `kill -9`.
    pub(crate) fn kill(self) {
        drop(self);
    }

    /// SIGTERM, and require a clean exit.
    pub(crate) fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit:?}");
    }

    /// The `keel_config_parked_long_polls` gauge (one per namespace a parked poll watches).
    pub(crate) fn parked_long_polls(&self) -> Option<f64> {
        let (_, metrics) = call(self.port, "GET", "/metrics", None).ok()?;
        metrics
            .as_str()?
            .lines()
            .find_map(|l| l.strip_prefix("keel_config_parked_long_polls "))
            .and_then(|n| n.trim().parse().ok())
    }

    /// Waits until exactly `count` long-poll waiters are parked.
    pub(crate) fn wait_parked(&self, count: f64) {
        eventually("the long polls to park", Duration::from_secs(10), || {
            (self.parked_long_polls()? == count).then_some(())
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start(data_dir: &Path, port: u16) -> Server {
    start_with(data_dir, port, None)
}

/// Starts `keel serve` with an optional `--config` file.
pub(crate) fn start_with(data_dir: &Path, port: u16, config: Option<&Path>) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keel"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    eventually(
        "keel serve to answer /health",
        Duration::from_secs(20),
        || {
            call(port, "GET", "/health", None)
                .ok()
                .filter(|(s, _)| *s == 200)
        },
    );
    server
}

/// One HTTP/1.1 request on a fresh connection: (status, body as JSON or as a string).
pub(crate) fn call(
    port: u16,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> std::io::Result<(u16, Value)> {
    call_with(port, method, path, body, &[])
}

/// [`call`] with extra headers.
pub(crate) fn call_with(
    port: u16,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Keel-User: tester\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    )?;
    for (name, value) in headers {
        write!(stream, "{name}: {value}\r\n")?;
    }
    write!(stream, "\r\n{body}")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let payload = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    let value = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
    Ok((status, value))
}

pub(crate) fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    out
}

pub(crate) fn ok(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, value) = call(port, method, path, body).unwrap();
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {value}"
    );
    assert_eq!(value["code"], 0, "{value}");
    value["data"].clone()
}
