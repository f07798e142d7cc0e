//! Long polls parked by `keel serve` outside hyper (server/src/front): answered by a release, by
//! their timeout and at shutdown; the connection reused afterwards; bad requests answered as
//! before; heads split across writes and pipelined requests; clients that hang up while parked.
//! And the other requests the front answers itself: config reads and Nacos heartbeats.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Server, call, free_port, ok, start};
use serde_json::{Value, json};

const NS: &str = "/api/v1/envs/dev/apps/shop/clusters/default/namespaces/application";

/// A server with app `shop` released once; returns the release key.
fn released(dir: &std::path::Path) -> (Server, u16, String) {
    let port = free_port();
    let server = start(dir, port);
    ok(
        port,
        "POST",
        "/api/v1/envs/dev/apps",
        Some(json!({"name": "shop"})),
    );
    let key = release(port, "v1");
    (server, port, key)
}

/// Changes an item and releases; returns the new key.
fn release(port: u16, name: &str) -> String {
    ok(
        port,
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "k", "value": name})),
    );
    let made = ok(
        port,
        "POST",
        &format!("{NS}/releases"),
        Some(json!({"name": name})),
    );
    made["release_key"].as_str().unwrap().to_owned()
}

/// One keep-alive HTTP/1.1 connection, read answer by answer.
struct Conn {
    reader: BufReader<TcpStream>,
}

/// An answer: status, lower-cased headers, body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    /// The body as text.
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            reader: BufReader::new(stream),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).unwrap();
    }

    fn get(&mut self, path: &str) {
        self.write(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
    }

    fn read(&mut self) -> Answer {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line.split(' ').nth(1).unwrap_or("0").parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let answer = Answer {
            status,
            headers,
            body: Value::Null,
            text: String::new(),
        };
        let length: usize = answer
            .header("content-length")
            .map_or(0, |l| l.parse().unwrap());
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        Answer {
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&body).into_owned(),
            ..answer
        }
    }

    /// Whether the server closed the connection (EOF) within the read timeout.
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(self.reader.read_to_end(&mut rest), Ok(0))
    }
}

fn poll_path(key: &str, timeout: &str) -> String {
    format!("{NS}/notifications?releaseKey={key}&timeout={timeout}")
}

fn metric(port: u16, line_start: &str) -> Option<f64> {
    let (_, page) = call(port, "GET", "/metrics", None).ok()?;
    page.as_str()?
        .lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|n| n.trim().parse().ok())
}

#[test]
fn a_parked_poll_is_answered_by_a_release_and_its_connection_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port, v1) = released(dir.path());
    let mut conn = Conn::open(port);
    conn.get(&poll_path(&v1, "30s"));
    server.wait_parked(1.0);
    let v2 = release(port, "v2");
    let woke = conn.read();
    assert_eq!(woke.status, 200);
    assert_eq!(woke.header("content-type"), Some("application/json"));
    assert_eq!(woke.header("connection"), None, "kept alive");
    assert_eq!(
        woke.body,
        json!({"code": 0, "message": "success", "data": [{"env": "dev", "app": "shop",
            "cluster": "default", "namespace": "application", "release_key": v2}]})
    );
    server.wait_parked(0.0);

    // The same connection: an ordinary request (hyper from here on) ...
    conn.get(&format!("{NS}/configs"));
    let read = conn.read();
    assert_eq!(read.status, 200);
    assert_eq!(read.body["data"]["release_key"], v2.as_str());
    // ... and a long poll after it, served by the router as before.
    conn.get(&poll_path(&v2, "1s"));
    assert_eq!(conn.read().status, 304);

    // The fan-out is measured and the requests are counted as the router counts them.
    assert_eq!(metric(port, "keel_config_fanout_last_clients "), Some(1.0));
    assert!(metric(port, "keel_config_fanout_last_seconds ").is_some());
    assert!(metric(port, "keel_config_fanout_seconds_count ").is_some());
    let route =
        "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/notifications";
    let ok_polls = metric(
        port,
        &format!("keel_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"200\"}} "),
    );
    assert_eq!(ok_polls, Some(1.0));
    server.kill();
}

