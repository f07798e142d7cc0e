//! The registry across two `keel serve` nodes in distributed mode (one PostgreSQL, one etcd,
//! one Redis): an instance registered on node A is discovered on node B; after `kill -9` of
//! node A its ephemeral instance still expires on schedule, because its leases live in etcd,
//! and a watcher parked on node B sees it go; active health checks are shared out so that each
//! instance is probed by exactly one node.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, call_with, free_port, start_with};
use keel_testkit::{Backend, Namespace, backend, eventually};
use serde_json::{Value, json};

fn node(dir: &Path, config: &Path) -> (Server, u16) {
    let port = free_port();
    (start_with(dir, port, Some(config)), port)
}

/// A request in `tenant`; the answer's `data`, asserting success.
fn ok_in(tenant: &str, port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = call_with(port, method, path, body, &[("X-Tenant-Id", tenant)]).unwrap();
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer["data"].clone()
}

fn hosts(tenant: &str, port: u16, query: &str) -> Vec<String> {
    let answer = ok_in(
        tenant,
        port,
        "GET",
        &format!("/api/v1/services/orders/instances{query}"),
        None,
    );
    answer["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{}:{}", i["host"].as_str().unwrap(), i["port"]))
        .collect()
}

/// The `keel_registry_health_targets` gauge of a node.
fn health_targets(port: u16) -> Option<f64> {
    let (_, metrics) = call_with(port, "GET", "/metrics", None, &[]).ok()?;
    metrics
        .as_str()?
        .lines()
        .find_map(|l| l.strip_prefix("keel_registry_health_targets "))
        .and_then(|n| n.trim().parse().ok())
}

#[test]
fn instances_outlive_the_node_that_registered_them_and_checks_are_shared() {
    let (Some(db), Some(etcd), Some(redis)) = (
        backend(Backend::Postgres),
        backend(Backend::Etcd),
        backend(Backend::Redis),
    ) else {
        return;
    };
    // A tenant and an etcd prefix of its own: etcd and the database are shared with other
    // tests, and another cluster's nodes would take a share of the health checks.
    let tenant = Namespace::new("registry_cluster").to_string();
    let tenant = tenant.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keel.toml");
    let endpoints: Vec<String> = etcd.split(',').map(|e| format!("{e:?}")).collect();
    std::fs::write(
        &config,
        format!(
            "mode = \"distributed\"\ndatabase_url = \"{db}\"\netcd = [{}]\netcd_prefix = \"/{tenant}\"\nredis_url = \"{redis}\"\n[registry]\ncheck_rise = 1\ncheck_fall = 1\n",
            endpoints.join(", ")
        ),
    )
    .unwrap();
    let (a, port_a) = node(&dir.path().join("a"), &config);
    let (b, port_b) = node(&dir.path().join("b"), &config);

    // Registered on A, discovered on B.
    let body = json!({
        "serviceName": "orders", "host": "10.1.0.1", "port": 8080,
        "healthCheck": {"type": "ttl", "interval": "1s", "unhealthyTimeout": "2s", "deleteTimeout": "4s"},
    });
    let id = ok_in(tenant, port_a, "POST", "/api/v1/instances", Some(body))["instanceId"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        "node B to see the instance",
        Duration::from_secs(10),
        || (hosts(tenant, port_b, "") == ["10.1.0.1:8080"]).then_some(()),
    );
    ok_in(
        tenant,
        port_b,
        "PUT",
        &format!("/api/v1/instances/{id}/heartbeat"),
        None,
    );
    let revision = ok_in(
        tenant,
        port_b,
        "GET",
        "/api/v1/services/orders/instances",
        None,
    )["revision"]
        .as_i64()
        .unwrap();

    // Active checks: four persistent tcp-checked instances, each probed by one node only.
    // (The shared database may hold other tests' persistent instances too: every checked
    // instance the cluster knows counts.)
    let mut checked = Vec::new();
    for _ in 0..4 {
        let body = json!({
            "serviceName": "checked", "host": "127.0.0.1", "port": free_port(),
            "ephemeral": false, "healthCheck": {"type": "tcp", "interval": "1s", "timeout": "200ms"},
        });
        let registered = ok_in(tenant, port_a, "POST", "/api/v1/instances", Some(body));
        checked.push(registered["instanceId"].as_str().unwrap().to_owned());
    }
    let all_checked = || -> Option<f64> {
        let stats = ok_in(tenant, port_b, "GET", "/api/v1/stats", None);
        stats["byCheck"]["tcp"].as_f64()
    };
    eventually(
        "the checks to be shared out",
        Duration::from_secs(15),
        || {
            let (ta, tb) = (health_targets(port_a)?, health_targets(port_b)?);
            let total = all_checked()?;
            (total >= 4.0 && ta + tb == total).then_some(())
        },
    );

    // A watcher parked on B, then A dies without a word.
    let watcher_tenant = tenant.to_owned();
    let watch = std::thread::spawn(move || {
        let path =
            format!("/api/v1/services/orders/instances?revision={revision}&wait=30s&health=all");
        let started = Instant::now();
        let answer = call_with(
            port_b,
            "GET",
            &path,
            None,
            &[("X-Tenant-Id", watcher_tenant.as_str())],
        );
        (answer.unwrap(), started.elapsed())
    });
    a.kill();
    let ((status, answer), waited) = watch.join().unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(
        waited < Duration::from_secs(10),
        "the watcher waited {waited:?}"
    );
    // Within the delete timeout of the last heartbeat it is gone, though its node is dead.
    eventually("the instance to expire", Duration::from_secs(10), || {
        hosts(tenant, port_b, "?health=all")
            .is_empty()
            .then_some(())
    });
    // B alone probes every checked instance now.
    eventually(
        "B to take over every check",
        Duration::from_secs(20),
        || (health_targets(port_b)? == all_checked()?).then_some(()),
    );
    // Persistent instances stay in the shared database: leave nothing behind.
    for id in checked {
        ok_in(
            tenant,
            port_b,
            "DELETE",
            &format!("/api/v1/instances/{id}"),
            None,
        );
    }
    b.kill();
}
