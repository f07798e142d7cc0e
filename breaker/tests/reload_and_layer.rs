//! Policies reloaded from coord reset only the breakers whose policy changed; a bad update keeps
//! the last good set; the tower layer trips on failing calls and responses.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use keel_breaker::{BreakerLayer, Config, Error, ManualClock, Options, State};
use keel_clog::{Context, Env};
use keel_testkit::eventually_async;
use tower::{Service, ServiceExt, service_fn};

fn policy_json(consecutive: u32) -> Vec<u8> {
    format!(r#"{{"consecutive_failures":{consecutive},"failure_ratio":null,"open_timeout":"5s"}}"#)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_resets_only_changed_breakers_and_keeps_the_last_good_set() {
    let ctx = Context::new();
    let coord = keel_coord::new(
        &ctx,
        keel_coord::Config::for_env(Env::Development),
        keel_coord::Options::default(),
    )
    .await
    .unwrap();
    let prefix = "/config/production/shop/breaker/";
    coord
        .put(&ctx, &format!("{prefix}default"), policy_json(2), None)
        .await
        .unwrap();
    let clock = ManualClock::default();
    let config = Config {
        service: "shop".into(),
        env: Env::Production,
        ..Config::for_env(Env::Production)
    };
    let options = Options {
        coord: Some(Arc::clone(&coord)),
        clock: Some(Arc::new(clock.clone())),
        ..Options::default()
    };
    let breakers = keel_breaker::new(&ctx, config, options).await.unwrap();
    let pay = breakers.get("pay");
    let search = breakers.get("search");
    for b in [&pay, &search] {
        for _ in 0..2 {
            let _ = b.call(|| async { Err::<(), _>("x") }, |_| true).await;
        }
        assert_eq!(b.state(), State::Open);
    }
    // A new policy for "pay" only.
    coord
        .put(
            &ctx,
            &format!("{prefix}breakers/pay"),
            policy_json(10),
            None,
        )
        .await
        .unwrap();
    eventually_async(
        "pay to restart with its new policy",
        Duration::from_secs(10),
        || async { (breakers.get("pay").policy().consecutive_failures == Some(10)).then_some(()) },
    )
    .await;
    assert_eq!(
        breakers.get("pay").state(),
        State::Closed,
        "changed: starts afresh"
    );
    assert_eq!(
        breakers.get("search").state(),
        State::Open,
        "unchanged: keeps its state"
    );
    assert!(Arc::ptr_eq(&breakers.get("search"), &search));
    // An invalid update is rejected: the last good set stays.
    coord
        .put(
            &ctx,
            &format!("{prefix}breakers/search"),
            br#"{"consecutive_failures":0}"#.to_vec(),
            None,
        )
        .await
        .unwrap();
    let reason = eventually_async("the rejection", Duration::from_secs(10), || async {
        breakers.last_config_error()
    })
    .await;
    assert!(reason.contains("consecutive_failures"), "{reason}");
    assert!(
        Arc::ptr_eq(&breakers.get("search"), &search),
        "a bad policy does not replace a good one"
    );
    let statuses = breakers.statuses();
    assert_eq!(
        statuses.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["pay", "search"]
    );
    assert_eq!(statuses[1].state, State::Open);
}

#[tokio::test]
async fn the_layer_opens_on_errors_and_on_failing_responses() {
    let clock = ManualClock::default();
    let options = Options {
        clock: Some(Arc::new(clock.clone())),
        ..Options::default()
    };
    let breakers = keel_breaker::new(&Context::new(), Config::for_env(Env::Development), options)
        .await
        .unwrap();
    // Responses with status >= 500 count as failures; 5 in a row open the default policy.
    let layer = BreakerLayer::new(breakers.get("upstream"))
        .failing_responses(|status: &u16| *status >= 500);
    let mut client = tower::ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|status: u16| async move {
            Ok::<u16, std::io::Error>(status)
        }));
    for _ in 0..5 {
        let answer = client.ready().await.unwrap().call(503).await.unwrap();
        assert_eq!(answer, 503, "a failing response is still returned");
    }
    let err = client.ready().await.unwrap().call(200).await.unwrap_err();
    assert!(matches!(err, Error::Open(ref name) if name == "upstream"));
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        client.ready().await.unwrap().call(200).await.unwrap(),
        200,
        "a trial call closes it"
    );
    assert_eq!(breakers.get("upstream").state(), State::Closed);
}
