//! `keel serve` as users run it: a real process on a free port with its own data directory,
//! driven over HTTP. Covers the README walk-through, change push, `kill -9` durability and a
//! graceful SIGTERM that answers parked long polls.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{call, free_port, ok, start};
use serde_json::json;

const NS: &str = "/api/v1/envs/dev/apps/shop/clusters/default/namespaces/application";

#[test]
fn walk_through_change_push_and_kill_9_durability() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    ok(
        port,
        "POST",
        "/api/v1/envs/dev/apps",
        Some(json!({"name": "shop", "owner": "team-a"})),
    );
    ok(
        port,
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "db.pool", "value": "10"})),
    );
    ok(
        port,
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "feature.x", "value": "on"})),
    );
    let first = ok(
        port,
        "POST",
        &format!("{NS}/releases"),
        Some(json!({"name": "v1"})),
    );
    let key = first["release_key"].as_str().unwrap().to_owned();

    let read = ok(port, "GET", &format!("{NS}/configs"), None);
    assert_eq!(read["configs"]["db.pool"], "10");
    assert_eq!(read["release_key"], key.as_str());
    let (status, _) = call(port, "GET", &format!("{NS}/configs?releaseKey={key}"), None).unwrap();
    assert_eq!(status, 304);

    // A parked long poll is answered by the next release.
    let poll = std::thread::spawn(move || {
        call(
            port,
            "GET",
            &format!("{NS}/notifications?releaseKey={key}&timeout=30s"),
            None,
        )
        .unwrap()
    });
    server.wait_parked(1.0);
    ok(
        port,
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "db.pool", "value": "20"})),
    );
    let second = ok(
        port,
        "POST",
        &format!("{NS}/releases"),
        Some(json!({"name": "v2"})),
    );
    let (status, woke) = poll.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(woke["data"][0]["release_key"], second["release_key"]);
    let (_, metrics) = call(port, "GET", "/metrics", None).unwrap();
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("keel_config_releases_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains("keel_http_requests_total{method=\"POST\",route=\"/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}/releases\",status=\"201\"} 2"), "{metrics}");
    assert!(
        metrics.contains("keel_config_push_seconds_bucket"),
        "{metrics}"
    );

    // kill -9, restart on the same data: every acknowledged write is there.
    server.kill();
    let server = start(dir.path(), port);
    let read = ok(port, "GET", &format!("{NS}/configs"), None);
    assert_eq!(read["release_key"], second["release_key"]);
    assert_eq!(read["configs"]["db.pool"], "20");
    let releases = ok(port, "GET", &format!("{NS}/releases"), None);
    assert_eq!(releases["total"], 2);
    server.kill();
}

/// A release repeated with the same Idempotency-Key after a kill -9 and restart is the same
/// release: the key is stored with it, not only in keel-once's in-process memory.
#[test]
fn an_idempotency_key_outlives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    ok(
        port,
        "POST",
        "/api/v1/envs/dev/apps",
        Some(json!({"name": "shop"})),
    );
    ok(
        port,
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "k", "value": "1"})),
    );
    let release = |port| {
        let (status, body) = common::call_with(
            port,
            "POST",
            &format!("{NS}/releases"),
            Some(json!({"name": "deploy"})),
            &[("Idempotency-Key", "deploy-42")],
        )
        .unwrap();
        assert_eq!(status, 201, "{body}");
        body["data"]["release_key"].as_str().unwrap().to_owned()
    };
    let first = release(port);
    server.kill();
    let server = start(dir.path(), port);
    assert_eq!(release(port), first);
    let releases = ok(port, "GET", &format!("{NS}/releases"), None);
    assert_eq!(releases["total"], 1);
    server.kill();
}

#[test]
fn bad_input_gets_a_4xx_that_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    let (status, body) = call(
        port,
        "POST",
        "/api/v1/envs/dev/apps",
        Some(json!({"name": "bad name"})),
    )
    .unwrap();
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("app name"),
        "{body}"
    );
    let (status, body) = call(port, "GET", "/api/v1/envs/dev/apps/nope", None).unwrap();
    assert_eq!(status, 404);
    assert!(body["message"].as_str().unwrap().contains("nope"), "{body}");
    let (status, _) = call(port, "GET", "/no/such/endpoint", None).unwrap();
    assert_eq!(status, 404);
    server.kill();
}

#[test]
fn sigterm_answers_parked_long_polls_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    ok(
        port,
        "POST",
        "/api/v1/envs/dev/apps",
        Some(json!({"name": "shop"})),
    );
    let first = ok(
        port,
        "POST",
        &format!("{NS}/releases"),
        Some(json!({"name": "v1"})),
    );
    let key = first["release_key"].as_str().unwrap().to_owned();
    let poll = std::thread::spawn(move || {
        call(
            port,
            "GET",
            &format!("{NS}/notifications?releaseKey={key}&timeout=60s"),
            None,
        )
        .unwrap()
    });
    server.wait_parked(1.0);
    let started = Instant::now();
    // SIGTERM; a clean exit is required.
    server.terminate();
    let (status, _) = poll.join().unwrap();
    assert_eq!(
        status, 304,
        "a parked poll is answered 'no change' at shutdown"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "shutdown did not wait out the poll"
    );
}

/// The registry in `keel serve`: a registration and a heartbeat over HTTP show in discovery,
/// in the merged OpenAPI document and in `/metrics`.
#[test]
fn the_registry_is_served_documented_and_measured() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    let registered = ok(
        port,
        "POST",
        "/api/v1/instances",
        Some(json!({"serviceName": "orders", "host": "10.0.0.7", "port": 8080})),
    );
    let id = registered["instanceId"].as_str().unwrap();
    let beat = ok(
        port,
        "PUT",
        &format!("/api/v1/instances/{id}/heartbeat"),
        None,
    );
    assert_eq!(beat["heartbeatIntervalMillis"], 5000);
    let found = ok(port, "GET", "/api/v1/services/orders/instances", None);
    assert_eq!(found["instances"][0]["instanceId"], id);

    let (_, doc) = call(port, "GET", "/api/v1/openapi.json", None).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/instances",
        "/api/v1/services/{name}/instances",
        "/api/v1/envs/{env}/apps",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }

    let (_, metrics) = call(port, "GET", "/metrics", None).unwrap();
    let metrics = metrics.as_str().unwrap();
    for line in [
        "keel_registry_registrations_total 1",
        "keel_registry_heartbeats_total 1",
        "keel_registry_push_latency_seconds_bucket",
    ] {
        assert!(
            metrics.contains(line),
            "{line:?} missing from /metrics:\n{metrics}"
        );
    }
    server.kill();
}
