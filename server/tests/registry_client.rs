//! The registry's Rust client SDK (`keel_registry::client`) against real `keel serve`
//! processes: registration kept alive by heartbeats, discovery kept current by the long poll,
//! registering again when the registry forgets an instance, graceful offline, failover,
//! starting from snapshots, and push-empty protection.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{Server, free_port};

use keel_registry::client::{ClientConfig, Error, RegistryClient, ServiceHandle};
use keel_registry::{CheckKind, Discovery, HealthCheck, InstanceStatus, NewInstance};
use keel_testkit::eventually_async;
use serde_json::Value;

/// How long anything a test waits for may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// `keel serve` processes, started from async tests.
trait ServerExt {
    fn start(data_dir: &Path, port: u16) -> Server;
}

impl ServerExt for Server {
    fn start(data_dir: &Path, port: u16) -> Server {
        blocking(|| common::start(data_dir, port))
    }
}

/// Runs blocking test plumbing (processes, sockets) without starving the client's tasks.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn ok(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    blocking(|| common::ok(port, method, path, body))
}

fn config(servers: Vec<String>, snapshot_dir: Option<&Path>) -> ClientConfig {
    ClientConfig {
        servers,
        snapshot_dir: snapshot_dir.map(Path::to_owned),
        // Short pauses: a test should not wait out production back-offs.
        retry_interval: Duration::from_millis(100),
        max_retry_interval: Duration::from_millis(500),
        ..ClientConfig::default()
    }
}

/// An ephemeral instance on quick timings: beats every 1s, unhealthy after 2s without one,
/// removed after 3s.
fn ephemeral(service: &str, port: u32) -> NewInstance {
    NewInstance {
        service_name: service.into(),
        group_name: None,
        host: "127.0.0.1".into(),
        port,
        weight: None,
        metadata: Default::default(),
        tags: vec![],
        ephemeral: None,
        health_check: Some(HealthCheck {
            interval: Some(Duration::from_secs(1)),
            unhealthy_timeout: Some(Duration::from_secs(2)),
            delete_timeout: Some(Duration::from_secs(3)),
            ..HealthCheck::of(CheckKind::Ttl)
        }),
    }
}

/// A persistent instance: it never expires, so only a DELETE removes it.
fn persistent(service: &str, port: u32) -> NewInstance {
    NewInstance {
        ephemeral: Some(false),
        health_check: None,
        ..ephemeral(service, port)
    }
}

/// Registers over plain HTTP (no heartbeats follow); answers the instance id.
fn raw_register(server: u16, instance: &NewInstance) -> String {
    let data = ok(
        server,
        "POST",
        "/api/v1/instances",
        Some(serde_json::to_value(instance).unwrap()),
    );
    data["instanceId"].as_str().unwrap().to_owned()
}

fn raw_delete(server: u16, id: &str) {
    ok(server, "DELETE", &format!("/api/v1/instances/{id}"), None);
}

/// The ids a plain discovery read answers now (`query` adds filters such as `&health=all`).
fn raw_ids(server: u16, service: &str, query: &str) -> Vec<String> {
    let data = ok(
        server,
        "GET",
        &format!("/api/v1/services/{service}/instances?groupName=DEFAULT_GROUP{query}"),
        None,
    );
    let discovery: Discovery = serde_json::from_value(data).unwrap();
    ids(&discovery)
}

fn ids(discovery: &Discovery) -> Vec<String> {
    discovery
        .instances
        .iter()
        .map(|v| v.instance.instance_id.clone())
        .collect()
}

