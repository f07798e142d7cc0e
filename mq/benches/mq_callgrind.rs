//! One produce + consume round on the standalone broker, sized by `KEEL_MQ_MESSAGES` (default
//! 20 000), for instruction counting: wall-clock figures on a shared 2-core machine vary by
//! ±10 % between runs, instruction counts do not.
//!
//! ```sh
//! cargo bench -p keel-mq --bench mq_callgrind --no-run   # prints the binary's path
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/mq.cg target/release/deps/mq_callgrind-<hash>
//! callgrind_annotate /tmp/mq.cg | head -40
//! ```
//!
//! Divide the total by the message count; the fixed part (runtime, topics) is about 1 % at
//! 20 000 messages. It mirrors `produce_and_consume/standalone` in `mq.rs`, except that the
//! end of the round is signalled instead of polled, so the count does not depend on timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keel_clog::{Context, Env};
use keel_mq::{Config, ConsumerOptions, Message, Options, handler_fn};

fn main() {
    let messages: u64 = std::env::var("KEEL_MQ_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let ctx = Context::new();
        let mq = keel_mq::new(&ctx, Config::for_env(Env::Development), Options::default())
            .await
            .expect("mq");
        mq.create_topic(&ctx, "bench", 4).await.expect("topic");
        mq.create_topic(&ctx, "bench.dlq", 1).await.expect("dlq");
        let seen = Arc::new(AtomicU64::new(0));
        let done = Arc::new(tokio::sync::Notify::new());
        let (counter, finished) = (Arc::clone(&seen), Arc::clone(&done));
        let handler = handler_fn(move |_ctx, _m| {
            if counter.fetch_add(1, Ordering::Relaxed) + 1 == messages {
                finished.notify_one();
            }
            async { Ok(()) }
        });
        let sub = mq
            .subscribe(
                &ctx,
                "bench-group",
                &["bench"],
                Arc::new(handler),
                ConsumerOptions::default(),
            )
            .await
            .expect("subscribe");
        let payload = bytes::Bytes::from(vec![b'x'; 1024]);
        for i in 0..messages {
            mq.send_with_callback(
                &ctx,
                "bench",
                Message::keyed(format!("k{}", i % 64), payload.clone()),
                Box::new(|r| {
                    r.expect("delivered");
                }),
            );
        }
        mq.flush(&ctx).await.expect("flush");
        if messages > 0 {
            done.notified().await;
        }
        assert_eq!(seen.load(Ordering::Relaxed), messages);
        sub.close().await;
        mq.close().await.expect("close");
    });
}
