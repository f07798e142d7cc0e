//! The registry's HTTP API end to end through the axum Router, on a SQLite file and the
//! standalone coord: registration, heartbeats and expiry, discovery filters, the protect
//! threshold, long polls and the event stream, services and groups, tenants, access control,
//! active health checks, restarts, and the 4xx answers to bad input.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::StreamExt;
use keel_clog::{Context, Env};
use keel_registry::{CheckerConfig, Dependencies, Registry, RegistryConfig, RegistryStore};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Api {
    router: Router,
    registry: Arc<Registry>,
    db_url: String,
    _dir: Arc<tempfile::TempDir>,
}

fn fast_checks() -> RegistryConfig {
    RegistryConfig {
        checker: CheckerConfig {
            rise: 1,
            fall: 1,
            jitter: 0.0,
            ..CheckerConfig::default()
        },
        ..RegistryConfig::default()
    }
}

async fn api() -> Api {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    start(url, dir).await
}

/// A node on the database at `url` with a fresh in-process coord (what a standalone restart
/// looks like).
async fn start(url: String, dir: Arc<tempfile::TempDir>) -> Api {
    let ctx = Context::new();
    let db = keel_db::new(
        &ctx,
        keel_db::Config::for_env(Env::Development).with_url(url.clone()),
        keel_db::Options::default(),
    )
    .await
    .unwrap();
    let coord = keel_coord::new(
        &ctx,
        keel_coord::Config::for_env(Env::Development),
        keel_coord::Options::default(),
    )
    .await
    .unwrap();
    let store = RegistryStore::open(&ctx, db).await.unwrap();
    let deps = Dependencies {
        store,
        coord,
        events: None,
    };
    let registry = Registry::start(&ctx, deps, fast_checks()).await.unwrap();
    Api {
        router: keel_registry::router(Arc::clone(&registry)),
        registry,
        db_url: url,
        _dir: dir,
    }
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let response = self.raw(method, path, body, headers).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> axum::response::Response {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = match body {
            Some(b) => request
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.router.clone().oneshot(request).await.unwrap()
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body, &[]).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {value}");
        assert_eq!(value["code"], 0, "{value}");
        value["data"].clone()
    }

    async fn register(&self, body: Value) -> String {
        let data = self.ok("POST", "/api/v1/instances", Some(body)).await;
        data["instanceId"].as_str().unwrap().to_owned()
    }

    async fn instances(&self, query: &str) -> Value {
        self.ok(
            "GET",
            &format!("/api/v1/services/orders/instances{query}"),
            None,
        )
        .await
    }

    async fn hosts(&self, query: &str) -> Vec<String> {
        let mut hosts: Vec<String> = self.instances(query).await["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| format!("{}:{}", i["host"].as_str().unwrap(), i["port"]))
            .collect();
        hosts.sort();
        hosts
    }
}

fn instance(host: &str, port: u32) -> Value {
    json!({"serviceName": "orders", "host": host, "port": port})
}

/// Polls `check` until it holds or 10 s pass.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn registering_the_same_address_again_updates_instead_of_duplicating() {
    let api = api().await;
    let first = api.register(instance("10.0.0.1", 80)).await;
    let mut again = instance("10.0.0.1", 80);
    again["weight"] = json!(5);
    again["metadata"] = json!({"zone": "b"});
    let second = api.register(again).await;
    assert_eq!(first, second);
    let listed = api.instances("").await;
    let instances = listed["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{listed}");
    assert_eq!(instances[0]["weight"], 5.0);
    assert_eq!(instances[0]["metadata"]["zone"], "b");
    assert_eq!(instances[0]["healthStatus"], "HEALTHY");
    let one = api
        .ok("GET", &format!("/api/v1/instances/{first}"), None)
        .await;
    assert_eq!(one["host"], "10.0.0.1");
}

