//! The cache contract on a real Redis (`KEEL_TEST_REDIS`), each test in its own namespace.
#![cfg(feature = "redis")]

use keel_cache::{Config, Options};
use keel_clog::{Context, Env};
use keel_testkit::contracts::cache::CacheFixture;
use keel_testkit::{Backend, Namespace, backend};

async fn fixture() -> Option<CacheFixture> {
    let url = backend(Backend::Redis)?;
    let namespace = Namespace::new("cache");
    let make = |suffix: &str| {
        let mut config = Config::for_env(Env::Production);
        config.url = url.clone();
        config.namespace = format!("{namespace}{suffix}:");
        async move {
            keel_cache::new(&Context::new(), config, Options::default())
                .await
                .expect("redis cache")
        }
    };
    Some(CacheFixture {
        a: make("").await,
        b: make("").await,
        other: make("_other").await,
    })
}

keel_testkit::cache_contract!(fixture);
