//! The coord contract on the standalone backend: two providers sharing one in-process store.

use keel_clog::{Context, Env};
use keel_coord::{Config, Options, StandaloneStore};
use keel_testkit::contracts::coord::CoordFixture;

async fn fixture() -> Option<CoordFixture> {
    let store = StandaloneStore::new(10_000);
    let make = || {
        let store = store.clone();
        async move {
            let options = Options {
                standalone: Some(store),
                ..Options::default()
            };
            keel_coord::new(&Context::new(), Config::for_env(Env::Development), options)
                .await
                .expect("standalone provider")
        }
    };
    Some(CoordFixture {
        a: make().await,
        b: make().await,
    })
}

keel_testkit::coord_contract!(fixture);
