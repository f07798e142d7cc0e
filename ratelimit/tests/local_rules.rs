//! Local rules, policies for unknown rules, and rules hot-reloaded from coord while traffic
//! runs. No external service is needed.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use keel_clog::{Context, Env, Mode};
use keel_ratelimit::{Basis, Config, Error, FailPolicy, Options, RateLimiter, Rule, Rules};
use keel_testkit::eventually_async;

async fn limiter(rules: Rules) -> Arc<RateLimiter> {
    let config = Config {
        rules,
        ..Config::for_env(Env::Development)
    };
    keel_ratelimit::new(&Context::new(), config, Options::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn each_key_has_its_own_bucket_and_fractional_rates_work() {
    let rl = limiter(Rules::default().with("login", Rule::local(0.5).with_burst(2))).await;
    let ctx = Context::new();
    for _ in 0..2 {
        let d = rl.allow(&ctx, "login", "alice").await.unwrap();
        assert!(d.allowed);
        assert_eq!(d.basis, Basis::Limit);
    }
    let refused = rl.allow(&ctx, "login", "alice").await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.basis, Basis::Limit);
    // One token every two seconds.
    let wait = refused.retry_after.as_secs_f64();
    assert!(wait > 1.9 && wait <= 2.0, "{wait}");
    assert!(rl.allow(&ctx, "login", "bob").await.unwrap().allowed);

    let stats = rl.stats();
    assert_eq!(stats.resources[0].allowed, 3);
    assert_eq!(stats.resources[0].denied, 1);
    assert_eq!(stats.resources[0].local_keys, 2);
}

#[tokio::test]
async fn allow_n_takes_n_tokens_and_bad_requests_are_errors() {
    let rl = limiter(Rules::default().with("export", Rule::local(1.0).with_burst(10))).await;
    let ctx = Context::new();
    let d = rl.allow_n(&ctx, "export", "k", 7).await.unwrap();
    assert!(d.allowed);
    assert_eq!(d.remaining, Some(3.0));
    let d = rl.allow_n(&ctx, "export", "k", 4).await.unwrap();
    assert!(!d.allowed);
    assert!(d.retry_after > Duration::from_millis(900));
    assert!(matches!(
        rl.allow_n(&ctx, "export", "k", 0).await,
        Err(Error::InvalidRequest(_))
    ));
    let too_many = rl.allow_n(&ctx, "export", "k", 11).await.unwrap_err();
    assert!(too_many.to_string().contains("at most 10"), "{too_many}");
}

#[tokio::test]
async fn unknown_rules_are_refused_unless_the_policy_says_open() {
    let ctx = Context::new();
    let closed = limiter(Rules::default()).await;
    let d = closed.allow(&ctx, "nowhere", "k").await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.basis, Basis::UnknownRule);
    assert_eq!(closed.stats().unknown_rule, 1);

    let open = limiter(Rules {
        unknown_rule: FailPolicy::Open,
        ..Rules::default()
    })
    .await;
    let d = open.allow(&ctx, "nowhere", "k").await.unwrap();
    assert!(d.allowed);
    assert_eq!(d.basis, Basis::UnknownRule);
}

#[tokio::test]
async fn standalone_runs_distributed_rules_locally_and_distributed_needs_a_cache() {
    let ctx = Context::new();
    let rules = Rules::default().with("api", Rule::distributed(1.0).with_burst(1));
    let rl = limiter(rules.clone()).await;
    assert!(rl.allow(&ctx, "api", "k").await.unwrap().allowed);
    assert!(!rl.allow(&ctx, "api", "k").await.unwrap().allowed);

    let config = Config {
        mode: Mode::Distributed,
        rules,
        ..Config::for_env(Env::Production)
    };
    let err = keel_ratelimit::new(&ctx, config, Options::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Options::cache"), "{err}");
}

#[tokio::test]
async fn bad_static_configuration_is_refused_with_the_reason() {
    let ctx = Context::new();
    let mut config = Config::for_env(Env::Development);
    config.rules = Rules::default().with("api", Rule::local(-1.0));
    let err = keel_ratelimit::new(&ctx, config, Options::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rule \"api\": rate"), "{err}");
    let mut config = Config::for_env(Env::Development);
    config.max_keys = 0;
    assert!(matches!(
        keel_ratelimit::new(&ctx, config, Options::default()).await,
        Err(Error::InvalidConfig(_))
    ));
}

