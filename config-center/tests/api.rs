//! The HTTP API end to end through the axum Router (on a SQLite file): every endpoint's happy
//! path, its 4xx answers, idempotent releases, rollback, incremental reads, cluster fallback
//! and multi-namespace long polls.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use keel_clog::{Context, Env};
use keel_config_center::{ConfigCenter, ConfigStore};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Api {
    router: Router,
    center: Arc<ConfigCenter>,
    _dir: tempfile::TempDir,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cc.db").display());
    let ctx = Context::new();
    let db = keel_db::new(
        &ctx,
        keel_db::Config::for_env(Env::Development).with_url(url),
        keel_db::Options::default(),
    )
    .await
    .unwrap();
    let store = ConfigStore::open(&ctx, db).await.unwrap();
    let once = keel_once::new(
        &ctx,
        keel_once::Config::for_env(Env::Development),
        keel_once::Options::default(),
    )
    .await
    .unwrap();
    let center = Arc::new(ConfigCenter::new(store, once));
    Api {
        router: keel_config_center::router(Arc::clone(&center)),
        center,
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
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body, &[]).await;
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        assert_eq!(value["code"], 0);
        assert_eq!(value["message"], "success");
        value["data"].clone()
    }

    async fn refused(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
        says: &str,
    ) {
        let (got, value) = self.call(method, path, body, &[]).await;
        assert_eq!(got, status, "{method} {path}: {value}");
        assert_eq!(value["code"], status.as_u16());
        let message = value["message"].as_str().unwrap();
        assert!(
            message.contains(says),
            "{method} {path}: {message:?} should say {says:?}"
        );
    }
}

const APPS: &str = "/api/v1/envs/dev/apps";
const NS: &str = "/api/v1/envs/dev/apps/shop/clusters/default/namespaces/application";

#[tokio::test]
async fn apps_clusters_and_namespaces() {
    let api = api().await;
    let app = api
        .ok(
            "POST",
            APPS,
            Some(json!({"name": "shop", "description": "d", "owner": "team"})),
        )
        .await;
    assert_eq!(app["owner"], "team");
    api.refused(
        "POST",
        APPS,
        Some(json!({"name": "shop"})),
        StatusCode::CONFLICT,
        "shop",
    )
    .await;
    // Creating an app creates cluster `default` and namespace `application`.
    let clusters = api.ok("GET", &format!("{APPS}/shop/clusters"), None).await;
    assert_eq!(clusters[0]["name"], "default");
    api.ok("GET", NS, None).await;

    for i in 0..5 {
        api.ok("POST", APPS, Some(json!({"name": format!("app-{i}")})))
            .await;
    }
    let page = api.ok("GET", &format!("{APPS}?page=2&size=2"), None).await;
    assert_eq!(page["total"], 6);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    api.refused(
        "GET",
        &format!("{APPS}?size=0"),
        None,
        StatusCode::BAD_REQUEST,
        "size",
    )
    .await;
    api.refused(
        "GET",
        &format!("{APPS}?page=x"),
        None,
        StatusCode::BAD_REQUEST,
        "invalid query",
    )
    .await;

    let updated = api
        .ok(
            "PUT",
            &format!("{APPS}/shop"),
            Some(json!({"owner": "team-b"})),
        )
        .await;
    assert_eq!(
        (updated["owner"].as_str(), updated["description"].as_str()),
        (Some("team-b"), Some("d"))
    );

    api.ok(
        "POST",
        &format!("{APPS}/shop/clusters"),
        Some(json!({"name": "bj"})),
    )
    .await;
    let ns = api
        .ok(
            "POST",
            &format!("{APPS}/shop/clusters/bj/namespaces"),
            Some(json!({"name": "gateway", "format": "json"})),
        )
        .await;
    assert_eq!(ns["format"], "json");
    api.refused(
        "POST",
        &format!("{APPS}/shop/clusters/bj/namespaces"),
        Some(json!({"name": "x", "format": "ini"})),
        StatusCode::BAD_REQUEST,
        "ini",
    )
    .await;
    api.refused(
        "POST",
        &format!("{APPS}/shop/clusters/nope/namespaces"),
        Some(json!({"name": "x"})),
        StatusCode::NOT_FOUND,
        "nope",
    )
    .await;
    api.refused(
        "DELETE",
        &format!("{APPS}/shop/clusters/default"),
        None,
        StatusCode::BAD_REQUEST,
        "default",
    )
    .await;
    api.ok("DELETE", &format!("{APPS}/shop/clusters/bj"), None)
        .await;
    api.refused(
        "GET",
        &format!("{APPS}/shop/clusters/bj"),
        None,
        StatusCode::NOT_FOUND,
        "bj",
    )
    .await;

    api.ok("DELETE", &format!("{APPS}/app-0"), None).await;
    api.refused(
        "GET",
        &format!("{APPS}/app-0"),
        None,
        StatusCode::NOT_FOUND,
        "app-0",
    )
    .await;
}

