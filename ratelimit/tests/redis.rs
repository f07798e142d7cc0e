//! Distributed rules on a real Redis: the same answers as local rules, one global limit for
//! two limiters sharing Redis, and each `on_backend_error` policy while Redis is down (on a
//! redis-server this test starts and stops, so it stops nothing it did not start).
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use keel_clog::{Context, Env};
use keel_ratelimit::{Basis, Config, FailPolicy, Options, RateLimiter, Rule, Rules};
use keel_testkit::{Backend, Namespace, OwnedRedis, backend, eventually_async};

async fn cache(url: &str, ns: &Namespace) -> Arc<dyn keel_cache::Provider> {
    let mut config = keel_cache::Config::for_env(Env::Production);
    config.url = url.to_owned();
    config.namespace = format!("{ns}:");
    config.request_timeout = Duration::from_millis(300);
    keel_cache::new(&Context::new(), config, keel_cache::Options::default())
        .await
        .unwrap()
}

async fn limiter(rules: Rules, cache: Option<Arc<dyn keel_cache::Provider>>) -> Arc<RateLimiter> {
    let config = Config {
        rules,
        backend_recheck: Duration::from_millis(200),
        ..Config::for_env(Env::Production)
    };
    let options = Options {
        cache,
        ..Options::default()
    };
    keel_ratelimit::new(&Context::new(), config, options)
        .await
        .unwrap()
}

#[tokio::test]
async fn distributed_and_local_answer_the_same_sequence_alike() {
    let Some(url) = backend(Backend::Redis) else {
        return;
    };
    let ns = Namespace::new("rl_same");
    // Slow refill: the few milliseconds between requests add a negligible fraction of a token.
    let rule = |mode: fn(f64) -> Rule| mode(0.01).with_burst(10);
    let rules = Rules::default()
        .with("local", rule(Rule::local))
        .with("remote", rule(Rule::distributed));
    let rl = limiter(rules, Some(cache(&url, &ns).await)).await;
    let ctx = Context::new();
    for cost in [3, 1, 4, 1, 5, 9, 2, 6, 1, 1] {
        let local = rl.allow_n(&ctx, "local", "k", cost).await.unwrap();
        let remote = rl.allow_n(&ctx, "remote", "k", cost).await.unwrap();
        assert_eq!(remote.basis, Basis::Limit);
        assert_eq!(
            local.allowed, remote.allowed,
            "cost {cost}: {local:?} vs {remote:?}"
        );
        let (l, r) = (
            local.retry_after.as_secs_f64(),
            remote.retry_after.as_secs_f64(),
        );
        assert!((l - r).abs() < 1.0, "cost {cost}: {local:?} vs {remote:?}");
        let (l, r) = (local.remaining.unwrap(), remote.remaining.unwrap());
        assert!((l - r).abs() < 1.0, "cost {cost}: {local:?} vs {remote:?}");
    }
    let stats = rl.stats();
    assert_eq!(stats.resources[0].allowed, stats.resources[1].allowed);
    assert!(stats.resources[1].denied > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_limiters_sharing_redis_see_one_global_limit() {
    let Some(url) = backend(Backend::Redis) else {
        return;
    };
    let ns = Namespace::new("rl_global");
    let rules = Rules::default().with("api", Rule::distributed(0.001).with_burst(25));
    let a = limiter(rules.clone(), Some(cache(&url, &ns).await)).await;
    let b = limiter(rules, Some(cache(&url, &ns).await)).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let rl = Arc::clone(if i % 2 == 0 { &a } else { &b });
            tokio::spawn(async move {
                let ctx = Context::new();
                let mut allowed = 0;
                for _ in 0..20 {
                    let d = rl.allow(&ctx, "api", "tenant-1").await.unwrap();
                    assert_eq!(d.basis, Basis::Limit);
                    allowed += u32::from(d.allowed);
                }
                allowed
            })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += task.await.unwrap();
    }
    assert_eq!(
        allowed, 25,
        "160 requests through two limiters, one bucket of 25"
    );
    // Another key is a different bucket, on both.
    assert!(
        a.allow(&Context::new(), "api", "tenant-2")
            .await
            .unwrap()
            .allowed
    );
    assert!(
        b.allow(&Context::new(), "api", "tenant-2")
            .await
            .unwrap()
            .allowed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_applies_each_rules_policy_and_recovers() {
    // Redis being available is what KEEL_TEST_REDIS promises (and CI requires).
    if backend(Backend::Redis).is_none() {
        return;
    }
    let mut server = OwnedRedis::start();
    let url = server.url();
    let ns = Namespace::new("rl_down");
    let cache = eventually_async(
        "redis to accept connections",
        Duration::from_secs(10),
        || {
            let (url, ns) = (url.clone(), ns.clone());
            async move {
                let mut config = keel_cache::Config::for_env(Env::Production);
                config.url = url;
                config.namespace = format!("{ns}:");
                config.request_timeout = Duration::from_millis(300);
                keel_cache::new(&Context::new(), config, keel_cache::Options::default())
                    .await
                    .ok()
            }
        },
    )
    .await;
    let rule = |policy| {
        Rule::distributed(0.001)
            .with_burst(3)
            .on_backend_error(policy)
    };
    let rules = Rules::default()
        .with("open", rule(FailPolicy::Open))
        .with("closed", rule(FailPolicy::Closed))
        .with("local", rule(FailPolicy::Local));
    let rl = limiter(rules, Some(cache)).await;
    let ctx = Context::new();
    for resource in ["open", "closed", "local"] {
        let d = rl.allow(&ctx, resource, "k").await.unwrap();
        assert_eq!((d.allowed, d.basis), (true, Basis::Limit), "{resource}");
    }

    server.stop();
    let open = rl.allow(&ctx, "open", "k").await.unwrap();
    assert_eq!(
        (open.allowed, open.basis),
        (true, Basis::BackendUnavailable)
    );
    let closed = rl.allow(&ctx, "closed", "k").await.unwrap();
    assert_eq!(
        (closed.allowed, closed.basis),
        (false, Basis::BackendUnavailable)
    );
    assert_eq!(closed.retry_after, Duration::from_millis(200));
    // `local`: the same rule, enforced in this process until Redis is back.
    let local: Vec<bool> = {
        let mut seen = Vec::new();
        for _ in 0..4 {
            let d = rl.allow(&ctx, "local", "k").await.unwrap();
            assert_eq!(d.basis, Basis::BackendUnavailable);
            seen.push(d.allowed);
        }
        seen
    };
    assert_eq!(local, [true, true, true, false]);
    let fallbacks: u64 = rl
        .stats()
        .resources
        .iter()
        .map(|r| r.backend_fallbacks)
        .sum();
    assert_eq!(fallbacks, 6);

    // Redis comes back (empty: it keeps nothing); after `backend_recheck` it decides again.
    server.restart();
    eventually_async("redis to decide again", Duration::from_secs(15), || {
        let rl = Arc::clone(&rl);
        async move {
            let d = rl.allow(&Context::new(), "closed", "k").await.unwrap();
            (d.basis == Basis::Limit).then_some(())
        }
    })
    .await;
}