#[tokio::test]
async fn discovery_filters_by_status_health_tags_and_metadata() {
    let api = api().await;
    let mut a = instance("10.0.0.1", 80);
    a["tags"] = json!(["v1", "canary"]);
    a["metadata"] = json!({"zone": "a"});
    let mut b = instance("10.0.0.2", 80);
    b["tags"] = json!(["v1"]);
    b["metadata"] = json!({"zone": "b"});
    let a_id = api.register(a).await;
    api.register(b).await;
    assert_eq!(api.hosts("?tags=canary").await, ["10.0.0.1:80"]);
    assert_eq!(api.hosts("?tags=v1").await.len(), 2);
    assert_eq!(api.hosts("?metadata.zone=b").await, ["10.0.0.2:80"]);
    assert!(api.hosts("?metadata.zone=c").await.is_empty());

    // Graceful offline: out of discovery by default, still there with status=all.
    let body = json!({"status": "OUT_OF_SERVICE"});
    let view = api
        .ok(
            "PUT",
            &format!("/api/v1/instances/{a_id}/status"),
            Some(body),
        )
        .await;
    assert_eq!(view["status"], "OUT_OF_SERVICE");
    assert_eq!(api.hosts("").await, ["10.0.0.2:80"]);
    assert_eq!(api.hosts("?status=all").await.len(), 2);
    assert_eq!(api.hosts("?status=OUT_OF_SERVICE").await, ["10.0.0.1:80"]);
    let (status, body) = api
        .call(
            "GET",
            "/api/v1/services/orders/instances?status=GONE",
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("GONE"), "{body}");
}

#[tokio::test]
async fn missed_heartbeats_make_an_instance_unhealthy_then_remove_it() {
    let api = api().await;
    let mut body = instance("10.0.0.1", 80);
    body["healthCheck"] =
        json!({"type": "ttl", "interval": "1s", "unhealthyTimeout": "1s", "deleteTimeout": "3s"});
    let id = api.register(body).await;
    let beat = format!("/api/v1/instances/{id}/heartbeat");
    let answer = api.ok("PUT", &beat, None).await;
    assert_eq!(answer["heartbeatIntervalMillis"], 1000);

    eventually("the instance to turn unhealthy", || async {
        api.hosts("?health=unhealthy").await == ["10.0.0.1:80"]
    })
    .await;
    // Unhealthy instances are not offered by default.
    assert!(api.hosts("").await.is_empty());
    // A heartbeat brings it back to healthy.
    api.ok("PUT", &beat, None).await;
    assert_eq!(api.hosts("").await, ["10.0.0.1:80"]);

    eventually("the instance to be removed", || async {
        api.hosts("?health=all").await.is_empty()
    })
    .await;
    let (status, body) = api.call("PUT", &beat, None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], keel_registry::CODE_REGISTER_AGAIN, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("register"),
        "{body}"
    );
}

#[tokio::test]
async fn heartbeats_keep_an_instance_past_its_delete_timeout() {
    let api = api().await;
    let mut body = instance("10.0.0.1", 80);
    body["healthCheck"] = json!({"type": "ttl", "unhealthyTimeout": "1s", "deleteTimeout": "2s"});
    let id = api.register(body).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        api.ok("PUT", &format!("/api/v1/instances/{id}/heartbeat"), None)
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(api.hosts("").await, ["10.0.0.1:80"]);
}