#[tokio::test]
async fn bad_requests_say_what_to_fix() {
    let api = api().await;
    api.refused(
        "POST",
        APPS,
        Some(json!({"name": "a b"})),
        StatusCode::BAD_REQUEST,
        "app name",
    )
    .await;
    api.refused(
        "POST",
        APPS,
        Some(json!({"nam": "x"})),
        StatusCode::BAD_REQUEST,
        "invalid JSON body",
    )
    .await;
    let (status, value) = api
        .call("POST", APPS, None, &[("content-type", "text/plain")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    api.refused(
        "GET",
        "/api/v1/envs/dev/apps/x%2Fy",
        None,
        StatusCode::BAD_REQUEST,
        "app name",
    )
    .await;
    api.refused(
        "GET",
        "/api/v1/nothing",
        None,
        StatusCode::NOT_FOUND,
        "no such endpoint",
    )
    .await;
    api.refused(
        "GET",
        &format!("{NS}/configs"),
        None,
        StatusCode::NOT_FOUND,
        "shop",
    )
    .await;
}

#[tokio::test]
async fn items_versions_and_formats() {
    let api = api().await;
    api.ok("POST", APPS, Some(json!({"name": "shop"}))).await;
    let item = api
        .ok(
            "POST",
            &format!("{NS}/items"),
            Some(json!({"key": "a", "value": "1"})),
        )
        .await;
    assert_eq!(item["version"], 1);
    let item = api
        .ok(
            "POST",
            &format!("{NS}/items"),
            Some(json!({"key": "a", "value": "2", "version": 1})),
        )
        .await;
    assert_eq!(item["version"], 2);
    api.refused(
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "a", "value": "3", "version": 1})),
        StatusCode::CONFLICT,
        "version",
    )
    .await;
    api.refused(
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "bad key", "value": "3"})),
        StatusCode::BAD_REQUEST,
        "whitespace",
    )
    .await;
    assert_eq!(
        api.ok("GET", &format!("{NS}/items/a"), None).await["value"],
        "2"
    );
    api.ok("DELETE", &format!("{NS}/items/a"), None).await;
    api.refused(
        "GET",
        &format!("{NS}/items/a"),
        None,
        StatusCode::NOT_FOUND,
        "a",
    )
    .await;

    let json_ns = "/api/v1/envs/dev/apps/shop/clusters/default/namespaces/gw";
    api.ok(
        "POST",
        "/api/v1/envs/dev/apps/shop/clusters/default/namespaces",
        Some(json!({"name": "gw", "format": "json"})),
    )
    .await;
    api.refused(
        "POST",
        &format!("{json_ns}/items"),
        Some(json!({"key": "content", "value": "{\"a\": [1,}"})),
        StatusCode::BAD_REQUEST,
        "line 1 column",
    )
    .await;
    api.refused(
        "POST",
        &format!("{json_ns}/items"),
        Some(json!({"key": "other", "value": "{}"})),
        StatusCode::BAD_REQUEST,
        "content",
    )
    .await;
    api.ok(
        "POST",
        &format!("{json_ns}/items"),
        Some(json!({"key": "content", "value": "{\"a\": 1}"})),
    )
    .await;
}

