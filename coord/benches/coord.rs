//! keel-coord hot paths: KV put/get on the standalone store, on etcd through keel, and with raw
//! etcd-client calls on the same etcd (the wrapper's cost); watch fan-out latency (one put →
//! N watchers all notified) for N = 1, 100, 1000.
//!
//! `eval "$(scripts/services.sh)"; cargo bench -p keel-coord --features etcd --bench coord`
//! (the etcd rows need `KEEL_TEST_ETCD`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keel_clog::{Context, Env};
use keel_coord::{Config, Options, Provider, StartAt};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn etcd_url() -> Option<String> {
    std::env::var("KEEL_TEST_ETCD")
        .ok()
        .filter(|u| !u.is_empty())
}

async fn provider(etcd: Option<&str>, namespace: &str) -> Arc<dyn Provider> {
    let mut config = match etcd {
        Some(url) => {
            let mut c = Config::for_env(Env::Production);
            c.endpoints = url.split(',').map(str::to_owned).collect();
            c
        }
        None => Config::for_env(Env::Development),
    };
    config.namespace = namespace.to_owned();
    keel_coord::new(&Context::new(), config, Options::default())
        .await
        .expect("coord provider")
}

fn kv(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("coord_kv");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    let mut backends = vec![("standalone", None)];
    if let Some(url) = etcd_url() {
        backends.push(("etcd", Some(url)));
    }
    for (name, url) in &backends {
        let coord = rt.block_on(provider(url.as_deref(), "/bench-kv"));
        let ctx = Context::new();
        group.bench_function(BenchmarkId::new("put", name), |b| {
            b.to_async(&rt).iter(|| async {
                coord
                    .put(&ctx, "/k", vec![b'x'; 100], None)
                    .await
                    .expect("put")
            })
        });
        group.bench_function(BenchmarkId::new("get", name), |b| {
            b.to_async(&rt)
                .iter(|| async { coord.get(&ctx, "/k").await.expect("get") })
        });
    }
    if let Some(url) = etcd_url() {
        // The same operations with etcd-client directly, on the same etcd.
        let endpoints: Vec<String> = url.split(',').map(str::to_owned).collect();
        let client = rt
            .block_on(etcd_client::Client::connect(&endpoints, None))
            .expect("raw etcd client");
        group.bench_function(BenchmarkId::new("put", "etcd-raw"), |b| {
            b.to_async(&rt).iter(|| async {
                client
                    .clone()
                    .put("/bench-kv/k", vec![b'x'; 100], None)
                    .await
                    .expect("put")
            })
        });
        group.bench_function(BenchmarkId::new("get", "etcd-raw"), |b| {
            b.to_async(&rt)
                .iter(|| async { client.clone().get("/bench-kv/k", None).await.expect("get") })
        });
    }
    group.finish();
}

fn fan_out(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("coord_watch_fanout");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    let mut backends = vec![("standalone", None)];
    if let Some(url) = etcd_url() {
        backends.push(("etcd", Some(url)));
    }
    for (name, url) in &backends {
        for watchers in [1usize, 100, 1000] {
            let namespace = format!("/bench-fanout-{watchers}");
            let coord = rt.block_on(provider(url.as_deref(), &namespace));
            let ctx = Context::new();
            let mut watches = rt.block_on(async {
                let mut v = Vec::with_capacity(watchers);
                for _ in 0..watchers {
                    v.push(
                        coord
                            .watch(&ctx, "/f", false, StartAt::Now)
                            .await
                            .expect("watch"),
                    );
                }
                v
            });
            group.bench_function(BenchmarkId::new(*name, watchers), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let start = Instant::now();
                            coord
                                .put(&ctx, "/f", b"v".to_vec(), None)
                                .await
                                .expect("put");
                            for w in watches.iter_mut() {
                                w.next().await.expect("event");
                            }
                            total += start.elapsed();
                        }
                        total
                    })
                })
            });
            drop(watches.drain(..));
            rt.block_on(coord.close()).expect("close");
        }
    }
    group.finish();
}

criterion_group!(benches, kv, fan_out);
criterion_main!(benches);