fn rule_json(rate: f64, burst: u32) -> Vec<u8> {
    format!(r#"{{"rate":{rate},"burst":{burst}}}"#).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_reload_from_coord_while_traffic_runs() {
    let ctx = Context::new();
    let coord = keel_coord::new(
        &ctx,
        keel_coord::Config::for_env(Env::Development),
        keel_coord::Options::default(),
    )
    .await
    .unwrap();
    let prefix = "/config/development/shop/ratelimit/";
    coord
        .put(
            &ctx,
            &format!("{prefix}rules/api"),
            rule_json(0.001, 5),
            None,
        )
        .await
        .unwrap();
    coord
        .put(
            &ctx,
            &format!("{prefix}rules/search"),
            rule_json(0.001, 3),
            None,
        )
        .await
        .unwrap();
    let config = Config {
        service: "shop".into(),
        ..Config::for_env(Env::Development)
    };
    let options = Options {
        coord: Some(Arc::clone(&coord)),
        ..Options::default()
    };
    let rl = keel_ratelimit::new(&ctx, config, options).await.unwrap();

    // Exhaust "search"; it must stay exhausted through reloads of other rules.
    for _ in 0..3 {
        assert!(rl.allow(&ctx, "search", "k").await.unwrap().allowed);
    }
    assert!(!rl.allow(&ctx, "search", "k").await.unwrap().allowed);

    // Traffic on "api" from two tasks for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let allowed = Arc::new(AtomicU64::new(0));
    let traffic: Vec<_> = (0..2)
        .map(|_| {
            let (rl, stop, allowed) = (Arc::clone(&rl), Arc::clone(&stop), Arc::clone(&allowed));
            tokio::spawn(async move {
                let ctx = Context::new();
                while !stop.load(Ordering::Relaxed) {
                    let d = rl.allow(&ctx, "api", "k").await.unwrap();
                    assert_ne!(d.basis, Basis::UnknownRule);
                    if d.allowed {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    eventually_async(
        "the first burst of api to be used",
        Duration::from_secs(5),
        || {
            let allowed = Arc::clone(&allowed);
            async move { (allowed.load(Ordering::Relaxed) == 5).then_some(()) }
        },
    )
    .await;

    // A much bigger bucket for "api": the traffic sees it without a restart.
    coord
        .put(
            &ctx,
            &format!("{prefix}rules/api"),
            rule_json(0.001, 1_000),
            None,
        )
        .await
        .unwrap();
    eventually_async("the new api rule to apply", Duration::from_secs(5), || {
        let allowed = Arc::clone(&allowed);
        async move { (allowed.load(Ordering::Relaxed) >= 5 + 1_000).then_some(()) }
    })
    .await;
    assert_eq!(rl.rules().rules["api"].effective_burst(), 1_000);
    // The unchanged rule kept its (empty) bucket.
    assert!(!rl.allow(&ctx, "search", "k").await.unwrap().allowed);

    // A bad update is refused and the last good set stays.
    coord
        .put(
            &ctx,
            &format!("{prefix}rules/api"),
            br#"{"rate":0}"#.to_vec(),
            None,
        )
        .await
        .unwrap();
    eventually_async(
        "the bad update to be reported",
        Duration::from_secs(5),
        || {
            let rl = Arc::clone(&rl);
            async move { rl.last_config_error() }
        },
    )
    .await;
    assert_eq!(rl.rules().rules["api"].effective_burst(), 1_000);

    stop.store(true, Ordering::Relaxed);
    for task in traffic {
        task.await.unwrap();
    }
    // Over the whole run "api" let through exactly what its two buckets held.
    assert_eq!(allowed.load(Ordering::Relaxed), 5 + 1_000);

    // Removing a rule makes its resource unknown (refused by default).
    coord
        .delete(&ctx, &format!("{prefix}rules/api"))
        .await
        .unwrap();
    eventually_async("the rule to be removed", Duration::from_secs(5), || {
        let rl = Arc::clone(&rl);
        async move { (!rl.rules().rules.contains_key("api")).then_some(()) }
    })
    .await;
    let d = rl.allow(&ctx, "api", "k").await.unwrap();
    assert_eq!((d.allowed, d.basis), (false, Basis::UnknownRule));
}

#[tokio::test]
async fn coord_rules_add_to_and_replace_the_configured_ones() {
    let ctx = Context::new();
    let coord = keel_coord::new(
        &ctx,
        keel_coord::Config::for_env(Env::Development),
        keel_coord::Options::default(),
    )
    .await
    .unwrap();
    let config = Config {
        service: "base".into(),
        rules: Rules::default().with("api", Rule::local(0.001).with_burst(1)),
        ..Config::for_env(Env::Development)
    };
    let options = Options {
        coord: Some(Arc::clone(&coord)),
        ..Options::default()
    };
    let rl = keel_ratelimit::new(&ctx, config, options).await.unwrap();
    // Nothing in coord: the configured rule applies.
    assert_eq!(rl.rules().rules["api"].effective_burst(), 1);
    let key = "/config/development/base/ratelimit/rules/api";
    coord
        .put(&ctx, key, rule_json(0.001, 7), None)
        .await
        .unwrap();
    eventually_async(
        "coord's rule to replace the configured one",
        Duration::from_secs(5),
        || {
            let rl = Arc::clone(&rl);
            async move { (rl.rules().rules["api"].effective_burst() == 7).then_some(()) }
        },
    )
    .await;
    coord.delete(&ctx, key).await.unwrap();
    eventually_async(
        "the configured rule to come back",
        Duration::from_secs(5),
        || {
            let rl = Arc::clone(&rl);
            async move { (rl.rules().rules["api"].effective_burst() == 1).then_some(()) }
        },
    )
    .await;
}
