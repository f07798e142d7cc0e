//! The once contract across two providers sharing a real Redis (`KEEL_TEST_REDIS`).

use std::time::Duration;

use keel_clog::{Context, Env};
use keel_once::{Config, Options};
use keel_testkit::contracts::once::OnceFixture;
use keel_testkit::{Backend, Namespace, backend};

async fn fixture() -> Option<OnceFixture> {
    let url = backend(Backend::Redis)?;
    let namespace = Namespace::new("once");
    let make = || {
        let url = url.clone();
        async move {
            // Each provider has its own connection, as two processes would.
            let mut cache_config = keel_cache::Config::for_env(Env::Production);
            cache_config.url = url;
            let cache = keel_cache::new(
                &Context::new(),
                cache_config,
                keel_cache::Options::default(),
            )
            .await
            .expect("redis cache");
            let mut config = Config::for_env(Env::Production);
            config.lock_ttl = Duration::from_secs(1);
            let options = Options {
                cache: Some(cache),
                ..Options::default()
            };
            keel_once::new(&Context::new(), config, options)
                .await
                .expect("once")
        }
    };
    Some(OnceFixture {
        a: make().await,
        b: make().await,
        namespace,
    })
}

keel_testkit::once_contract!(fixture);
