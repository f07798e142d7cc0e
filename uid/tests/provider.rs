//! The Provider contract: config defaults and validation, UUIDv7, close.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use keel_clog::{Context, Env};
use keel_uid::{Config, Error, ManualClock, Options};

#[test]
fn env_defaults_validate_and_differ_in_tolerance() {
    let dev = Config::for_env(Env::Development);
    let prod = Config::for_env(Env::Production);
    dev.validate().unwrap();
    prod.validate().unwrap();
    assert!(dev.max_clock_backward > prod.max_clock_backward);
}

#[test]
fn bad_config_is_refused_with_the_field_named() {
    let mut c = Config::for_env(Env::Production);
    c.worker_id = 2000;
    assert!(c.validate().unwrap_err().to_string().contains("worker_id"));
    let mut c = Config::for_env(Env::Production);
    c.epoch = SystemTime::now() + Duration::from_secs(3600);
    assert!(c.validate().unwrap_err().to_string().contains("future"));
    let mut c = Config::for_env(Env::Production);
    c.max_clock_backward = Duration::from_secs(60);
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("max_clock_backward")
    );
}

#[test]
fn config_reads_from_json() {
    let c: Config = serde_json::from_str(
        r#"{"epoch":"2024-01-01T00:00:00Z","worker_id":9,"max_clock_backward":"20ms"}"#,
    )
    .unwrap();
    assert_eq!(c.worker_id, 9);
    assert_eq!(c.epoch_unix_ms().unwrap(), keel_uid::DEFAULT_EPOCH_UNIX_MS);
    assert!(
        serde_json::from_str::<Config>(
            r#"{"epoch":"2024-01-01T00:00:00Z","worker_id":1,"max_clock_backward":"1ms","x":1}"#
        )
        .is_err()
    );
}

#[tokio::test]
async fn uuids_are_v7_unique_and_increasing_across_threads() {
    let ids = keel_uid::new(
        &Context::new(),
        Config::for_env(Env::Development),
        Options::default(),
    )
    .await
    .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let ids = Arc::clone(&ids);
            std::thread::spawn(move || {
                let v: Vec<_> = (0..20_000).map(|_| ids.next_uuid().unwrap()).collect();
                assert!(v.windows(2).all(|w| w[0] < w[1]));
                v
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in threads {
        for u in t.join().unwrap() {
            assert_eq!(u.get_version_num(), 7);
            assert!(seen.insert(u));
        }
    }
}

#[tokio::test]
async fn close_is_idempotent_and_stops_issuing() {
    let ids = keel_uid::new(
        &Context::new(),
        Config::for_env(Env::Development),
        Options::default(),
    )
    .await
    .unwrap();
    ids.next_id().unwrap();
    ids.close().await.unwrap();
    ids.close().await.unwrap();
    assert!(matches!(ids.next_id(), Err(Error::Closed)));
    assert!(matches!(ids.next_uuid(), Err(Error::Closed)));
}

#[tokio::test]
async fn injected_clock_reaches_the_provider() {
    let clock = ManualClock::new(keel_uid::DEFAULT_EPOCH_UNIX_MS + 42);
    let mut config = Config::for_env(Env::Production);
    config.worker_id = 12;
    let ids = keel_uid::with_clock(config, Options::default(), clock)
        .await
        .unwrap();
    let parts = ids.decompose(ids.next_id().unwrap());
    assert_eq!(parts.unix_ms, keel_uid::DEFAULT_EPOCH_UNIX_MS + 42);
    assert_eq!(parts.worker_id, 12);
    assert_eq!(ids.worker_id(), Some(12));
}
