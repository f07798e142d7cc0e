//! A registry node with an event broker: registrations, changes and removals are published to
//! the change topic (here on keel-mq's in-process broker) by the node that leads the
//! publisher election.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use keel_clog::{Context, Env};
use keel_mq::{ConsumerOptions, handler_fn};
use keel_registry::{
    CHANGE_TOPIC, Dependencies, InstanceStatus, NewInstance, Registry, RegistryConfig,
    RegistryStore,
};
use serde_json::Value;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_published_as_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::new();
    let dev = Env::Development;
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let db = keel_db::new(
        &ctx,
        keel_db::Config::for_env(dev).with_url(url),
        keel_db::Options::default(),
    )
    .await
    .unwrap();
    let mq = keel_mq::new(
        &ctx,
        keel_mq::Config::for_env(dev),
        keel_mq::Options::default(),
    )
    .await
    .unwrap();
    let deps = Dependencies {
        store: RegistryStore::open(&ctx, db).await.unwrap(),
        coord: keel_coord::new(
            &ctx,
            keel_coord::Config::for_env(dev),
            keel_coord::Options::default(),
        )
        .await
        .unwrap(),
        events: Some(Arc::clone(&mq)),
    };
    let registry = Registry::start(&ctx, deps, RegistryConfig::default())
        .await
        .unwrap();

    mq.create_topic(&ctx, &format!("{CHANGE_TOPIC}.dlq"), 1)
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<(Option<String>, Value)>();
    let handler = handler_fn(move |_ctx, received| {
        let tx = tx.clone();
        async move {
            let event: Value = serde_json::from_slice(&received.payload).unwrap();
            let key = received
                .key
                .as_ref()
                .map(|k| String::from_utf8_lossy(k).into_owned());
            tx.send((key, event)).unwrap();
            Ok(())
        }
    });
    let _subscription = mq
        .subscribe(
            &ctx,
            "test",
            &[CHANGE_TOPIC],
            Arc::new(handler),
            ConsumerOptions::default(),
        )
        .await
        .unwrap();
    // The publisher wins its election in the background: register warm-up instances until an
    // event shows it is publishing; from then on every change must come through, in order.
    let mut port = 1;
    loop {
        registry
            .register(
                &ctx,
                "default",
                None,
                NewInstance::new("warm-up", "10.9.9.9", port),
            )
            .await
            .unwrap();
        port += 1;
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            break;
        }
        assert!(port < 100, "the publisher never started");
    }
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {}
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an event within 10 s")
            .unwrap()
    };
    let registered = registry
        .register(
            &ctx,
            "default",
            None,
            NewInstance::new("orders", "10.0.0.1", 80),
        )
        .await
        .unwrap();
    let (key, added) = next().await;
    assert_eq!(key.as_deref(), Some("default/DEFAULT_GROUP/orders"));
    assert_eq!(added["service"], "orders");
    assert_eq!(
        added["added"][0]["instanceId"],
        registered.instance_id.as_str()
    );

    registry
        .set_status(
            &ctx,
            "default",
            &registered.instance_id,
            InstanceStatus::Down,
        )
        .await
        .unwrap();
    let (_, modified) = next().await;
    assert_eq!(modified["modified"][0]["status"], "DOWN");
    assert!(modified["revision"].as_i64().unwrap() > added["revision"].as_i64().unwrap());

    registry
        .deregister(&ctx, "default", &registered.instance_id)
        .await
        .unwrap();
    let (_, removed) = next().await;
    assert_eq!(
        removed["removed"][0]["instanceId"],
        registered.instance_id.as_str()
    );
    registry.close().await;
}