#[test]
fn a_poll_times_out_with_304_and_a_behind_client_is_answered_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port, v1) = released(dir.path());
    let mut conn = Conn::open(port);
    conn.get(&poll_path(&v1, "500ms"));
    let timed_out = conn.read();
    assert_eq!(timed_out.status, 304);
    assert_eq!(timed_out.header("content-length"), None);
    server.wait_parked(0.0);
    // On the same connection: a client holding an old key is answered without parking ...
    conn.get(&poll_path("old", "30s"));
    let behind = conn.read();
    assert_eq!(behind.status, 200);
    assert_eq!(behind.body["data"][0]["release_key"], v1.as_str());
    // ... and then anything else.
    conn.get("/health");
    assert_eq!(conn.read().status, 200);
    // A client that asks to close gets `connection: close` and the connection ends.
    conn.write(
        format!(
            "GET {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            poll_path("old", "30s")
        )
        .as_bytes(),
    );
    let last = conn.read();
    assert_eq!(last.status, 200);
    assert_eq!(last.header("connection"), Some("close"));
    assert!(conn.closed());
    server.kill();
}

#[test]
fn bad_long_polls_get_the_same_4xx_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port, v1) = released(dir.path());
    let cases = [
        (
            poll_path(&v1, "soon"),
            400,
            "timeout \"soon\" is not a duration",
        ),
        (poll_path(&v1, "3m"), 400, "longer than the most allowed"),
        (
            format!("{NS}/notifications?releaseKey={v1}&ip=nope"),
            400,
            "ip \"nope\" is not an IP address",
        ),
        (
            "/api/v1/envs/dev/apps/sh@p/clusters/default/namespaces/application/notifications"
                .to_owned(),
            400,
            "app",
        ),
        (
            "/api/v1/envs/dev/apps/shop/clusters/default/namespaces/nope/notifications".to_owned(),
            404,
            "nope",
        ),
    ];
    for (path, status, message) in cases {
        let mut conn = Conn::open(port);
        conn.get(&path);
        let answer = conn.read();
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        let said = answer.body["message"].as_str().unwrap_or_default();
        assert!(said.contains(message), "{path}: {said}");
        // The connection serves on.
        conn.get("/health");
        assert_eq!(conn.read().status, 200);
    }
    server.kill();
}

#[test]
fn split_and_pipelined_heads_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port, v1) = released(dir.path());
    // A head in three writes (TCP_NODELAY: three segments).
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        poll_path(&v1, "30s")
    );
    let mut split = Conn::open(port);
    for piece in [&head[..3], &head[3..40], &head[40..]] {
        split.write(piece.as_bytes());
        std::thread::sleep(Duration::from_millis(20));
    }
    // A long poll with a second request behind it in the same write (hyper serves both).
    let mut pipelined = Conn::open(port);
    pipelined.write(format!("{head}GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
    server.wait_parked(2.0);
    let v2 = release(port, "v2");
    for conn in [&mut split, &mut pipelined] {
        let woke = conn.read();
        assert_eq!(woke.status, 200);
        assert_eq!(woke.body["data"][0]["release_key"], v2.as_str());
    }
    assert_eq!(pipelined.read().status, 200, "the pipelined request");
    server.kill();
}

#[test]
fn clients_that_hang_up_while_parked_are_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port, v1) = released(dir.path());
    let mut conns: Vec<Conn> = (0..3).map(|_| Conn::open(port)).collect();
    for conn in &mut conns {
        conn.get(&poll_path(&v1, "60s"));
    }
    server.wait_parked(3.0);
    let mut kept = conns.pop().unwrap();
    drop(conns);
    server.wait_parked(1.0);
    let v2 = release(port, "v2");
    let woke = kept.read();
    assert_eq!(woke.body["data"][0]["release_key"], v2.as_str());
    assert_eq!(metric(port, "keel_config_fanout_last_clients "), Some(1.0));
    server.wait_parked(0.0);
    server.kill();
}

#[test]
fn sigterm_answers_parked_polls_with_304_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port, v1) = released(dir.path());
    let mut conns: Vec<Conn> = (0..2).map(|_| Conn::open(port)).collect();
    for conn in &mut conns {
        conn.get(&poll_path(&v1, "60s"));
    }
    // An idle keep-alive connection that was answered before.
    let mut idle = Conn::open(port);
    idle.get(&poll_path("old", "60s"));
    assert_eq!(idle.read().status, 200);
    server.wait_parked(2.0);
    server.terminate();
    for mut conn in conns {
        let answer = conn.read();
        assert_eq!(answer.status, 304);
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(conn.closed());
    }
    assert!(idle.closed());
}

