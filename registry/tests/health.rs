//! Active health checks against real sockets on loopback: single probes, and the checker's
//! hysteresis, target replacement, concurrency bound and shutdown.
// Helpers outside #[test] functions: a failed setup should panic the test.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_registry::{CheckKind, CheckerConfig, HealthChecker, HealthFlip, ProbeTarget, probe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(20);

/// What a test server saw.
#[derive(Default)]
struct Stats {
    requests: AtomicUsize,
    ok_responses: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    per_path: Mutex<HashMap<String, usize>>,
    last_host: Mutex<String>,
}

impl Stats {
    fn path(&self, path: &str) -> usize {
        self.per_path
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

/// A tiny HTTP server answering every request with `status`, after holding it for `hold`.
struct TestServer {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl TestServer {
    async fn start(bind: &str, status: u16, hold: Duration) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let status = Arc::new(AtomicU16::new(status));
        let stats = Arc::new(Stats::default());
        let (st, sa) = (Arc::clone(&status), Arc::clone(&stats));
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, Arc::clone(&st), Arc::clone(&sa), hold));
            }
        });
        Ok(TestServer {
            addr,
            status,
            stats,
            task,
        })
    }

    async fn local(status: u16) -> TestServer {
        TestServer::start("127.0.0.1:0", status, Duration::ZERO)
            .await
            .unwrap()
    }

    fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }

    fn ok_responses(&self) -> usize {
        self.stats.ok_responses.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut conn: TcpStream, status: Arc<AtomicU16>, stats: Arc<Stats>, hold: Duration) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let path = text.split(' ').nth(1).unwrap_or("").to_owned();
    let host = text
        .lines()
        .find_map(|l| l.strip_prefix("Host: "))
        .unwrap_or("")
        .to_owned();
    *stats.last_host.lock().unwrap() = host;
    *stats.per_path.lock().unwrap().entry(path).or_default() += 1;
    stats.requests.fetch_add(1, Ordering::SeqCst);
    let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(hold).await; // the server being slow, not the test waiting
    // Leave before answering: the checker frees its permit only after reading the answer, so
    // the count never includes a request the checker already considers done.
    stats.in_flight.fetch_sub(1, Ordering::SeqCst);
    let code = status.load(Ordering::SeqCst);
    if (200..300).contains(&code) {
        stats.ok_responses.fetch_add(1, Ordering::SeqCst);
    }
    let response =
        format!("HTTP/1.1 {code} Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = conn.write_all(response.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// A port nothing listens on: bound, then released.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next_flip(rx: &mut mpsc::Receiver<HealthFlip>) -> HealthFlip {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("no health flip before the deadline")
        .expect("the flip channel closed")
}

