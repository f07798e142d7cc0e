//! The once contract in standalone mode: two providers sharing one in-process cache store.

use std::sync::Arc;
use std::time::Duration;

use keel_clog::{Context, Env};
use keel_once::{Config, Options};
use keel_testkit::Namespace;
use keel_testkit::contracts::once::OnceFixture;

async fn fixture() -> Option<OnceFixture> {
    let store = keel_cache::StandaloneStore::new(10_000);
    let cache_options = keel_cache::Options {
        standalone: Some(store),
        ..keel_cache::Options::default()
    };
    let cache = keel_cache::new(
        &Context::new(),
        keel_cache::Config::for_env(Env::Development),
        cache_options,
    )
    .await
    .expect("standalone cache");
    let mut config = Config::for_env(Env::Development);
    config.lock_ttl = Duration::from_secs(1);
    let make = || {
        let options = Options {
            cache: Some(Arc::clone(&cache)),
            ..Options::default()
        };
        let config = config.clone();
        async move {
            keel_once::new(&Context::new(), config, options)
                .await
                .expect("once")
        }
    };
    Some(OnceFixture {
        a: make().await,
        b: make().await,
        namespace: Namespace::new("once"),
    })
}

keel_testkit::once_contract!(fixture);

#[tokio::test]
async fn distributed_mode_needs_a_cache() {
    let err = keel_once::new(
        &Context::new(),
        Config::for_env(Env::Production),
        Options::default(),
    )
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("Options::cache"), "{err}");
}