#[test]
fn a_gray_release_wakes_only_the_polls_it_matches() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port, v1) = released(dir.path());
    let mut canary = Conn::open(port);
    canary.get(&format!("{}&label=canary", poll_path(&v1, "30s")));
    let mut stable = Conn::open(port);
    stable.get(&poll_path(&v1, "30s"));
    server.wait_parked(2.0);
    ok(
        port,
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "k", "value": "gray"})),
    );
    let gray = ok(
        port,
        "POST",
        &format!("{NS}/releases"),
        Some(json!({"name": "v2-canary", "gray": {"labels": ["canary"]}})),
    );
    let woke = canary.read();
    assert_eq!(
        woke.body["data"][0]["release_key"],
        gray["release"]["release_key"]
    );
    // The stable client sleeps through it.
    server.wait_parked(1.0);
    let v2 = release(port, "v2");
    assert_eq!(stable.read().body["data"][0]["release_key"], v2.as_str());
    server.kill();
}

/// Enough polls for the fan-out to be written in slices by several tasks.
#[test]
fn a_large_fan_out_answers_every_poll() {
    const POLLS: usize = 600;
    let dir = tempfile::tempdir().unwrap();
    let (server, port, v1) = released(dir.path());
    let mut conns: Vec<Conn> = (0..POLLS).map(|_| Conn::open(port)).collect();
    for conn in &mut conns {
        conn.get(&poll_path(&v1, "60s"));
    }
    server.wait_parked(POLLS as f64);
    let v2 = release(port, "v2");
    for conn in &mut conns {
        let woke = conn.read();
        assert_eq!(woke.status, 200);
        assert_eq!(woke.body["data"][0]["release_key"], v2.as_str());
    }
    assert_eq!(
        metric(port, "keel_config_fanout_last_clients "),
        Some(POLLS as f64)
    );
    server.wait_parked(0.0);
    server.kill();
}

/// Config reads are answered outside hyper too (server/src/front/read.rs): the same answers,
/// errors and metrics as the router's.
#[test]
fn config_reads_on_a_kept_connection_answer_as_the_router_does() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port, v1) = released(dir.path());
    let v2 = release(port, "v2");
    let mut conn = Conn::open(port);
    for _ in 0..3 {
        conn.get(&format!("{NS}/configs"));
        let full = conn.read();
        assert_eq!(full.status, 200);
        assert_eq!(full.header("content-type"), Some("application/json"));
        assert_eq!(full.body["code"], 0);
        assert_eq!(full.body["data"]["release_key"], v2.as_str());
        assert_eq!(full.body["data"]["configs"]["k"], "v2");
        assert_eq!(full.body["data"]["incremental"], false);
    }
    conn.get(&format!("{NS}/configs?releaseKey={v2}"));
    assert_eq!(conn.read().status, 304);
    conn.get(&format!("{NS}/configs?releaseKey={v1}&incremental=true"));
    let changes = conn.read();
    assert_eq!(changes.status, 200);
    assert_eq!(changes.body["data"]["updated"]["k"], "v2");
    assert_eq!(changes.body["data"]["since"], v1.as_str());
    // Refusals come from the router, on the same connection.
    conn.get(&format!("{NS}/configs?incremental=maybe"));
    let bad = conn.read();
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid query"),
        "{}",
        bad.body
    );
    let route = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/configs";
    let reads = metric(
        port,
        &format!("keel_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"200\"}} "),
    );
    assert!(reads >= Some(4.0), "{reads:?}");
    let mut other = Conn::open(port);
    other.get("/api/v1/envs/dev/apps/shop/clusters/default/namespaces/nope/configs");
    let missing = other.read();
    assert_eq!(missing.status, 404);
    assert!(missing.body["message"].as_str().unwrap().contains("nope"));
    server.kill();
}

