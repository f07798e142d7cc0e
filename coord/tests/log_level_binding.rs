//! The log level lives in coord: valid changes apply at run time, bad ones are refused.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use keel_clog::{Context, Env, Telemetry};
use keel_coord::{Config, Options};
use keel_testkit::eventually_async;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_level_follows_coord_and_rejects_bad_values() {
    let (_dispatch, telemetry) =
        Telemetry::build(keel_clog::Config::for_env(Env::Production)).unwrap();
    let level = telemetry.level().clone();
    let coord = keel_coord::new(
        &Context::new(),
        Config::for_env(Env::Development),
        Options::default(),
    )
    .await
    .unwrap();
    let ctx = Context::new();
    let key = "/config/production/order/clog/level";
    coord
        .put(&ctx, key, br#""warn""#.to_vec(), None)
        .await
        .unwrap();
    let watch = keel_coord::bind_log_level(
        &ctx,
        std::sync::Arc::clone(&coord),
        Env::Production,
        "order",
        level.clone(),
    )
    .await
    .unwrap();
    assert_eq!(level.current(), "warn", "applied at start");

    coord
        .put(&ctx, key, br#""debug,keel_db=trace""#.to_vec(), None)
        .await
        .unwrap();
    eventually_async("the new level", Duration::from_secs(10), || async {
        (level.current() == "debug,keel_db=trace").then_some(())
    })
    .await;

    coord
        .put(&ctx, key, br#""loud""#.to_vec(), None)
        .await
        .unwrap();
    eventually_async("the rejection", Duration::from_secs(10), || async {
        watch.last_error()
    })
    .await;
    assert_eq!(
        level.current(),
        "debug,keel_db=trace",
        "a bad level never replaces a good one"
    );
    coord.close().await.unwrap();
}