#[tokio::test]
async fn bad_input_gets_a_4xx_that_names_the_problem() {
    let api = api().await;
    let cases = [
        (json!({"host": "h", "port": 1}), "serviceName"),
        (json!({"serviceName": "s", "port": 1}), "host"),
        (instance("h", 0), "port 0"),
        (instance("h", 70000), "port 70000"),
        (
            json!({"serviceName": "s", "host": "h", "port": 1, "weight": -1}),
            "weight",
        ),
        (
            json!({"serviceName": "s", "host": "h", "port": 1, "weight": 20000}),
            "weight",
        ),
        (
            json!({"serviceName": "a/b", "host": "h", "port": 1}),
            "serviceName",
        ),
        (
            json!({"serviceName": "s", "host": "bad host", "port": 1}),
            "host",
        ),
        (
            json!({"serviceName": "s", "host": "h", "port": 1, "colour": "red"}),
            "colour",
        ),
        (
            json!({"serviceName": "s", "host": "h", "port": 1, "metadata": {"k": "x".repeat(20_000)}}),
            "metadata",
        ),
        (
            json!({"serviceName": "s", "host": "h", "port": 1, "healthCheck": {"type": "ping"}}),
            "ping",
        ),
        (
            json!({"serviceName": "s", "host": "h", "port": 1, "healthCheck": {"type": "ttl", "interval": "soon"}}),
            "soon",
        ),
        (
            json!({"serviceName": "s", "host": "h", "port": 1, "ephemeral": false, "healthCheck": {"type": "ttl"}}),
            "ephemeral",
        ),
    ];
    for (body, needle) in cases {
        let (status, answer) = api
            .call("POST", "/api/v1/instances", Some(body.clone()), &[])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains(needle),
            "{body}: {message:?} lacks {needle:?}"
        );
    }
    let (status, answer) = api
        .call(
            "POST",
            "/api/v1/instances",
            Some(instance("h", 1)),
            &[("x-tenant-id", "a b")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, _) = api.call("GET", "/api/v1/instances/nope", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A batch is all or nothing, and names the bad entry.
    let batch = json!({"instances": [instance("10.0.0.1", 1), instance("10.0.0.2", 0)]});
    let (status, answer) = api
        .call("POST", "/api/v1/instances/batch", Some(batch), &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"].as_str().unwrap().contains("instances[1]"),
        "{answer}"
    );
    assert!(api.hosts("?health=all").await.is_empty());
}

#[tokio::test]
async fn a_batch_registers_every_instance() {
    let api = api().await;
    let batch = json!({"instances": (1..=20).map(|i| instance("10.0.0.1", i)).collect::<Vec<_>>()});
    let answers = api.ok("POST", "/api/v1/instances/batch", Some(batch)).await;
    assert_eq!(answers.as_array().unwrap().len(), 20);
    assert_eq!(api.hosts("").await.len(), 20);
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let api = api().await;
    let (status, answer) = api
        .call(
            "POST",
            "/api/v1/instances",
            Some(instance("10.0.0.1", 80)),
            &[("x-tenant-id", "blue")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let id = answer["data"]["instanceId"].as_str().unwrap().to_owned();
    assert!(
        api.hosts("?health=all").await.is_empty(),
        "the default tenant sees blue's"
    );
    let (_, blue) = api
        .call(
            "GET",
            "/api/v1/services/orders/instances",
            None,
            &[("x-tenant-id", "blue")],
        )
        .await;
    assert_eq!(blue["data"]["instances"].as_array().unwrap().len(), 1);
    for (method, path) in [
        ("GET", format!("/api/v1/instances/{id}")),
        ("DELETE", format!("/api/v1/instances/{id}")),
    ] {
        let (status, _) = api.call(method, &path, None, &[]).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {path} from another tenant"
        );
    }
    let (status, _) = api
        .call(
            "PUT",
            &format!("/api/v1/instances/{id}/heartbeat"),
            None,
            &[("x-tenant-id", "green")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let services = api.ok("GET", "/api/v1/services", None).await;
    assert_eq!(services["total"], 0, "{services}");
}

#[tokio::test]
async fn a_group_with_register_tokens_admits_only_their_holders() {
    let api = api().await;
    let group =
        json!({"name": "payments", "description": "money", "registerTokens": ["s3cret-token"]});
    let created = api.ok("POST", "/api/v1/groups", Some(group)).await;
    assert_eq!(created["registerTokenCount"], 1);
    assert!(
        created.get("registerTokens").is_none(),
        "tokens leaked: {created}"
    );
    let mut body = instance("10.0.0.1", 80);
    body["groupName"] = json!("payments");
    let (status, answer) = api
        .call("POST", "/api/v1/instances", Some(body.clone()), &[])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("Bearer"),
        "{answer}"
    );
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/instances",
            Some(body.clone()),
            &[("authorization", "Bearer wrong-token")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = api
        .call(
            "POST",
            "/api/v1/instances",
            Some(body),
            &[("authorization", "Bearer s3cret-token")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Other groups stay open.
    api.register(instance("10.0.0.2", 80)).await;
    let services = api
        .ok("GET", "/api/v1/groups/payments/services", None)
        .await;
    assert_eq!(services["items"][0]["service"], "orders");
    assert_eq!(services["items"][0]["instanceCount"], 1);
    let (status, _) = api
        .call("DELETE", "/api/v1/groups/payments", None, &[])
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a group with services must not go"
    );
}

#[tokio::test]
async fn services_are_managed_and_guarded() {
    let api = api().await;
    let body = json!({"serviceName": "orders", "protectThreshold": 0.5, "loadBalance": "weighted_random", "metadata": {"team": "x"}});
    let created = api.ok("POST", "/api/v1/services", Some(body.clone())).await;
    assert_eq!(created["protectThreshold"], 0.5);
    let (status, _) = api.call("POST", "/api/v1/services", Some(body), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let updated = api
        .ok(
            "PUT",
            "/api/v1/services/orders",
            Some(json!({"protectThreshold": 0.2})),
        )
        .await;
    assert_eq!(updated["protectThreshold"], 0.2);
    assert_eq!(updated["loadBalance"], "weighted_random");
    let (status, answer) = api
        .call(
            "PUT",
            "/api/v1/services/orders",
            Some(json!({"protectThreshold": 2})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let id = api.register(instance("10.0.0.1", 80)).await;
    assert_eq!(api.instances("").await["loadBalance"], "weighted_random");
    let (status, answer) = api
        .call("DELETE", "/api/v1/services/orders", None, &[])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    api.ok("DELETE", &format!("/api/v1/instances/{id}"), None)
        .await;
    api.ok("DELETE", "/api/v1/services/orders", None).await;
    let (status, _) = api.call("GET", "/api/v1/services/orders", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn below_the_protect_threshold_discovery_returns_every_instance() {
    let api = api().await;
    api.ok(
        "POST",
        "/api/v1/services",
        Some(json!({"serviceName": "orders", "protectThreshold": 0.6})),
    )
    .await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        let mut body = instance("10.0.0.1", i);
        body["ephemeral"] = json!(false);
        ids.push(api.register(body).await);
    }
    let unhealthy = json!({"healthStatus": "UNHEALTHY"});
    api.ok(
        "PUT",
        &format!("/api/v1/instances/{}/health", ids[0]),
        Some(unhealthy.clone()),
    )
    .await;
    // 2 of 3 healthy (0.67 ≥ 0.6): only the healthy ones.
    let answer = api.instances("").await;
    assert_eq!(answer["instances"].as_array().unwrap().len(), 2);
    assert_eq!(answer["protectThresholdTriggered"], false);
    api.ok(
        "PUT",
        &format!("/api/v1/instances/{}/health", ids[1]),
        Some(unhealthy),
    )
    .await;
    // 1 of 3 (0.33 < 0.6): everything, marked.
    let answer = api.instances("").await;
    assert_eq!(answer["protectThresholdTriggered"], true, "{answer}");
    let instances = answer["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 3);
    assert_eq!(
        instances.iter().filter(|i| i["healthy"] == false).count(),
        2
    );
}

#[tokio::test]
async fn a_long_poll_waits_for_its_own_service_only() {
    let api = Arc::new(api().await);
    api.register(instance("10.0.0.1", 80)).await;
    let revision = api.instances("").await["revision"].as_i64().unwrap();
    let (status, _) = api
        .call(
            "GET",
            &format!("/api/v1/services/orders/instances?revision={revision}&wait=200ms"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    // A stale revision answers at once.
    let (status, _) = api
        .call(
            "GET",
            "/api/v1/services/orders/instances?revision=1&wait=10s",
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let parked = {
        let api = Arc::clone(&api);
        tokio::spawn(async move {
            let path = format!("/api/v1/services/orders/instances?revision={revision}&wait=20s");
            let started = Instant::now();
            let answer = api.call("GET", &path, None, &[]).await;
            (answer, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Another service changing does not wake it.
    api.register(json!({"serviceName": "billing", "host": "10.0.0.9", "port": 1}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !parked.is_finished(),
        "a change to another service woke the watcher"
    );
    api.register(instance("10.0.0.2", 80)).await;
    let ((status, answer), _) = parked.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(answer["data"]["revision"].as_i64().unwrap() > revision);
    assert_eq!(answer["data"]["instances"].as_array().unwrap().len(), 2);
    let (status, answer) = api
        .call(
            "GET",
            "/api/v1/services/orders/instances?revision=1&wait=10m",
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
}

#[tokio::test]
async fn the_event_stream_sends_a_snapshot_then_changes() {
    let api = api().await;
    let first = api.register(instance("10.0.0.1", 80)).await;
    let response = api
        .raw("GET", "/api/v1/services/orders/events", None, &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let mut text = String::new();
    let mut next_event = async || -> (String, Value) {
        loop {
            if let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                let name = event
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap_or_default()
                    .to_owned();
                let data = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .map(|d| serde_json::from_str(d).unwrap())
                    .unwrap_or(Value::Null);
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                return (name, data);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
                .await
                .expect("no event within 10 s")
                .unwrap()
                .unwrap();
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    let (name, snapshot) = next_event().await;
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot["instances"].as_array().unwrap().len(), 1);
    let second = api.register(instance("10.0.0.2", 80)).await;
    let (name, change) = next_event().await;
    assert_eq!(name, "change");
    assert_eq!(change["added"][0]["instanceId"], second.as_str());
    assert!(change["revision"].as_i64().unwrap() > snapshot["revision"].as_i64().unwrap());
    api.ok("DELETE", &format!("/api/v1/instances/{first}"), None)
        .await;
    let (_, change) = next_event().await;
    assert_eq!(
        change["removed"][0]["instanceId"],
        first.as_str(),
        "{change}"
    );
}

#[tokio::test]
async fn active_checks_follow_real_servers() {
    let api = api().await;
    // A TCP listener that accepts, and a port nobody listens on.
    let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_port = open.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let _ = open.accept().await;
        }
    });
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for port in [open_port, closed_port] {
        let mut body = instance("127.0.0.1", u32::from(port));
        body["ephemeral"] = json!(false);
        body["healthCheck"] = json!({"type": "tcp", "interval": "500ms", "timeout": "300ms"});
        api.register(body).await;
    }
    // Two HTTP servers: one answers 200 at /ready, one 500.
    let http_ok = http_server("200 OK").await;
    let http_500 = http_server("500 Internal Server Error").await;
    for port in [http_ok, http_500] {
        let mut body = instance("127.0.0.1", u32::from(port));
        body["ephemeral"] = json!(false);
        body["healthCheck"] =
            json!({"type": "http", "path": "/ready", "interval": "500ms", "timeout": "300ms"});
        api.register(body).await;
    }
    let mut expected_down = vec![
        format!("127.0.0.1:{closed_port}"),
        format!("127.0.0.1:{http_500}"),
    ];
    expected_down.sort();
    eventually(
        "the closed port and the 500 to be found unhealthy",
        || async { api.hosts("?health=unhealthy").await == expected_down },
    )
    .await;
    let mut expected_up = vec![
        format!("127.0.0.1:{open_port}"),
        format!("127.0.0.1:{http_ok}"),
    ];
    expected_up.sort();
    assert_eq!(api.hosts("").await, expected_up);
    let stats = api.ok("GET", "/api/v1/stats", None).await;
    assert_eq!(stats["instances"], 4);
    assert_eq!(stats["unhealthy"], 2);
    assert_eq!(stats["byCheck"]["tcp"], 2);
    assert_eq!(stats["byCheck"]["http"], 2);
}

/// An HTTP server answering every request with `status` (e.g. `"200 OK"`); its port.
async fn http_server(status: &'static str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let answer =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn persistent_instances_and_settings_survive_a_restart() {
    let api = api().await;
    api.ok(
        "POST",
        "/api/v1/services",
        Some(json!({"serviceName": "orders", "protectThreshold": 0.3})),
    )
    .await;
    let mut body = instance("10.0.0.1", 80);
    body["ephemeral"] = json!(false);
    let id = api.register(body).await;
    api.ok(
        "PUT",
        &format!("/api/v1/instances/{id}/status"),
        Some(json!({"status": "DOWN"})),
    )
    .await;
    api.register(instance("10.0.0.2", 80)).await; // ephemeral: gone with the process
    let (url, dir) = (api.db_url.clone(), Arc::clone(&api._dir));
    api.registry.close().await;
    drop(api);

    let again = start(url, dir).await;
    let answer = again.instances("?status=all&health=all").await;
    let instances = answer["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{answer}");
    assert_eq!(instances[0]["instanceId"], id.as_str());
    assert_eq!(instances[0]["status"], "DOWN");
    let service = again.ok("GET", "/api/v1/services/orders", None).await;
    assert_eq!(service["protectThreshold"], 0.3);
}