#[test]
fn nacos_config_reads_on_a_kept_connection_answer_as_the_router_does() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    let cs = "/nacos/v1/cs/configs";
    let (status, body) = call(
        port,
        "POST",
        &format!("{cs}?dataId=d.properties&group=G&type=properties&content=a%3D1"),
        None,
    )
    .unwrap();
    assert_eq!((status, body), (200, json!(true)));
    let mut conn = Conn::open(port);
    for _ in 0..3 {
        conn.get(&format!("{cs}?dataId=d.properties&group=G"));
        let read = conn.read();
        assert_eq!((read.status, read.text.as_str()), (200, "a=1"));
        assert_eq!(
            read.header("content-type"),
            Some("text/plain;charset=UTF-8")
        );
        assert_eq!(read.header("config-type"), Some("properties"));
        assert_eq!(
            read.header("content-md5"),
            Some(keel_config_center::document::md5_hex("a=1").as_str())
        );
    }
    conn.get(&format!("{cs}?dataId=missing&group=G"));
    let missing = conn.read();
    assert_eq!(
        (missing.status, missing.text.as_str()),
        (404, "config data not exist\n")
    );
    // What the handler words itself comes from the router, on the same connection.
    conn.get(&format!("{cs}?group=G"));
    let bad = conn.read();
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("'dataId'"), "{}", bad.text);
    conn.get(&format!("{cs}?search=accurate&dataId=&group=G"));
    let listed = conn.read();
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["totalCount"], 1);
    let reads = metric(
        port,
        &format!("keel_http_requests_total{{method=\"GET\",route=\"{cs}\",status=\"200\"}} "),
    );
    assert!(reads >= Some(3.0), "{reads:?}");
    let misses = metric(
        port,
        &format!("keel_http_requests_total{{method=\"GET\",route=\"{cs}\",status=\"404\"}} "),
    );
    assert_eq!(misses, Some(1.0));
    server.kill();
}

#[test]
fn nacos_listener_polls_are_held_outside_hyper_and_their_connection_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    let cs = "/nacos/v1/cs/configs";
    let publish = |content: &str| {
        let (status, body) = call(
            port,
            "POST",
            &format!("{cs}?dataId=d&group=G&content={content}"),
            None,
        )
        .unwrap();
        assert_eq!((status, body), (200, json!(true)));
    };
    publish("v1");
    let md5 = keel_config_center::document::md5_hex("v1");
    let body = format!("Listening-Configs=d%02G%02{md5}%02%01");
    let poll = format!(
        "POST {cs}/listener HTTP/1.1\r\nHost: localhost\r\nLong-Pulling-Timeout: 30000\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = Conn::open(port);
    // The head and body split across writes.
    let (first, rest) = poll.split_at(poll.len() - 5);
    conn.write(first.as_bytes());
    std::thread::sleep(Duration::from_millis(100));
    conn.write(rest.as_bytes());
    server.wait_parked(1.0);
    publish("v2");
    let woke = conn.read();
    assert_eq!((woke.status, woke.text.as_str()), (200, "d%02G%01\n"));
    assert_eq!(woke.header("cache-control"), Some("no-cache,no-store"));
    // The same connection reads the new content, then polls again with a stale MD5: at once.
    conn.get(&format!("{cs}?dataId=d&group=G"));
    assert_eq!(conn.read().text, "v2");
    conn.write(poll.as_bytes());
    assert_eq!(conn.read().text, "d%02G%01\n");
    // A refused poll is the router's answer, on the same connection.
    let bad = "Listening-Configs=nope";
    conn.write(
        format!(
            "POST {cs}/listener HTTP/1.1\r\nHost: localhost\r\nLong-Pulling-Timeout: 30000\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{bad}",
            bad.len()
        )
        .as_bytes(),
    );
    let refused = conn.read();
    assert_eq!(
        (refused.status, refused.text.as_str()),
        (400, "caused: invalid probeModify;")
    );
    server.kill();
}

