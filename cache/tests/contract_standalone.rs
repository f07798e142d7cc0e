//! The cache contract on the standalone backend: providers sharing one in-process store.

use keel_cache::{Config, Options, StandaloneStore};
use keel_clog::{Context, Env};
use keel_testkit::contracts::cache::CacheFixture;

async fn fixture() -> Option<CacheFixture> {
    let store = StandaloneStore::new(10_000);
    let make = |namespace: &str| {
        let mut config = Config::for_env(Env::Development);
        config.namespace = namespace.to_owned();
        let options = Options {
            standalone: Some(store.clone()),
            ..Options::default()
        };
        async move {
            keel_cache::new(&Context::new(), config, options)
                .await
                .expect("standalone cache")
        }
    };
    Some(CacheFixture {
        a: make("t1:").await,
        b: make("t1:").await,
        other: make("t2:").await,
    })
}

keel_testkit::cache_contract!(fixture);