fn cached(handle: &ServiceHandle) -> Vec<String> {
    ids(&handle.current())
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    eventually_async(what, PATIENCE, || {
        let done = check();
        async move { done.then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_an_instance_alive_and_the_cache_follows_changes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), free_port());
    let port = server.port;
    let client = RegistryClient::new(config(vec![server.url()], None)).unwrap();

    let registration = client.register(ephemeral("orders", 9001)).await.unwrap();
    let a = registration.instance_id();
    assert_eq!(
        registration.heartbeat_interval(),
        Some(Duration::from_secs(1))
    );
    assert_eq!(registration.status(), InstanceStatus::Up);
    let orders = client.discover("orders", None).await.unwrap();
    assert_eq!(cached(&orders), vec![a.clone()]);
    assert!(!orders.from_snapshot());
    // Discovering again shares the same cache.
    let again = client.discover("orders", None).await.unwrap();
    assert_eq!(again.revision(), orders.revision());
    let updates = orders.watch();

    // A second instance that never heartbeats: the watch brings it in, and later takes it out
    // again once it is removed (after 5s). The client's instance, registered first, is still
    // there then: its heartbeats kept it alive past its own deleteTimeout (3s).
    let mut silent = ephemeral("orders", 9002);
    silent.health_check = Some(HealthCheck {
        unhealthy_timeout: Some(Duration::from_secs(4)),
        delete_timeout: Some(Duration::from_secs(5)),
        ..HealthCheck::of(CheckKind::Ttl)
    });
    let b = raw_register(port, &silent);
    until("the watch to bring in the second instance", || {
        cached(&orders).contains(&b)
    })
    .await;
    assert!(updates.has_changed().unwrap());
    until("the silent instance to be removed", || {
        !blocking(|| raw_ids(port, "orders", "&health=all")).contains(&b)
    })
    .await;
    until("the cache to drop the silent instance", || {
        cached(&orders) == vec![a.clone()]
    })
    .await;
    assert_eq!(raw_ids(port, "orders", ""), vec![a.clone()]);
    assert!(orders.current().instances[0].healthy);
    assert_eq!(registration.re_registrations(), 0);
    assert_eq!(
        orders.pick().unwrap().address(),
        "127.0.0.1:9001",
        "picks come from the cache"
    );

    // Deregistering removes it at once (no waiting for a timeout); the cache follows.
    registration.deregister().await.unwrap();
    assert!(raw_ids(port, "orders", "&health=all&status=all").is_empty());
    until("the cache to apply the confirmed empty list", || {
        orders.current().instances.is_empty() && !orders.empty_held_back()
    })
    .await;
    assert!(orders.pick().is_none());
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_again_when_the_registry_forgets_the_instance() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Server::start(data.path(), port);
    let client = RegistryClient::new(config(vec![url(port)], None)).unwrap();
    let registration = client.register(ephemeral("orders", 9001)).await.unwrap();
    let id = registration.instance_id();
    let orders = client.discover("orders", None).await.unwrap();

    // Removed behind the client's back: the next heartbeat is answered 20404 and the client
    // registers the instance again, restoring the status it asked for.
    registration
        .set_status(InstanceStatus::OutOfService)
        .await
        .unwrap();
    raw_delete(port, &id);
    until("the client to register again", || {
        registration.re_registrations() >= 1
    })
    .await;
    until("the instance to be back, still out of service", || {
        blocking(|| raw_ids(port, "orders", "&status=OUT_OF_SERVICE")) == vec![id.clone()]
    })
    .await;
    assert!(raw_ids(port, "orders", "").is_empty());
    registration.set_status(InstanceStatus::Up).await.unwrap();
    assert_eq!(raw_ids(port, "orders", ""), vec![id.clone()]);

    // The server comes back with none of its data (a fresh data directory on the same port):
    // heartbeats are answered 20404 and the instance is registered on it; the watch follows.
    drop(server);
    let fresh = tempfile::tempdir().unwrap();
    let _server = Server::start(fresh.path(), port);
    let before = registration.re_registrations();
    until("the client to register on the fresh server", || {
        registration.re_registrations() > before
    })
    .await;
    assert_eq!(raw_ids(port, "orders", ""), vec![id.clone()]);
    until("the watch to follow the fresh server", || {
        cached(&orders) == vec![id.clone()] && !orders.empty_held_back()
    })
    .await;
    client.close().await.unwrap();
    assert!(raw_ids(port, "orders", "&status=all&health=all").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_service_instances_leave_discovery_and_come_back() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), free_port());
    let port = server.port;
    let client = RegistryClient::new(config(vec![server.url()], None)).unwrap();
    let one = client.register(ephemeral("orders", 9001)).await.unwrap();
    let two = client.register(ephemeral("orders", 9002)).await.unwrap();
    let orders = client.discover("orders", None).await.unwrap();
    let mut both = vec![one.instance_id(), two.instance_id()];
    both.sort();
    assert_eq!(cached(&orders), both);

    one.set_status(InstanceStatus::OutOfService).await.unwrap();
    assert_eq!(one.status(), InstanceStatus::OutOfService);
    assert_eq!(raw_ids(port, "orders", ""), vec![two.instance_id()]);
    assert_eq!(
        raw_ids(port, "orders", "&status=OUT_OF_SERVICE"),
        vec![one.instance_id()]
    );
    until("the cache to drop the drained instance", || {
        cached(&orders) == vec![two.instance_id()]
    })
    .await;
    for _ in 0..10 {
        assert_eq!(
            orders.pick().unwrap().instance.instance_id,
            two.instance_id()
        );
    }

    one.set_status(InstanceStatus::Up).await.unwrap();
    until("the cache to take the instance back", || {
        cached(&orders) == both
    })
    .await;

    // A dropped registration is deregistered in the background; a persistent instance never
    // expires, so its disappearance is the DELETE's doing.
    let kept = client.register(persistent("orders", 9003)).await.unwrap();
    assert_eq!(kept.heartbeat_interval(), None);
    let kept_id = kept.instance_id();
    assert!(raw_ids(port, "orders", "").contains(&kept_id));
    drop(kept);
    until("the dropped registration to be deregistered", || {
        !blocking(|| raw_ids(port, "orders", "&status=all&health=all")).contains(&kept_id)
    })
    .await;

    // close() deregisters every live registration and refuses new work.
    client.close().await.unwrap();
    client.close().await.unwrap();
    assert!(raw_ids(port, "orders", "&status=all&health=all").is_empty());
    assert!(matches!(
        client.register(ephemeral("orders", 9004)).await,
        Err(Error::Closed)
    ));
    assert!(matches!(
        one.set_status(InstanceStatus::Down).await,
        Err(Error::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_past_a_dead_server() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), free_port());
    let port = server.port;
    let client = RegistryClient::new(config(vec![url(free_port()), server.url()], None)).unwrap();
    let registration = client.register(ephemeral("orders", 9001)).await.unwrap();
    let id = registration.instance_id();
    let orders = client.discover("orders", None).await.unwrap();
    assert_eq!(cached(&orders), vec![id.clone()]);
    registration.set_status(InstanceStatus::Down).await.unwrap();
    until("the cache to drop the instance that is down", || {
        cached(&orders).is_empty()
    })
    .await;
    assert_eq!(
        raw_ids(port, "orders", "&status=DOWN"),
        vec![id.clone()],
        "heartbeats went to the live server too"
    );
    registration.deregister().await.unwrap();
    assert!(raw_ids(port, "orders", "&status=all&health=all").is_empty());
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_from_the_snapshot_when_no_server_answers_and_catches_up_later() {
    let data = tempfile::tempdir().unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Server::start(data.path(), port);
    let id = raw_register(port, &persistent("orders", 9001));

    let first = RegistryClient::new(config(vec![url(port)], Some(snapshots.path()))).unwrap();
    let orders = first.discover("orders", None).await.unwrap();
    assert_eq!(cached(&orders), vec![id.clone()]);
    let file = snapshots.path().join("default/DEFAULT_GROUP/orders.json");
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        saved["discovery"]["instances"][0]["instanceId"],
        id.as_str()
    );
    let started_with = orders.current();
    drop(first);
    drop(server); // kill -9

    let client = RegistryClient::new(config(vec![url(port)], Some(snapshots.path()))).unwrap();
    let orders = client.discover("orders", None).await.unwrap();
    assert!(orders.from_snapshot());
    assert_eq!(orders.current(), started_with);
    assert_eq!(orders.pick().unwrap().address(), "127.0.0.1:9001");

    // Without a snapshot there is nothing to start from, and the error says why.
    let bare = RegistryClient::new(config(vec![url(port)], None)).unwrap();
    let err = bare.discover("orders", None).await.unwrap_err();
    assert!(
        matches!(&err, Error::NoSource(m) if m.contains("snapshot_dir is not set")),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let err = RegistryClient::new(config(vec![url(port)], Some(empty.path())))
        .unwrap()
        .discover("orders", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no snapshot"), "{err}");

    // Once the server is back, the watch replaces the snapshot's list with the server's.
    let server = Server::start(data.path(), port);
    let second = raw_register(server.port, &persistent("orders", 9002));
    until("the watch to catch up with the server", || {
        !orders.from_snapshot() && cached(&orders).contains(&second)
    })
    .await;
    assert!(cached(&orders).contains(&id));
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_back_an_empty_list_until_a_second_read_confirms_it() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), free_port());
    let port = server.port;
    let client = RegistryClient::new(ClientConfig {
        // Wide enough that the test sees the list held back.
        empty_confirm_delay: Duration::from_secs(3),
        ..config(vec![server.url()], None)
    })
    .unwrap();
    let only = persistent("orders", 9001);
    let id = raw_register(port, &only);
    let orders = client.discover("orders", None).await.unwrap();
    assert_eq!(cached(&orders), vec![id.clone()]);
    let mut updates = orders.watch();

    // The only instance goes away and comes back before the confirmation read: the empty
    // list is never applied.
    raw_delete(port, &id);
    until("the empty list to be held back", || {
        orders.empty_held_back()
    })
    .await;
    assert_eq!(
        cached(&orders),
        vec![id.clone()],
        "the old list is still served"
    );
    raw_register(port, &only);
    until("the confirmation read to apply the list it got", || {
        !orders.empty_held_back()
    })
    .await;
    assert_eq!(cached(&orders), vec![id.clone()]);
    while updates.has_changed().unwrap() {
        let seen = Arc::clone(&updates.borrow_and_update());
        assert!(!seen.instances.is_empty(), "an empty list was applied");
    }

    // Gone for good: the confirmation read is empty too, and the empty list is applied.
    raw_delete(port, &id);
    until("the empty list to be held back again", || {
        orders.empty_held_back()
    })
    .await;
    assert_eq!(cached(&orders), vec![id.clone()]);
    until("the confirmed empty list to be applied", || {
        cached(&orders).is_empty()
    })
    .await;
    assert!(!orders.empty_held_back());
    assert!(orders.pick().is_none());
    client.close().await.unwrap();
}
