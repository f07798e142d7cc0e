//! keel-cache get/set: standalone, Redis through keel, and the plain redis crate on the same
//! server (the wrapper's cost: validation, namespace, Context deadline).
//!
//! `eval "$(scripts/services.sh)"; cargo bench -p keel-cache --features redis --bench cache`
//! (the Redis rows need `KEEL_TEST_REDIS`).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keel_cache::{Config, Options};
use keel_clog::{Context, Env};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn get_set(c: &mut Criterion) {
    let rt = runtime();
    let redis_url = std::env::var("KEEL_TEST_REDIS")
        .ok()
        .filter(|u| !u.is_empty());
    let mut group = c.benchmark_group("cache");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    let mut backends = vec![("standalone", Config::for_env(Env::Development))];
    if let Some(url) = &redis_url {
        let mut config = Config::for_env(Env::Production);
        config.url = url.clone();
        backends.push(("redis", config));
    }
    let value = vec![b'x'; 100];
    for (name, mut config) in backends {
        config.namespace = "bench:".into();
        let cache = rt
            .block_on(keel_cache::new(&Context::new(), config, Options::default()))
            .expect("cache");
        let ctx = Context::new();
        group.bench_function(BenchmarkId::new("set", name), |b| {
            b.to_async(&rt).iter(|| async {
                cache
                    .set(&ctx, "k", value.clone(), None)
                    .await
                    .expect("set")
            })
        });
        group.bench_function(BenchmarkId::new("get", name), |b| {
            b.to_async(&rt)
                .iter(|| async { cache.get(&ctx, "k").await.expect("get") })
        });
    }
    if let Some(url) = redis_url {
        let client = redis::Client::open(url).expect("redis url");
        let connection = rt
            .block_on(client.get_connection_manager())
            .expect("raw connection manager");
        group.bench_function(BenchmarkId::new("set", "redis-raw"), |b| {
            b.to_async(&rt).iter(|| async {
                let mut con = connection.clone();
                let () = redis::cmd("SET")
                    .arg("bench:k")
                    .arg(&value)
                    .query_async(&mut con)
                    .await
                    .expect("set");
            })
        });
        group.bench_function(BenchmarkId::new("get", "redis-raw"), |b| {
            b.to_async(&rt).iter(|| async {
                let mut con = connection.clone();
                let v: Option<Vec<u8>> = redis::cmd("GET")
                    .arg("bench:k")
                    .query_async(&mut con)
                    .await
                    .expect("get");
                v
            })
        });
    }
    group.finish();
}

criterion_group!(benches, get_set);
criterion_main!(benches);
