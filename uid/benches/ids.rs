//! Single-thread id generation throughput: Snowflake (target ≥ 3.5 M/s; the format's ceiling
//! is 4.096 M/s per worker) and UUIDv7 (target ≥ 10 M/s).
//!
//! `cargo bench -p keel-uid --bench ids`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel_uid::{Snowflake, SystemClock, UuidV7};

fn snowflake(c: &mut Criterion) {
    let generator = Snowflake::new(
        keel_uid::DEFAULT_EPOCH_UNIX_MS,
        1,
        Duration::from_millis(10),
        SystemClock,
    )
    .expect("valid worker id");
    let mut group = c.benchmark_group("uid");
    group.throughput(Throughput::Elements(1));
    group.bench_function("snowflake_next_id", |b| {
        b.iter(|| black_box(generator.next_id().expect("clock is sane")))
    });
    let uuids = UuidV7::new();
    group.bench_function("uuid_v7_next", |b| b.iter(|| black_box(uuids.next_uuid())));
    group.finish();
}

criterion_group!(benches, snowflake);
criterion_main!(benches);
