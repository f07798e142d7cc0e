//! The cost of one rate-limit check.
//!
//! - `ratelimit/local`: a local rule, polled to completion without a runtime (a local check
//!   never waits), for one hot key, for 10 000 rotating keys, and refused.
//! - `ratelimit/distributed` against `ratelimit/redis-raw-evalsha`: a distributed check
//!   beside one raw EVALSHA of the same Lua script through the plain redis crate, on the same
//!   Redis (`KEEL_TEST_REDIS`, from `scripts/services.sh`).
#![allow(missing_docs, clippy::unwrap_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keel_clog::{Context, Env};
use keel_ratelimit::{Config, Decision, Options, RateLimiter, Rule, Rules};

/// Polls a future that completes without waiting (a local check) once.
fn ready<F: Future<Output = keel_ratelimit::Result<Decision>>>(f: F) -> Decision {
    let mut cx = TaskContext::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(d) => d.unwrap(),
        Poll::Pending => panic!("a local check never waits"),
    }
}

fn local(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = Config {
        rules: Rules::default()
            .with("open", Rule::local(1e9).with_burst(1_000_000_000))
            .with("tight", Rule::local(0.001).with_burst(1)),
        ..Config::for_env(Env::Development)
    };
    let rl: Arc<RateLimiter> = rt
        .block_on(keel_ratelimit::new(
            &Context::new(),
            config,
            Options::default(),
        ))
        .unwrap();
    let ctx = Context::new();
    let keys: Vec<String> = (0..10_000).map(|i| format!("user-{i}")).collect();
    let mut group = c.benchmark_group("ratelimit");
    group.bench_function(BenchmarkId::new("local", "one-key"), |b| {
        b.iter(|| ready(rl.allow(&ctx, "open", "user-1")))
    });
    let mut i = 0;
    group.bench_function(BenchmarkId::new("local", "10k-keys"), |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            ready(rl.allow(&ctx, "open", &keys[i]))
        })
    });
    ready(rl.allow(&ctx, "tight", "k"));
    group.bench_function(BenchmarkId::new("local", "refused"), |b| {
        b.iter(|| ready(rl.allow(&ctx, "tight", "k")))
    });
    group.finish();
}

fn distributed(c: &mut Criterion) {
    let Ok(url) = std::env::var("KEEL_TEST_REDIS") else {
        eprintln!("KEEL_TEST_REDIS is not set: skipping the distributed benchmarks");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut cache_config = keel_cache::Config::for_env(Env::Production);
    cache_config.url = url.clone();
    cache_config.namespace = "bench:".into();
    let (rl, raw, script) = rt.block_on(async {
        let cache = keel_cache::new(
            &Context::new(),
            cache_config,
            keel_cache::Options::default(),
        )
        .await
        .unwrap();
        let config = Config {
            rules: Rules::default().with("api", Rule::distributed(1e6).with_burst(1_000_000)),
            ..Config::for_env(Env::Production)
        };
        let options = Options {
            cache: Some(cache),
            ..Options::default()
        };
        let rl = keel_ratelimit::new(&Context::new(), config, options)
            .await
            .unwrap();
        let raw = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        (rl, raw, redis::Script::new(keel_cache::TOKEN_BUCKET_SCRIPT))
    });
    let ctx = Context::new();
    let mut group = c.benchmark_group("ratelimit");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(BenchmarkId::new("distributed", "keel"), |b| {
        b.to_async(&rt)
            .iter(|| async { rl.allow(&ctx, "api", "user-1").await.unwrap() })
    });
    group.bench_function(BenchmarkId::new("distributed", "redis-raw-evalsha"), |b| {
        b.to_async(&rt).iter(|| {
            let mut connection = raw.clone();
            let mut call = script.key("bench:raw:user-1");
            call.arg(1e6).arg(1_000_000).arg(1).arg(2_000);
            async move {
                let reply: (i64, String, i64) = call.invoke_async(&mut connection).await.unwrap();
                reply
            }
        })
    });
    group.finish();
}

criterion_group!(benches, local, distributed);
criterion_main!(benches);
