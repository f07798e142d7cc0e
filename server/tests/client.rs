//! The Rust client SDK (`keel_config_center::client`) against real `keel serve` processes:
//! start-up reads and typed values, change push (callbacks and streams) with incremental
//! fetches, failover between nodes, starting from snapshots, and a clear failure with neither.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, free_port};

use futures_util::StreamExt;
use keel_config_center::client::{ChangeEvent, ClientConfig, ConfigClient, Error, Source};
use keel_testkit::eventually_async;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// How long anything a test waits for may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// `keel serve` processes, started and driven from async tests.
trait ServerExt {
    fn start(data_dir: &Path, port: u16) -> Server;
    fn terminate_now(self);
}

impl ServerExt for Server {
    fn start(data_dir: &Path, port: u16) -> Server {
        blocking(|| common::start(data_dir, port))
    }

    /// SIGTERM, and wait for a clean exit (parked long polls are answered 304 first).
    fn terminate_now(self) {
        blocking(|| self.terminate());
    }
}

/// Runs blocking test plumbing (processes, sockets, polling) without starving the client's
/// tasks: a task spawned from this worker may sit in its run queue, which only this worker
/// would otherwise run.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

/// Waits until `server` holds a parked long poll (`true`) or none (`false`).
async fn parked(server: &Server, expected: bool, what: &str) {
    eventually_async(what, PATIENCE, || async {
        ((blocking(|| server.parked_long_polls())? > 0.0) == expected).then_some(())
    })
    .await;
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn ok(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    blocking(|| common::ok(port, method, path, body))
}

const APPS: &str = "/api/v1/envs/dev/apps";

fn ns(namespace: &str) -> String {
    format!("{APPS}/shop/clusters/default/namespaces/{namespace}")
}

fn put(port: u16, namespace: &str, key: &str, value: &str) {
    ok(
        port,
        "POST",
        &format!("{}/items", ns(namespace)),
        Some(json!({"key": key, "value": value})),
    );
}

fn release(port: u16, namespace: &str) -> String {
    let release = ok(
        port,
        "POST",
        &format!("{}/releases", ns(namespace)),
        Some(json!({"name": "r"})),
    );
    release["release_key"].as_str().unwrap().to_owned()
}

const GATEWAY_V1: &str = r#"{"routes":["/api"],"port":8080}"#;
const ROUTES_V1: &str = "routes:\n  - /shop\nport: 9090\n";

/// App `shop` with a properties namespace (`application`), a json one (`gateway`) and a
/// yaml one (`routes`), each released once.
fn seed(port: u16) {
    ok(
        port,
        "POST",
        APPS,
        Some(json!({"name": "shop", "owner": "team-a"})),
    );
    put(port, "application", "db.pool", "10");
    put(port, "application", "feature.x", "on");
    put(port, "application", "name", "shop");
    for (name, format) in [("gateway", "json"), ("routes", "yaml")] {
        ok(
            port,
            "POST",
            &format!("{APPS}/shop/clusters/default/namespaces"),
            Some(json!({"name": name, "format": format})),
        );
    }
    put(port, "gateway", "content", GATEWAY_V1);
    put(port, "routes", "content", ROUTES_V1);
    for namespace in ["application", "gateway", "routes"] {
        release(port, namespace);
    }
}

fn config(servers: Vec<String>, snapshot_dir: Option<&Path>) -> ClientConfig {
    ClientConfig {
        servers,
        env: "dev".into(),
        app: "shop".into(),
        namespaces: vec!["application".into(), "gateway".into(), "routes".into()],
        snapshot_dir: snapshot_dir.map(Path::to_owned),
        // Short pauses: a test should not wait out production back-offs.
        retry_interval: Duration::from_millis(100),
        max_retry_interval: Duration::from_millis(500),
        ..ClientConfig::default()
    }
}

#[derive(Debug, Deserialize, PartialEq)]
struct AppSettings {
    #[serde(rename = "db.pool")]
    pool: u32,
    #[serde(rename = "feature.x")]
    feature: String,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Routes {
    routes: Vec<String>,
    port: u16,
}

async fn next_event(receiver: &mut broadcast::Receiver<ChangeEvent>) -> ChangeEvent {
    tokio::time::timeout(PATIENCE, receiver.recv())
        .await
        .expect("no change event within the deadline")
        .unwrap()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_namespace_at_start_and_serves_typed_values() {
    let data = tempfile::tempdir().unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), free_port());
    seed(server.port);

    // Cluster `bj` has no namespaces of its own: everything falls back to `default`.
    let client = ConfigClient::new(ClientConfig {
        cluster: "bj".into(),
        ..config(vec![server.url()], Some(snapshots.path()))
    })
    .await
    .unwrap();
    assert_eq!(client.source(), Source::Server);
    assert!(!client.started_from_snapshot());
    assert_eq!(client.get("application", "db.pool").as_deref(), Some("10"));
    assert_eq!(client.get("application", "nope"), None);
    assert_eq!(client.get("nope", "db.pool"), None);
    assert_eq!(
        client.get_namespace("application").unwrap(),
        map(&[("db.pool", "10"), ("feature.x", "on"), ("name", "shop")])
    );
    let held = client.namespace_config("application").unwrap();
    assert_eq!(held.served.cluster, "default");

    let settings: AppSettings = client.get_as("application").unwrap();
    assert_eq!(
        settings,
        AppSettings {
            pool: 10,
            feature: "on".into()
        }
    );
    let gateway: Routes = client.get_as("gateway").unwrap();
    assert_eq!(
        gateway,
        Routes {
            routes: vec!["/api".into()],
            port: 8080
        }
    );
    let routes: Routes = client.get_as("routes").unwrap();
    assert_eq!(
        routes,
        Routes {
            routes: vec!["/shop".into()],
            port: 9090
        }
    );
    assert!(matches!(
        client.get_as::<Routes>("nope"),
        Err(Error::UnknownNamespace(_))
    ));
    let err = client
        .get_as::<AppSettings>("gateway")
        .unwrap_err()
        .to_string();
    assert!(err.contains("gateway") && err.contains("db.pool"), "{err}");

    // Every namespace was snapshotted, under the client's own cluster.
    let snapshot = snapshots.path().join("dev/shop/bj/application.json");
    let saved: Value = serde_json::from_slice(&std::fs::read(&snapshot).unwrap()).unwrap();
    assert_eq!(saved["release_key"], held.release_key.as_str());
    assert_eq!(saved["configs"]["db.pool"], "10");

    // A namespace the server does not have is refused at once, not retried.
    let err = ConfigClient::new(ClientConfig {
        namespaces: vec!["missing".into()],
        ..config(vec![server.url()], None)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { status: 404, message } if message.contains("missing")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_applies_releases_incrementally_and_tells_callbacks_and_streams() {
    let data = tempfile::tempdir().unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), free_port());
    seed(server.port);
    let client = ConfigClient::new(config(vec![server.url()], Some(snapshots.path())))
        .await
        .unwrap();
    let heard = Arc::new(Mutex::new(Vec::<ChangeEvent>::new()));
    let sink = Arc::clone(&heard);
    client.on_change(move |event| sink.lock().unwrap().push(event.clone()));
    let mut receiver = client.subscribe();
    let mut stream = Box::pin(client.changes());
    client.watch().unwrap();
    client.watch().unwrap(); // a second call does nothing
    parked(&server, true, "the client's long poll to park").await;

    put(server.port, "application", "db.pool", "20");
    put(server.port, "application", "new.key", "v");
    ok(
        server.port,
        "DELETE",
        &format!("{}/items/feature.x", ns("application")),
        None,
    );
    let key = release(server.port, "application");

    let event = next_event(&mut receiver).await;
    assert_eq!(event.namespace, "application");
    assert_eq!(event.release_key, key);
    assert_eq!(event.added, map(&[("new.key", "v")]));
    assert_eq!(event.updated, map(&[("db.pool", "20")]));
    assert_eq!(event.deleted, vec!["feature.x".to_owned()]);
    let streamed = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(streamed, event);
    eventually_async("the callback to hear the release", PATIENCE, || async {
        (heard.lock().unwrap().last() == Some(&event)).then_some(())
    })
    .await;
    // Subscribers hear of a release only once it is readable.
    assert_eq!(client.get("application", "db.pool").as_deref(), Some("20"));
    assert_eq!(client.get("application", "feature.x"), None);
    let saved: Value = serde_json::from_slice(
        &std::fs::read(snapshots.path().join("dev/shop/default/application.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["release_key"], key.as_str());

    // A document namespace: one `content` item, read back as the new type.
    put(
        server.port,
        "gateway",
        "content",
        r#"{"routes":["/api","/v2"],"port":8081}"#,
    );
    let key = release(server.port, "gateway");
    let event = next_event(&mut receiver).await;
    assert_eq!(
        (event.namespace.as_str(), event.release_key.as_str()),
        ("gateway", key.as_str())
    );
    assert_eq!(event.updated.keys().collect::<Vec<_>>(), vec!["content"]);
    let gateway: Routes = client.get_as("gateway").unwrap();
    assert_eq!(gateway.routes, vec!["/api".to_owned(), "/v2".to_owned()]);
    assert_eq!(heard.lock().unwrap().len(), 2);

    client.close().await;
    client.close().await; // idempotent
    assert!(matches!(client.watch(), Err(Error::Closed)));
    parked(&server, false, "the closed client's long poll to end").await;
    // Reads keep the last configuration.
    assert_eq!(client.get("application", "db.pool").as_deref(), Some("20"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_past_a_dead_node_a_node_shutting_down_and_a_killed_node() {
    let data = tempfile::tempdir().unwrap();
    let (dead, port_a, port_b) = (free_port(), free_port(), free_port());
    let a = Server::start(data.path(), port_a);
    seed(a.port);

    // The first URL never answers; `b` is not running yet.
    let client = ConfigClient::new(config(vec![url(dead), url(port_a), url(port_b)], None))
        .await
        .unwrap();
    assert_eq!(client.source(), Source::Server);
    assert_eq!(client.get("application", "db.pool").as_deref(), Some("10"));
    let mut receiver = client.subscribe();
    client.watch().unwrap();
    parked(&a, true, "the long poll to park on a").await;

    // `a` shuts down: it answers the parked poll 304 at once; the client polls elsewhere.
    // `b` takes over the same data (standalone mode: one node per data directory at a time).
    a.terminate_now();
    let b = Server::start(data.path(), port_b);
    put(b.port, "application", "db.pool", "30");
    let key = release(b.port, "application");
    let event = next_event(&mut receiver).await;
    assert_eq!(event.release_key, key);
    assert_eq!(event.updated, map(&[("db.pool", "30")]));
    parked(&b, true, "the long poll to park on b").await;

    // `b` is killed mid-poll (no 304): the broken connection sends the client on.
    drop(b);
    let a = Server::start(data.path(), port_a);
    put(a.port, "application", "db.pool", "40");
    let key = release(a.port, "application");
    let event = next_event(&mut receiver).await;
    assert_eq!(event.release_key, key);
    assert_eq!(client.get("application", "db.pool").as_deref(), Some("40"));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_from_snapshots_when_no_server_answers_and_catches_up_later() {
    let data = tempfile::tempdir().unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Server::start(data.path(), port);
    seed(port);
    let first = ConfigClient::new(config(vec![url(port)], Some(snapshots.path())))
        .await
        .unwrap();
    let started_with = first.namespace_config("application").unwrap();
    drop(first);
    drop(server); // kill -9

    let client = ConfigClient::new(config(vec![url(port)], Some(snapshots.path())))
        .await
        .unwrap();
    assert!(client.started_from_snapshot());
    assert_eq!(client.source(), Source::Snapshot);
    assert_eq!(
        client.namespace_config("application").unwrap(),
        started_with
    );
    let settings: AppSettings = client.get_as("application").unwrap();
    assert_eq!(settings.pool, 10);
    let routes: Routes = client.get_as("routes").unwrap();
    assert_eq!(routes.port, 9090, "the format is kept in the snapshot");

    // The watch keeps trying; once a node is back, the client catches up with what was
    // released meanwhile, incrementally from the snapshot's release.
    let mut receiver = client.subscribe();
    client.watch().unwrap();
    let server = Server::start(data.path(), port);
    put(server.port, "application", "db.pool", "50");
    let key = release(server.port, "application");
    let event = next_event(&mut receiver).await;
    assert_eq!(event.release_key, key);
    assert_eq!(event.updated, map(&[("db.pool", "50")]));
    assert_eq!(client.get("application", "db.pool").as_deref(), Some("50"));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_fails_clearly_with_neither_a_server_nor_a_snapshot() {
    let dead = url(free_port());
    let empty = tempfile::tempdir().unwrap();
    let err = ConfigClient::new(config(vec![dead.clone()], Some(empty.path())))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoSource(_)), "{err:?}");
    let message = err.to_string();
    for expected in [
        dead.as_str(),
        "no snapshot",
        "\"application\"",
        "dev/shop/default/application.json",
    ] {
        assert!(
            message.contains(expected),
            "{message:?} should mention {expected:?}"
        );
    }

    let err = ConfigClient::new(config(vec![dead.clone()], None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("snapshot_dir is not set"), "{err}");

    let err = ConfigClient::new(config(vec![], None)).await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}
