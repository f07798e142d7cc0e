//! The coord contract on a real etcd (`KEEL_TEST_ETCD`): two clients, one private namespace.
#![cfg(feature = "etcd")]

use keel_clog::{Context, Env};
use keel_coord::{Config, Options};
use keel_testkit::contracts::coord::CoordFixture;
use keel_testkit::{Backend, Namespace, backend};

async fn fixture() -> Option<CoordFixture> {
    let url = backend(Backend::Etcd)?;
    let namespace = Namespace::new("coord");
    let mut config = Config::for_env(Env::Production);
    config.endpoints = url.split(',').map(str::to_owned).collect();
    config.namespace = format!("/{namespace}");
    let make = || async {
        keel_coord::new(&Context::new(), config.clone(), Options::default())
            .await
            .expect("etcd provider")
    };
    Some(CoordFixture {
        a: make().await,
        b: make().await,
    })
}

keel_testkit::coord_contract!(fixture);
