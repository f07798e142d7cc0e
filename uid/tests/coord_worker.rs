//! Worker ids from keel-coord: distinct per process, and no ids while the id's lease is lost.
#![cfg(feature = "coord")]

use std::sync::Arc;
use std::time::Duration;

use keel_clog::{Context, Env};
use keel_coord::{Options as CoordOptions, Provider as Coord, StandaloneStore};
use keel_uid::{Config, CoordWorker, Error, Options};

async fn coord(store: &StandaloneStore) -> Arc<dyn Coord> {
    let options = CoordOptions {
        standalone: Some(store.clone()),
        ..CoordOptions::default()
    };
    keel_coord::new(
        &Context::new(),
        keel_coord::Config::for_env(Env::Development),
        options,
    )
    .await
    .expect("standalone coord")
}

fn config(max_workers: u16) -> Config {
    let mut config = Config::for_env(Env::Production);
    config.coord_worker = Some(CoordWorker {
        service: "orders".into(),
        max_workers,
        lease_ttl: Duration::from_secs(2),
    });
    config
}

async fn ids(coord: &Arc<dyn Coord>, max_workers: u16) -> Arc<dyn keel_uid::Provider> {
    let options = Options {
        coord: Some(Arc::clone(coord)),
        ..Options::default()
    };
    keel_uid::new(&Context::new(), config(max_workers), options)
        .await
        .expect("uid provider")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_get_distinct_worker_ids_and_give_them_back() {
    let store = StandaloneStore::new(10_000);
    let coord = coord(&store).await;
    let a = ids(&coord, 1024).await;
    let b = ids(&coord, 1024).await;
    assert_eq!((a.worker_id(), b.worker_id()), (Some(0), Some(1)));
    assert_eq!(a.decompose(a.next_id().unwrap()).worker_id, 0);
    a.close().await.unwrap();
    assert_eq!(a.worker_id(), None);
    let c = ids(&coord, 1024).await;
    assert_eq!(
        c.worker_id(),
        Some(0),
        "a closed process's id is free again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_worker_id_stops_ids_until_a_valid_one_is_held() {
    let store = StandaloneStore::new(10_000);
    let coord = coord(&store).await;
    let ctx = Context::new();
    // Two ids exist: this process takes 0, another process holds 1.
    let ids = ids(&coord, 2).await;
    let _other = keel_coord::acquire_instance_id(
        Arc::clone(&coord),
        &ctx,
        "orders",
        2,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let before = ids.next_id().unwrap();

    // The lease behind id 0 vanishes (say, a partition longer than its TTL); a third process
    // takes id 0 before this one notices, so no id is free for it.
    let held = coord.list(&ctx, "/ids/orders/").await.unwrap();
    let zero = held
        .kvs
        .iter()
        .find(|kv| kv.key.ends_with("/0000000"))
        .unwrap();
    let lease: i64 = std::str::from_utf8(&zero.value).unwrap().parse().unwrap();
    coord.revoke_lease(&ctx, lease).await.unwrap();
    let thief = keel_coord::acquire_instance_id(
        Arc::clone(&coord),
        &ctx,
        "orders",
        2,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(thief.id(), 0);

    keel_testkit::eventually("ids to stop", Duration::from_secs(10), || {
        matches!(ids.next_id(), Err(Error::NoWorkerId)).then_some(())
    });
    assert_eq!(ids.worker_id(), None);
    // Still none while no id is free.
    std::thread::sleep(Duration::from_millis(300));
    assert!(matches!(ids.next_id(), Err(Error::NoWorkerId)));

    thief.release(&ctx).await.unwrap();
    let after = keel_testkit::eventually("ids to resume", Duration::from_secs(15), || {
        ids.next_id().ok()
    });
    assert_eq!(ids.worker_id(), Some(0));
    assert!(after > before, "ids keep increasing across the outage");
    ids.close().await.unwrap();
}

#[tokio::test]
async fn coord_worker_without_a_coord_is_refused() {
    let err = keel_uid::new(&Context::new(), config(4), Options::default())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("Options::coord"), "{err}");
}
