//! A Redis restart is survived: the provider reconnects by itself, and the Lua scripts (gone
//! from the restarted server's script cache) are loaded again. The test runs its own
//! redis-server on a free loopback port, so it restarts nothing it did not start.
#![cfg(feature = "redis")]
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use keel_cache::{Bucket, Config, Options};
use keel_clog::{Context, Env};
use keel_testkit::{Backend, OwnedRedis, backend, eventually_async};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_redis_is_reconnected_and_scripts_reload() {
    // Redis being available here is what KEEL_TEST_REDIS promises (and CI requires).
    if backend(Backend::Redis).is_none() {
        return;
    }
    let mut server = OwnedRedis::start();
    let mut config = Config::for_env(Env::Production);
    config.url = server.url();
    config.request_timeout = Duration::from_millis(500);
    let ctx = Context::new();
    let cache = eventually_async(
        "redis to accept connections",
        Duration::from_secs(10),
        || {
            let config = config.clone();
            async move {
                keel_cache::new(&Context::new(), config, Options::default())
                    .await
                    .ok()
            }
        },
    )
    .await;
    let bucket = Bucket {
        rate: 100.0,
        burst: 10.0,
        cost: 1.0,
    };
    cache
        .set(&ctx, "k", b"before".to_vec(), None)
        .await
        .unwrap();
    assert!(
        cache
            .token_bucket(&ctx, "tb", bucket)
            .await
            .unwrap()
            .allowed
    );

    server.stop();
    let err = cache.get(&ctx, "k").await.unwrap_err();
    assert!(
        matches!(
            err,
            keel_cache::Error::Unavailable(_) | keel_cache::Error::DeadlineExceeded
        ),
        "{err}"
    );

    server.restart();
    eventually_async(
        "the provider to reconnect",
        Duration::from_secs(20),
        || async { cache.set(&ctx, "k", b"after".to_vec(), None).await.ok() },
    )
    .await;
    assert_eq!(cache.get(&ctx, "k").await.unwrap(), Some(b"after".to_vec()));
    // The new server has an empty script cache: EVALSHA fails with NOSCRIPT and is retried.
    assert!(
        cache
            .token_bucket(&ctx, "tb", bucket)
            .await
            .unwrap()
            .allowed
    );
    assert!(cache.compare_and_delete(&ctx, "k", b"after").await.unwrap());
    cache.close().await.unwrap();
}
