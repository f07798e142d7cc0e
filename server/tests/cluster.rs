//! Two `keel serve` nodes in distributed mode on one database, one etcd and one Redis: a
//! release made on node A wakes a long poll parked on node B, a read on B returns it, an
//! Idempotency-Key holds across nodes, and the same holds for Nacos clients (a publish on A
//! answers a listener on B). Runs on PostgreSQL and on MariaDB.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Server, call, free_port, ok, start_with};
use keel_testkit::{Backend, Namespace, backend};
use serde_json::json;

fn node(dir: &Path, config: &Path) -> (Server, u16) {
    let port = free_port();
    (start_with(dir, port, Some(config)), port)
}

fn two_nodes_share_releases(database: Backend, test: &str) {
    let (Some(db), Some(etcd), Some(redis)) = (
        backend(database),
        backend(Backend::Etcd),
        backend(Backend::Redis),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keel.toml");
    let endpoints: Vec<String> = etcd.split(',').map(|e| format!("{e:?}")).collect();
    std::fs::write(
        &config,
        format!(
            "mode = \"distributed\"\ndatabase_url = \"{db}\"\netcd = [{}]\nredis_url = \"{redis}\"\n",
            endpoints.join(", ")
        ),
    )
    .unwrap();
    let (a, port_a) = node(&dir.path().join("a"), &config);
    let (b, port_b) = node(&dir.path().join("b"), &config);

    // A unique app per run: the database and etcd are shared with other tests.
    let app = Namespace::new(test).to_string();
    let ns = format!("/api/v1/envs/dev/apps/{app}/clusters/default/namespaces/application");
    ok(
        port_a,
        "POST",
        "/api/v1/envs/dev/apps",
        Some(json!({"name": app})),
    );
    ok(
        port_a,
        "POST",
        &format!("{ns}/items"),
        Some(json!({"key": "k", "value": "1"})),
    );
    let first = ok(
        port_a,
        "POST",
        &format!("{ns}/releases"),
        Some(json!({"name": "v1"})),
    );
    let k1 = first["release_key"].as_str().unwrap().to_owned();
    // B reads what A released (from the shared database).
    let read = ok(port_b, "GET", &format!("{ns}/configs"), None);
    assert_eq!(read["release_key"], k1.as_str());

    // A long poll parked on B is woken by a release on A.
    let poll_path = format!("{ns}/notifications?releaseKey={k1}&timeout=30s");
    let poll = std::thread::spawn(move || call(port_b, "GET", &poll_path, None).unwrap());
    b.wait_parked(1.0);
    ok(
        port_a,
        "POST",
        &format!("{ns}/items"),
        Some(json!({"key": "k", "value": "2"})),
    );
    let second = ok(
        port_a,
        "POST",
        &format!("{ns}/releases"),
        Some(json!({"name": "v2"})),
    );
    let (status, woke) = poll.join().unwrap();
    assert_eq!(status, 200, "{woke}");
    assert_eq!(woke["data"][0]["release_key"], second["release_key"]);
    let read = ok(port_b, "GET", &format!("{ns}/configs"), None);
    assert_eq!(read["release_key"], second["release_key"]);
    assert_eq!(read["configs"]["k"], "2");

    // The same Idempotency-Key on two nodes makes one release (the key lives in Redis).
    let idem = |port| {
        let (status, body) = common::call_with(
            port,
            "POST",
            &format!("{ns}/releases"),
            Some(json!({"name": "v3"})),
            &[("Idempotency-Key", "deploy-3")],
        )
        .unwrap();
        assert_eq!(status, 201, "{body}");
        body["data"]["release_key"].clone()
    };
    assert_eq!(idem(port_a), idem(port_b));

    // Nacos clients too: a listener parked on B is answered by a Nacos publish on A, and B
    // then reads the new content.
    let cs = "/nacos/v1/cs/configs";
    let key = format!("dataId={app}.properties&group={app}");
    let publish = |content: &str| {
        let (status, body) = call(
            port_a,
            "POST",
            &format!("{cs}?{key}&type=properties&content={content}"),
            None,
        )
        .unwrap();
        assert_eq!((status, body), (200, json!(true)));
    };
    publish("a%3D1");
    let md5 = keel_config_center::document::md5_hex("a=1");
    let listen = format!("{cs}/listener?Listening-Configs={app}.properties%02{app}%02{md5}%02%01");
    let parked = std::thread::spawn(move || {
        common::call_with(
            port_b,
            "POST",
            &listen,
            None,
            &[("Long-Pulling-Timeout", "30000")],
        )
        .unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert!(!parked.is_finished(), "the listener should be held");
    publish("a%3D2");
    let (status, changed) = parked.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(changed, json!(format!("{app}.properties%02{app}%01\n")));
    let (status, read) = call(port_b, "GET", &format!("{cs}?{key}"), None).unwrap();
    assert_eq!((status, read), (200, json!("a=2")));

    b.kill();
    a.kill();
}

#[test]
fn two_nodes_on_postgres() {
    two_nodes_share_releases(Backend::Postgres, "cluster_pg");
}

#[test]
fn two_nodes_on_mariadb() {
    two_nodes_share_releases(Backend::Mysql, "cluster_maria");
}