#[tokio::test]
async fn releases_are_idempotent_incremental_and_roll_back() {
    let api = api().await;
    api.ok("POST", APPS, Some(json!({"name": "shop"}))).await;
    api.ok(
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "a", "value": "1"})),
    )
    .await;
    api.ok(
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "b", "value": "2"})),
    )
    .await;
    let (status, first) = api
        .call(
            "POST",
            &format!("{NS}/releases"),
            Some(json!({"name": "v1"})),
            &[("idempotency-key", "deploy-1")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, again) = api
        .call(
            "POST",
            &format!("{NS}/releases"),
            Some(json!({"name": "v1"})),
            &[("idempotency-key", "deploy-1")],
        )
        .await;
    let k1 = first["data"]["release_key"].as_str().unwrap().to_owned();
    assert_eq!(
        again["data"]["release_key"],
        k1.as_str(),
        "same Idempotency-Key, same release"
    );
    assert_eq!(
        api.ok("GET", &format!("{NS}/releases"), None).await["total"],
        1
    );

    api.ok(
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "b", "value": "20"})),
    )
    .await;
    api.ok(
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "c", "value": "3"})),
    )
    .await;
    api.ok("DELETE", &format!("{NS}/items/a"), None).await;
    let k2 = api
        .ok(
            "POST",
            &format!("{NS}/releases"),
            Some(json!({"name": "v2"})),
        )
        .await["release_key"]
        .as_str()
        .unwrap()
        .to_owned();

    let full = api.ok("GET", &format!("{NS}/configs"), None).await;
    assert_eq!(full["configs"], json!({"b": "20", "c": "3"}));
    let (status, _) = api
        .call("GET", &format!("{NS}/configs?releaseKey={k2}"), None, &[])
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let changes = api
        .ok(
            "GET",
            &format!("{NS}/configs?releaseKey={k1}&incremental=true"),
            None,
        )
        .await;
    assert_eq!(changes["added"], json!({"c": "3"}));
    assert_eq!(changes["updated"], json!({"b": "20"}));
    assert_eq!(changes["deleted"], json!(["a"]));

    let back = api
        .ok("POST", &format!("{NS}/releases/{k1}/rollback"), None)
        .await;
    assert_eq!(back["rolled_back_from"], k1.as_str());
    assert_eq!(
        api.ok("GET", &format!("{NS}/configs"), None).await["configs"],
        json!({"a": "1", "b": "2"})
    );
    api.refused(
        "POST",
        &format!("{NS}/releases/nope/rollback"),
        None,
        StatusCode::NOT_FOUND,
        "nope",
    )
    .await;

    let history = api.ok("GET", &format!("{NS}/history"), None).await;
    let actions: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"release.rollback") && actions.contains(&"item.delete"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn clusters_without_the_namespace_fall_back_to_default() {
    let api = api().await;
    api.ok("POST", APPS, Some(json!({"name": "shop"}))).await;
    api.ok(
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "a", "value": "1"})),
    )
    .await;
    api.ok("POST", &format!("{NS}/releases"), Some(json!({})))
        .await;
    api.ok(
        "POST",
        &format!("{APPS}/shop/clusters"),
        Some(json!({"name": "bj"})),
    )
    .await;
    let read = api
        .ok(
            "GET",
            "/api/v1/envs/dev/apps/shop/clusters/bj/namespaces/application/configs",
            None,
        )
        .await;
    assert_eq!(read["namespace"]["cluster"], "default");
    assert_eq!(read["configs"]["a"], "1");
}

