//! keel-mq throughput for 1 KB messages: produce, then consume through a consumer group, on the
//! standalone broker and on Kafka through keel; and raw rdkafka producing to the same broker.
//!
//! `eval "$(scripts/services.sh)"; cargo bench -p keel-mq --features kafka --bench mq`
//! (the Kafka rows need `KEEL_TEST_KAFKA`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keel_clog::{Context, Env};
use keel_mq::{Config, ConsumerOptions, Message, Options, Provider, handler_fn};

/// Messages per measured round on the in-process broker.
const BATCH: u64 = 20_000;
/// Messages per round on the test Kafka-API broker, which takes one record per produce
/// request (see mq/tests/contract_kafka.rs): sized to finish well within the delivery timeout.
const KAFKA_BATCH: u64 = 2_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn provider(kafka: Option<&str>) -> Arc<dyn Provider> {
    let config = match kafka {
        Some(brokers) => {
            let mut c = Config::for_env(Env::Production);
            c.brokers = brokers.to_owned();
            // See mq/tests/contract_kafka.rs: the test broker needs one record per batch.
            c.producer_properties
                .insert("batch.num.messages".into(), "1".into());
            c
        }
        None => Config::for_env(Env::Development),
    };
    keel_mq::new(&Context::new(), config, Options::default())
        .await
        .expect("mq")
}

/// Sends `n` messages without waiting for each and returns when all are acknowledged.
async fn produce(mq: &Arc<dyn Provider>, topic: &str, n: u64) {
    let ctx = Context::new();
    // Shared like a real producer would share one payload buffer (Bytes clones are refcounts).
    let payload = bytes::Bytes::from(vec![b'x'; 1024]);
    for i in 0..n {
        mq.send_with_callback(
            &ctx,
            topic,
            Message::keyed(format!("k{}", i % 64), payload.clone()),
            Box::new(|r| {
                r.expect("delivered");
            }),
        );
    }
    mq.flush(&ctx).await.expect("flush");
}

/// Runs `iters` rounds of `round(n)` and sums the time each round reports.
fn rounds<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, mut round: F) -> Duration
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Duration>,
{
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for n in 0..iters {
            total += round(n).await;
        }
        total
    })
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let kafka = std::env::var("KEEL_TEST_KAFKA")
        .ok()
        .filter(|u| !u.is_empty());
    let mut group = c.benchmark_group("mq_1kb");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let mut backends = vec![("standalone", None)];
    if let Some(brokers) = &kafka {
        backends.push(("kafka", Some(brokers.clone())));
    }
    // Topics stay on the broker between runs: name them per run.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let unique = AtomicU64::new(0);
    for (name, brokers) in backends {
        let batch = if brokers.is_some() {
            KAFKA_BATCH
        } else {
            BATCH
        };
        group.throughput(Throughput::Elements(batch));
        let mq = rt.block_on(provider(brokers.as_deref()));
        group.bench_function(BenchmarkId::new("produce", name), |b| {
            b.iter_custom(|iters| {
                rounds(&rt, iters, |_| async {
                    let topic = format!("bench-{run}-p-{}", unique.fetch_add(1, Ordering::Relaxed));
                    mq.create_topic(&Context::new(), &topic, 4)
                        .await
                        .expect("topic");
                    let start = Instant::now();
                    produce(&mq, &topic, batch).await;
                    start.elapsed()
                })
            })
        });
        group.bench_function(BenchmarkId::new("produce_and_consume", name), |b| {
            b.iter_custom(|iters| {
                rounds(&rt, iters, |_| async {
                    let n = unique.fetch_add(1, Ordering::Relaxed);
                    let topic = format!("bench-{run}-pc-{n}");
                    let ctx = Context::new();
                    mq.create_topic(&ctx, &topic, 4).await.expect("topic");
                    mq.create_topic(&ctx, &format!("{topic}.dlq"), 1)
                        .await
                        .expect("dlq");
                    let seen = Arc::new(AtomicU64::new(0));
                    let counter = Arc::clone(&seen);
                    let handler = handler_fn(move |_ctx, _m| {
                        counter.fetch_add(1, Ordering::Relaxed);
                        async { Ok(()) }
                    });
                    let sub = mq
                        .subscribe(
                            &ctx,
                            &format!("bench-{run}-g{n}"),
                            &[&topic],
                            Arc::new(handler),
                            ConsumerOptions::default(),
                        )
                        .await
                        .expect("subscribe");
                    let start = Instant::now();
                    produce(&mq, &topic, batch).await;
                    while seen.load(Ordering::Relaxed) < batch {
                        tokio::time::sleep(Duration::from_micros(100)).await;
                    }
                    let elapsed = start.elapsed();
                    sub.close().await;
                    elapsed
                })
            })
        });
    }
    if let Some(brokers) = kafka {
        group.throughput(Throughput::Elements(KAFKA_BATCH));
        use rdkafka::config::ClientConfig;
        use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("batch.num.messages", "1")
            .create()
            .expect("raw producer");
        let admin = rt.block_on(provider(Some(&brokers)));
        group.bench_function(BenchmarkId::new("produce", "kafka-raw"), |b| {
            b.iter_custom(|iters| {
                rounds(&rt, iters, |_| async {
                    let topic =
                        format!("bench-{run}-raw-{}", unique.fetch_add(1, Ordering::Relaxed));
                    admin
                        .create_topic(&Context::new(), &topic, 4)
                        .await
                        .expect("topic");
                    let payload = vec![b'x'; 1024];
                    let start = Instant::now();
                    let mut pending = Vec::with_capacity(KAFKA_BATCH as usize);
                    for i in 0..KAFKA_BATCH {
                        let key = format!("k{}", i % 64);
                        let record = FutureRecord::to(&topic).key(&key).payload(&payload);
                        pending.push(
                            producer
                                .send_result(record)
                                .map_err(|(e, _)| e)
                                .expect("queued"),
                        );
                    }
                    for p in pending {
                        p.await.expect("delivered").expect("acked");
                    }
                    producer.flush(Duration::from_secs(30)).expect("flush");
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
