//! The mq contract on the standalone broker: providers sharing one in-process broker.

use std::sync::Arc;

use keel_clog::{Context, Env};
use keel_mq::{Config, Options, Provider, StandaloneBroker};
use keel_testkit::Namespace;
use keel_testkit::contracts::mq::MqFixture;

async fn provider(broker: StandaloneBroker) -> Arc<dyn Provider> {
    let options = Options {
        standalone: Some(broker),
        ..Options::default()
    };
    keel_mq::new(&Context::new(), Config::for_env(Env::Development), options)
        .await
        .expect("standalone mq")
}

async fn fixture() -> Option<MqFixture> {
    let broker = StandaloneBroker::new(100_000);
    let for_make = broker.clone();
    Some(MqFixture {
        a: provider(broker.clone()).await,
        b: provider(broker).await,
        make: Box::new(move || Box::pin(provider(for_make.clone()))),
        namespace: Namespace::new("mq"),
    })
}

keel_testkit::mq_contract!(fixture);