/// Nacos heartbeats are answered outside hyper, light (query) and full (form body) alike, with
/// the router's answers and metrics, and their connection serves on.
#[test]
fn nacos_heartbeats_on_a_kept_connection_answer_as_the_router_does() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    let (status, _) = call(
        port,
        "POST",
        "/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=8080",
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    let beat = "/nacos/v1/ns/instance/beat";
    let put = |conn: &mut Conn, query: &str, body: &str| {
        conn.write(
            format!(
                "PUT {beat}?{query} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        conn.read()
    };
    let mut conn = Conn::open(port);
    for _ in 0..3 {
        let known = put(&mut conn, "serviceName=svc&ip=10.0.0.1&port=8080", "");
        assert_eq!(
            (known.status, known.text.as_str()),
            (
                200,
                r#"{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}"#
            )
        );
        assert_eq!(known.header("content-type"), Some("application/json"));
    }
    let unknown = put(&mut conn, "serviceName=svc&ip=9.9.9.9&port=1", "");
    assert_eq!(unknown.body["code"], 20404);
    // A full beat in the body registers its instance.
    let full = format!(
        "beat={}",
        url_encode(r#"{"serviceName":"DEFAULT_GROUP@@svc","ip":"10.0.0.9","port":9090}"#)
    );
    let registered = put(&mut conn, "serviceName=svc", &full);
    assert_eq!(registered.body["code"], 10200);
    // A refusal, worded by the handler's code, on the same connection.
    let refused = put(&mut conn, "ip=1.1.1.1&port=1", "");
    assert_eq!(
        (refused.status, refused.text.as_str()),
        (400, "Param 'serviceName' is required.")
    );
    conn.get("/nacos/v1/ns/instance/list?serviceName=svc");
    let listed = conn.read();
    let mut hosts: Vec<String> = listed.body["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{}:{}", h["ip"].as_str().unwrap(), h["port"]))
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["10.0.0.1:8080", "10.0.0.9:9090"]);
    let count = |status: &str| {
        metric(
            port,
            &format!(
                "keel_http_requests_total{{method=\"PUT\",route=\"{beat}\",status=\"{status}\"}} "
            ),
        )
    };
    assert_eq!(count("200"), Some(5.0));
    assert_eq!(count("400"), Some(1.0));
    server.kill();
}

/// `text` as a form value.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Publishes `content` as Nacos config `data_id` (group `G`) through the Nacos API, with
/// `headers` (whole lines, e.g. `betaIps: …`) added.
fn nacos_publish(port: u16, data_id: &str, content: &str, headers: &str) {
    let mut conn = Conn::open(port);
    conn.write(
        format!(
            "POST /nacos/v1/cs/configs?dataId={data_id}&group=G&content={content} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    let answer = conn.read();
    assert_eq!(
        (answer.status, answer.text.as_str()),
        (200, "true"),
        "publishing {data_id}"
    );
}

/// Opens a connection and sends a Nacos listener poll on `data_id` (group `G`) holding `md5`,
/// held up to `timeout_ms`, with `headers` (whole lines) added.
fn nacos_listener(port: u16, data_id: &str, md5: &str, timeout_ms: u32, headers: &str) -> Conn {
    let body = format!("Listening-Configs={data_id}%02G%02{md5}%02%01");
    let mut conn = Conn::open(port);
    conn.write(
        format!(
            "POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nHost: localhost\r\nLong-Pulling-Timeout: {timeout_ms}\r\n{headers}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    conn
}

/// A Nacos listener on one config is parked in its namespace's lot, next to native long polls
/// on the same namespace: one publish answers both, in one fan-out keel measures.
#[test]
fn nacos_listeners_share_the_namespaces_lot_with_native_polls() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    nacos_publish(port, "d", "v1", "");
    // Nacos config d of group G in the public namespace is keel namespace public/G/default/d.
    let native = "/api/v1/envs/public/apps/G/clusters/default/namespaces/d";
    let (_, read) = call(port, "GET", &format!("{native}/configs"), None).unwrap();
    let key = read["data"]["release_key"].as_str().unwrap().to_owned();
    let mut listener = nacos_listener(port, "d", &md5_hex("v1"), 30_000, "");
    let mut poll = Conn::open(port);
    poll.get(&format!(
        "{native}/notifications?releaseKey={key}&timeout=30s"
    ));
    server.wait_parked(2.0);
    nacos_publish(port, "d", "v2", "");
    let woke = listener.read();
    assert_eq!((woke.status, woke.text.as_str()), (200, "d%02G%01\n"));
    assert_eq!(
        woke.header("content-type"),
        Some("text/plain;charset=UTF-8")
    );
    assert_eq!(woke.header("cache-control"), Some("no-cache,no-store"));
    assert_eq!(woke.header("pragma"), Some("no-cache"));
    let native_woke = poll.read();
    assert_eq!(native_woke.status, 200);
    assert_ne!(native_woke.body["data"][0]["release_key"], key.as_str());
    assert_eq!(metric(port, "keel_config_fanout_last_clients "), Some(2.0));
    server.wait_parked(0.0);
    // Counted under the listener's own route and method, as the router counts it.
    let answered = metric(
        port,
        "keel_http_requests_total{method=\"POST\",route=\"/nacos/v1/cs/configs/listener\",status=\"200\"} ",
    );
    assert_eq!(answered, Some(1.0));
    // The connection goes on: it reads the new content and parks again.
    listener.get("/nacos/v1/cs/configs?dataId=d&group=G");
    assert_eq!(listener.read().text, "v2");
    server.kill();
}

/// A listener on a config that does not exist yet is woken by its creation, one on an existing
/// config by its deletion; a client that hangs up is let go at once; at the end of the hold
/// the answer is an empty 200.
#[test]
fn parked_nacos_listeners_wake_on_creation_and_deletion_and_time_out_empty() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    let mut created = nacos_listener(port, "later", "", 30_000, "");
    let gone = nacos_listener(port, "later", "", 30_000, "");
    server.wait_parked(2.0);
    drop(gone);
    server.wait_parked(1.0);
    nacos_publish(port, "later", "v1", "");
    assert_eq!(created.read().text, "later%02G%01\n");
    server.wait_parked(0.0);

    let mut deleted = nacos_listener(port, "later", &md5_hex("v1"), 30_000, "");
    // The shortest hold Nacos allows (10 s), whatever the client asks.
    let mut idle = nacos_listener(port, "later", &md5_hex("v1"), 1_000, "");
    server.wait_parked(2.0);
    let (status, body) = call(
        port,
        "DELETE",
        "/nacos/v1/cs/configs?dataId=later&group=G",
        None,
    )
    .unwrap();
    assert_eq!((status, body), (200, json!(true)));
    assert_eq!(deleted.read().text, "later%02G%01\n");
    // The idle one held the deleted config's MD5 too: it is woken with it.
    assert_eq!(idle.read().text, "later%02G%01\n");

    // Up to date with "no config": it sleeps the whole hold, then an empty 200.
    let started = std::time::Instant::now();
    let mut empty = nacos_listener(port, "later", "", 10_000, "");
    server.wait_parked(1.0);
    let timed_out = empty.read();
    assert_eq!((timed_out.status, timed_out.text.as_str()), (200, ""));
    assert_eq!(timed_out.header("content-length"), Some("0"));
    assert_eq!(timed_out.header("cache-control"), Some("no-cache,no-store"));
    assert!(started.elapsed() >= Duration::from_millis(9_500));
    server.kill();
}

/// A beta publish wakes only the listeners whose IP it names; the formal publish the rest.
/// At shutdown every parked listener gets its empty 200 and the connection closes.
#[test]
fn a_beta_publish_wakes_only_its_listeners_and_shutdown_answers_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    nacos_publish(port, "b", "v1", "");
    let v1 = md5_hex("v1");
    let mut beta = nacos_listener(port, "b", &v1, 30_000, "X-Forwarded-For: 10.1.2.3\r\n");
    let mut other = nacos_listener(port, "b", &v1, 30_000, "X-Forwarded-For: 10.9.9.9\r\n");
    server.wait_parked(2.0);
    nacos_publish(port, "b", "beta", "betaIps: 10.1.2.3\r\n");
    assert_eq!(beta.read().text, "b%02G%01\n");
    server.wait_parked(1.0);
    // The beta client's next poll, holding the beta's MD5, parks.
    let mut beta_again = nacos_listener(
        port,
        "b",
        &md5_hex("beta"),
        30_000,
        "X-Forwarded-For: 10.1.2.3\r\n",
    );
    server.wait_parked(2.0);
    server.terminate();
    for conn in [&mut other, &mut beta_again] {
        let answer = conn.read();
        assert_eq!((answer.status, answer.text.as_str()), (200, ""));
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(conn.closed());
    }
}

fn md5_hex(text: &str) -> String {
    keel_config_center::document::md5_hex(text)
}
