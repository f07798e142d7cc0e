//! A node built with `ConfigCenter::start`: each release is published to the release topic
//! (here on keel-mq's in-process broker) and announced through coord.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use keel_clog::{Context, Env};
use keel_config_center::{ConfigCenter, ConfigStore, Dependencies, RELEASE_TOPIC, ReleaseEvent};
use keel_mq::{ConsumerOptions, handler_fn};
use serde_json::json;
use tokio::sync::mpsc;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_release_is_published_as_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::new();
    let url = format!("sqlite://{}", dir.path().join("cc.db").display());
    let db = keel_db::new(
        &ctx,
        keel_db::Config::for_env(Env::Development).with_url(url),
        keel_db::Options::default(),
    )
    .await
    .unwrap();
    let dev = Env::Development;
    let deps = Dependencies {
        store: ConfigStore::open(&ctx, db).await.unwrap(),
        once: keel_once::new(
            &ctx,
            keel_once::Config::for_env(dev),
            keel_once::Options::default(),
        )
        .await
        .unwrap(),
        coord: keel_coord::new(
            &ctx,
            keel_coord::Config::for_env(dev),
            keel_coord::Options::default(),
        )
        .await
        .unwrap(),
        events: Some(
            keel_mq::new(
                &ctx,
                keel_mq::Config::for_env(dev),
                keel_mq::Options::default(),
            )
            .await
            .unwrap(),
        ),
    };
    let mq = Arc::clone(deps.events.as_ref().unwrap());
    let center = ConfigCenter::start(&ctx, deps).await.unwrap();
    let router = keel_config_center::router(center);

    mq.create_topic(&ctx, &format!("{RELEASE_TOPIC}.dlq"), 1)
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = handler_fn(move |_ctx, received| {
        let tx = tx.clone();
        async move {
            let event: ReleaseEvent = serde_json::from_slice(&received.payload).unwrap();
            tx.send(event).unwrap();
            Ok(())
        }
    });
    let _subscription = mq
        .subscribe(
            &ctx,
            "test",
            &[RELEASE_TOPIC],
            Arc::new(handler),
            ConsumerOptions::default(),
        )
        .await
        .unwrap();

    let post = |path: &str, body: serde_json::Value| {
        Request::post(path.to_owned())
            .header("content-type", "application/json")
            .header("x-keel-user", "alice")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    router
        .clone()
        .oneshot(post("/api/v1/envs/dev/apps", json!({"name": "shop"})))
        .await
        .unwrap();
    let ns = "/api/v1/envs/dev/apps/shop/clusters/default/namespaces/application";
    let response = router
        .clone()
        .oneshot(post(&format!("{ns}/releases"), json!({"name": "v1"})))
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let release: serde_json::Value = serde_json::from_slice(&body).unwrap();

    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event.release_key,
        release["data"]["release_key"].as_str().unwrap()
    );
    assert_eq!(event.namespace.app, "shop");
    assert_eq!(event.name, "v1");
    assert_eq!(event.created_by, "alice");
}
