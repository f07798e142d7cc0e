//! The harness itself: every backend named by `KEEL_TEST_*` answers its own protocol.
//! Under `CI=true` these fail when `scripts/services.sh` did not start something.

use std::time::Duration;

use keel_testkit::{Backend, Namespace, eventually_async, require_backend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `scheme://user:pass@host:port/path?query` (or a bare `host:port`, or a comma list) → `host:port`.
fn host_port(url: &str) -> String {
    let first = url.split(',').next().unwrap_or(url);
    let rest = first.split_once("://").map_or(first, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

async fn connect(url: &str) -> TcpStream {
    let addr = host_port(url);
    tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&addr))
        .await
        .unwrap_or_else(|_| panic!("connecting to {addr} timed out"))
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
}

async fn read_some(stream: &mut TcpStream, at_least: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 1024];
        while buf.len() < at_least {
            let n = stream.read(&mut chunk).await.expect("reading the answer");
            assert!(n > 0, "connection closed after {} bytes", buf.len());
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the server did not answer within 5s");
    buf
}

#[test]
fn host_port_parses_every_url_shape() {
    assert_eq!(
        host_port("http://127.0.0.1:2379,http://127.0.0.1:22379"),
        "127.0.0.1:2379"
    );
    assert_eq!(host_port("redis://127.0.0.1:6379/"), "127.0.0.1:6379");
    assert_eq!(
        host_port("postgres://keel:p@ss@127.0.0.1:5432/keel?sslmode=disable"),
        "127.0.0.1:5432"
    );
    assert_eq!(host_port("127.0.0.1:9092"), "127.0.0.1:9092");
}

#[tokio::test]
async fn etcd_reports_healthy() {
    let url = require_backend!(Backend::Etcd);
    let mut stream = connect(&url).await;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut body = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut body))
        .await
        .unwrap()
        .unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains(r#""health":"true""#), "{body}");
}

#[tokio::test]
async fn redis_answers_ping() {
    let url = require_backend!(Backend::Redis);
    let mut stream = connect(&url).await;
    stream.write_all(b"PING\r\n").await.unwrap();
    assert_eq!(read_some(&mut stream, 7).await, b"+PONG\r\n");
}

#[tokio::test]
async fn postgres_answers_the_ssl_request() {
    let url = require_backend!(Backend::Postgres);
    let mut stream = connect(&url).await;
    // SSLRequest: length 8, code 80877103. A PostgreSQL server answers one byte, 'S' or 'N'.
    stream
        .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .await
        .unwrap();
    let answer = read_some(&mut stream, 1).await;
    assert!(matches!(answer[0], b'S' | b'N'), "{answer:?}");
}

#[tokio::test]
async fn mysql_sends_its_handshake() {
    let url = require_backend!(Backend::Mysql);
    let mut stream = connect(&url).await;
    // The server speaks first: a packet header (3-byte length, sequence 0), then protocol 10.
    let greeting = read_some(&mut stream, 5).await;
    assert_eq!(greeting[3], 0, "sequence id");
    assert_eq!(greeting[4], 10, "protocol version: {greeting:?}");
}

#[tokio::test]
async fn kafka_answers_api_versions() {
    let url = require_backend!(Backend::Kafka);
    let mut stream = connect(&url).await;
    let client_id = b"keel-testkit";
    let mut request = Vec::new();
    request.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    request.extend_from_slice(&0i16.to_be_bytes()); // version 0
    request.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    request.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    request.extend_from_slice(client_id);
    let mut frame = (request.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&request);
    stream.write_all(&frame).await.unwrap();
    let answer = read_some(&mut stream, 10).await;
    assert_eq!(&answer[4..8], &7i32.to_be_bytes(), "correlation id");
    assert_eq!(&answer[8..10], &0i16.to_be_bytes(), "error code");
}

#[test]
fn namespaces_are_unique_and_valid_names() {
    let a = Namespace::new("My Test::case-1");
    let b = Namespace::new("My Test::case-1");
    assert_ne!(a, b);
    assert!(a.as_str().starts_with("kt_my_test__case_1_"));
    assert!(a.as_str().len() <= 48);
    assert!(
        a.as_str()
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    );
    assert_eq!(a.key_prefix(), format!("/{a}/"));
}

#[tokio::test]
async fn eventually_returns_as_soon_as_the_condition_holds() {
    let mut calls = 0;
    let value = eventually_async("three calls", Duration::from_secs(2), || {
        calls += 1;
        let done = calls >= 3;
        async move { done.then_some(calls) }
    })
    .await;
    assert_eq!(value, 3);
}

#[test]
#[should_panic(expected = "timed out")]
fn eventually_panics_at_the_deadline() {
    keel_testkit::eventually("never", Duration::from_millis(30), || None::<()>);
}