#[tokio::test]
async fn one_long_poll_watches_many_namespaces() {
    let api = api().await;
    api.ok("POST", APPS, Some(json!({"name": "shop"}))).await;
    api.ok(
        "POST",
        "/api/v1/envs/dev/apps/shop/clusters/default/namespaces",
        Some(json!({"name": "db"})),
    )
    .await;
    let k_app = api
        .ok("POST", &format!("{NS}/releases"), Some(json!({})))
        .await["release_key"]
        .clone();
    let db_ns = "/api/v1/envs/dev/apps/shop/clusters/default/namespaces/db";
    let k_db = api
        .ok("POST", &format!("{db_ns}/releases"), Some(json!({})))
        .await["release_key"]
        .clone();
    let watch = |app_key: &Value, db_key: &Value| {
        json!([
            {"env": "dev", "app": "shop", "cluster": "default", "namespace": "application", "releaseKey": app_key},
            {"env": "dev", "app": "shop", "cluster": "default", "namespace": "db", "releaseKey": db_key},
        ])
    };
    // Behind on one namespace: answered at once with it.
    let behind = api
        .ok(
            "POST",
            "/api/v1/notifications?timeout=5s",
            Some(watch(&json!("old"), &k_db)),
        )
        .await;
    assert_eq!(behind.as_array().unwrap().len(), 1);
    assert_eq!(behind[0]["namespace"], "application");
    // Up to date: nothing until the timeout (304).
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/notifications?timeout=200ms",
            Some(watch(&k_app, &k_db)),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    // A release on `db` wakes the parked poll.
    let parked = {
        let router = api.router.clone();
        let body = watch(&k_app, &k_db).to_string();
        tokio::spawn(async move {
            let request = Request::post("/api/v1/notifications?timeout=30s")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        })
    };
    let center = Arc::clone(&api.center);
    keel_testkit::eventually_async(
        "the poll to park on both namespaces",
        Duration::from_secs(10),
        || {
            let center = Arc::clone(&center);
            async move { (center.notifier().waiting() == 2).then_some(()) }
        },
    )
    .await;
    let k_db2 = api
        .ok("POST", &format!("{db_ns}/releases"), Some(json!({})))
        .await["release_key"]
        .clone();
    let woke = tokio::time::timeout(Duration::from_secs(10), parked)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(woke["data"][0]["namespace"], "db");
    assert_eq!(woke["data"][0]["release_key"], k_db2);
    api.refused(
        "POST",
        "/api/v1/notifications",
        Some(json!([])),
        StatusCode::BAD_REQUEST,
        "1 to",
    )
    .await;
    api.refused(
        "POST",
        "/api/v1/notifications?timeout=10m",
        Some(watch(&k_app, &k_db)),
        StatusCode::BAD_REQUEST,
        "timeout",
    )
    .await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let api = api().await;
    let (status, doc) = api.call("GET", "/api/v1/openapi.json", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    let ns = "/api/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{namespace}";
    for (path, method) in [
        ("/api/v1/envs/{env}/apps", "post"),
        (&format!("{ns}/items") as &str, "post"),
        (&format!("{ns}/releases"), "post"),
        (&format!("{ns}/releases/{{release_key}}/rollback"), "post"),
        (&format!("{ns}/configs"), "get"),
        ("/api/v1/notifications", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert_eq!(paths.len(), 18, "{:?}", paths.keys().collect::<Vec<_>>());
    assert!(doc["components"]["schemas"]["Release"].is_object());
}

#[tokio::test]
async fn gray_releases_serve_matching_clients_until_merged_or_abandoned() {
    let api = api().await;
    api.ok("POST", APPS, Some(json!({"name": "shop"}))).await;
    api.ok(
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "a", "value": "1"})),
    )
    .await;
    let main = api
        .ok(
            "POST",
            &format!("{NS}/releases"),
            Some(json!({"name": "v1"})),
        )
        .await["release_key"]
        .as_str()
        .unwrap()
        .to_owned();
    api.ok(
        "POST",
        &format!("{NS}/items"),
        Some(json!({"key": "a", "value": "2"})),
    )
    .await;
    api.refused(
        "POST",
        &format!("{NS}/releases"),
        Some(json!({"gray": {}})),
        StatusCode::BAD_REQUEST,
        "needs rules",
    )
    .await;
    api.refused(
        "POST",
        &format!("{NS}/releases"),
        Some(json!({"gray": {"ips": ["10.0.0.0/99"]}})),
        StatusCode::BAD_REQUEST,
        "CIDR",
    )
    .await;
    let gray = api
        .ok(
            "POST",
            &format!("{NS}/releases"),
            Some(
                json!({"name": "v2-canary", "gray": {"ips": ["10.0.0.0/8"], "labels": ["canary"]}}),
            ),
        )
        .await;
    let gray_key = gray["release"]["release_key"].as_str().unwrap().to_owned();
    assert_eq!(
        api.ok("GET", &format!("{NS}/gray"), None).await["release"]["release_key"],
        gray_key.as_str()
    );

    // Matching clients (by IP range or label) get the gray release, the others the main one.
    let value = |q: &'static str| {
        let path = format!("{NS}/configs{q}");
        let api = &api;
        async move { api.ok("GET", &path, None).await["configs"]["a"].clone() }
    };
    assert_eq!(value("?ip=10.9.8.7").await, "2");
    assert_eq!(value("?label=zone-a,canary").await, "2");
    assert_eq!(value("?ip=192.168.0.1").await, "1");
    assert_eq!(value("").await, "1");
    let changes = api
        .ok(
            "GET",
            &format!("{NS}/configs?label=canary&releaseKey={main}&incremental=true"),
            None,
        )
        .await;
    assert_eq!(changes["updated"], json!({"a": "2"}));

    // A canary holding the main release is told at once; a stable client is not.
    let told = api
        .ok(
            "GET",
            &format!("{NS}/notifications?label=canary&releaseKey={main}&timeout=5s"),
            None,
        )
        .await;
    assert_eq!(told[0]["release_key"], gray_key.as_str());
    let (status, _) = api
        .call(
            "GET",
            &format!("{NS}/notifications?releaseKey={main}&timeout=200ms"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    // Abandoning sends the canaries back to the main release.
    api.refused(
        "POST",
        &format!("{NS}/releases/{main}/abandon"),
        None,
        StatusCode::NOT_FOUND,
        "not the active gray",
    )
    .await;
    api.ok("POST", &format!("{NS}/releases/{gray_key}/abandon"), None)
        .await;
    assert_eq!(value("?label=canary").await, "1");
    api.refused(
        "GET",
        &format!("{NS}/gray"),
        None,
        StatusCode::NOT_FOUND,
        "no active gray",
    )
    .await;

    // Merging makes the gray configuration everyone's, as a new release.
    let gray2 = api
        .ok(
            "POST",
            &format!("{NS}/releases"),
            Some(json!({"gray": {"labels": ["canary"]}})),
        )
        .await["release"]["release_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let merged = api
        .ok("POST", &format!("{NS}/releases/{gray2}/merge"), None)
        .await;
    assert_ne!(merged["release_key"], gray2.as_str());
    assert_eq!(value("").await, "2");
    assert_eq!(value("?label=canary").await, "2");
    let history = api.ok("GET", &format!("{NS}/history?size=50"), None).await;
    let actions: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    for action in ["gray.create", "gray.abandon", "gray.merge"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
}