fn target(id: &str, addr: SocketAddr, path: &str, interval_ms: u64, healthy: bool) -> ProbeTarget {
    ProbeTarget {
        instance_id: id.to_owned(),
        kind: CheckKind::Http,
        host: addr.ip().to_string(),
        port: addr.port(),
        path: path.to_owned(),
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_secs(5),
        healthy,
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_probes_judge_http_and_tcp() {
    let ok = TestServer::local(200).await;
    let failing = TestServer::local(500).await;
    let closed = closed_port().await;
    // Accepts connections (the kernel completes the handshake) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let ip = "127.0.0.1";

    let out = probe(CheckKind::Http, ip, ok.addr.port(), "/health", SECOND).await;
    assert!(out.healthy, "{out:?}");
    assert_eq!(out.detail, "HTTP 200");
    assert_eq!(ok.stats.path("/health"), 1);
    assert_eq!(
        *ok.stats.last_host.lock().unwrap(),
        format!("127.0.0.1:{}", ok.addr.port())
    );

    let out = probe(CheckKind::Http, ip, failing.addr.port(), "/health", SECOND).await;
    assert!(!out.healthy);
    assert_eq!(out.detail, "HTTP 500");

    let out = probe(CheckKind::Http, ip, closed, "/health", SECOND).await;
    assert!(!out.healthy);
    assert_eq!(out.detail, "connection refused");
    let out = probe(CheckKind::Tcp, ip, closed, "", SECOND).await;
    assert!(!out.healthy);
    assert_eq!(out.detail, "connection refused");

    let out = probe(CheckKind::Tcp, ip, failing.addr.port(), "", SECOND).await;
    assert!(out.healthy, "tcp only needs a connection: {out:?}");
    let out = probe(CheckKind::Tcp, ip, ok.addr.port(), "", SECOND).await;
    assert!(out.healthy, "{out:?}");

    let out = probe(
        CheckKind::Http,
        ip,
        silent_port,
        "/",
        Duration::from_millis(200),
    )
    .await;
    assert!(!out.healthy);
    assert_eq!(out.detail, "timed out after 200ms");
    let out = probe(CheckKind::Tcp, ip, silent_port, "", SECOND).await;
    assert!(out.healthy, "{out:?}");

    // Names go through the resolver.
    let out = probe(CheckKind::Http, "localhost", ok.addr.port(), "/", SECOND).await;
    assert!(out.healthy, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_literals_are_bracketed() {
    let Ok(server) = TestServer::start("[::1]:0", 204, Duration::ZERO).await else {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    };
    let port = server.addr.port();
    for host in ["::1", "[::1]"] {
        let out = probe(CheckKind::Http, host, port, "/", SECOND).await;
        assert!(out.healthy, "{host}: {out:?}");
        assert_eq!(out.detail, "HTTP 204");
        assert_eq!(
            *server.stats.last_host.lock().unwrap(),
            format!("[::1]:{port}")
        );
    }
}

fn config(rise: u32, fall: u32) -> CheckerConfig {
    CheckerConfig {
        rise,
        fall,
        ..CheckerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flips_after_fall_failures_and_back_after_rise_successes() {
    let server = TestServer::local(500).await;
    let (checker, mut flips) = HealthChecker::start(config(2, 3));
    let t = target("i-1", server.addr, "/health", 100, true);
    checker.set_targets(vec![t.clone()]);

    let flip = next_flip(&mut flips).await;
    assert_eq!((flip.instance_id.as_str(), flip.healthy), ("i-1", false));
    assert_eq!(flip.detail, "HTTP 500");
    let seen = server.requests();
    assert!(seen >= 3, "flipped after {seen} failed probes; fall is 3");

    // The registry records the flip; that must not restart the count.
    checker.set_targets(vec![ProbeTarget {
        healthy: false,
        ..t.clone()
    }]);
    server.status.store(200, Ordering::SeqCst);
    let flip = next_flip(&mut flips).await;
    assert_eq!((flip.instance_id.as_str(), flip.healthy), ("i-1", true));
    assert_eq!(flip.detail, "HTTP 200");
    let ok = server.ok_responses();
    assert!(
        ok >= 2,
        "flipped back after {ok} successful probes; rise is 2"
    );
    checker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_targets_keep_their_streak_and_manual_changes_reset_it() {
    let server = TestServer::local(500).await;
    let (checker, mut flips) = HealthChecker::start(config(2, 3));
    let t = target("i-1", server.addr, "/health", 300, true);
    checker.set_targets(vec![t.clone()]);

    // Re-sending the same set after two failures must not start the count over.
    until("two probes", || server.requests() >= 2).await;
    checker.set_targets(vec![t.clone()]);
    assert!(!next_flip(&mut flips).await.healthy);
    let at_flip = server.requests();
    assert!(
        (3..5).contains(&at_flip),
        "flipped after {at_flip} probes: the re-sent set reset the streak"
    );

    // The registry records the flip. Two probes later the scheduler has certainly applied
    // that set (each probe is scheduled after the previous one ends, and a pending set is
    // applied before any timer).
    checker.set_targets(vec![ProbeTarget {
        healthy: false,
        ..t.clone()
    }]);
    let recorded = server.requests();
    until("two more probes", || server.requests() >= recorded + 2).await;

    // An operator marks it healthy by hand: the checker adopts that and needs `fall`
    // failures again before reporting it unhealthy.
    let before = server.requests();
    checker.set_targets(vec![t.clone()]);
    let flip = next_flip(&mut flips).await;
    assert!(!flip.healthy);
    // A probe already on the wire when the set arrived may count as the first failure.
    let after = server.requests();
    assert!(
        after >= before + 2,
        "flipped {} probes after the reset",
        after - before
    );
    checker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_targets_stop_being_probed() {
    let server = TestServer::local(200).await;
    let (checker, mut flips) = HealthChecker::start(CheckerConfig::default());
    let a = target("a", server.addr, "/a", 100, true);
    let b = target("b", server.addr, "/b", 100, true);
    checker.set_targets(vec![a.clone(), b]);
    until("both probed", || {
        server.stats.path("/a") >= 2 && server.stats.path("/b") >= 2
    })
    .await;

    checker.set_targets(vec![a]);
    // One more probe of `a` lets anything of `b` already on the wire arrive first.
    let a0 = server.stats.path("/a");
    until("a probed again", || server.stats.path("/a") > a0).await;
    let b_after = server.stats.path("/b");
    let a1 = server.stats.path("/a");
    until("three more intervals", || server.stats.path("/a") >= a1 + 3).await;
    assert_eq!(
        server.stats.path("/b"),
        b_after,
        "b was probed after its removal"
    );
    assert!(flips.try_recv().is_err(), "healthy targets must not flip");
    checker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded() {
    let server = TestServer::start("127.0.0.1:0", 200, Duration::from_millis(200))
        .await
        .unwrap();
    let (checker, _flips) = HealthChecker::start(CheckerConfig {
        max_concurrent: 5,
        ..CheckerConfig::default()
    });
    let targets = (0..50)
        .map(|i| target(&format!("i-{i}"), server.addr, "/health", 200, true))
        .collect();
    checker.set_targets(targets);
    until("60 probes", || server.requests() >= 60).await;
    let max = server.stats.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 5, "{max} probes at once; the bound is 5");
    assert!(max >= 2, "probes never ran in parallel");
    checker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_drop_stop_the_scheduler() {
    let server = TestServer::local(200).await;
    let (checker, mut flips) = HealthChecker::start(CheckerConfig::default());
    checker.set_targets(vec![target("i-1", server.addr, "/", 100, true)]);
    until("a probe", || server.requests() >= 1).await;
    checker.close().await;
    checker.close().await; // idempotent
    // The scheduler owned the only sender: the channel ends once it is gone.
    assert!(
        tokio::time::timeout(DEADLINE, flips.recv())
            .await
            .unwrap()
            .is_none()
    );

    let (checker, mut flips) = HealthChecker::start(CheckerConfig::default());
    checker.set_targets(vec![target("i-1", server.addr, "/", 100, true)]);
    drop(checker);
    assert!(
        tokio::time::timeout(DEADLINE, flips.recv())
            .await
            .unwrap()
            .is_none()
    );
}
