//! The mq contract on a real Kafka-API broker (`KEEL_TEST_KAFKA`), topics unique per test.
#![cfg(feature = "kafka")]

use std::sync::Arc;

use keel_clog::{Context, Env};
use keel_mq::{Config, Options, Provider};
use keel_testkit::contracts::mq::MqFixture;
use keel_testkit::{Backend, Namespace, backend};

fn config(brokers: &str) -> Config {
    let mut config = Config::for_env(Env::Production);
    config.brokers = brokers.to_owned();
    // The test broker (tansu) mishandles produce requests carrying several records in one
    // batch; one record per batch is a property of this test setup, not of the kit.
    config
        .producer_properties
        .insert("batch.num.messages".into(), "1".into());
    // A member that leaves is noticed quickly, so takeover tests stay short.
    config
        .consumer_properties
        .insert("session.timeout.ms".into(), "6000".into());
    config
        .consumer_properties
        .insert("heartbeat.interval.ms".into(), "500".into());
    config
}

async fn provider(brokers: String) -> Arc<dyn Provider> {
    keel_mq::new(&Context::new(), config(&brokers), Options::default())
        .await
        .expect("kafka mq")
}

async fn fixture() -> Option<MqFixture> {
    let brokers = backend(Backend::Kafka)?;
    let for_make = brokers.clone();
    Some(MqFixture {
        a: provider(brokers.clone()).await,
        b: provider(brokers).await,
        make: Box::new(move || Box::pin(provider(for_make.clone()))),
        namespace: Namespace::new("mq"),
    })
}

keel_testkit::mq_contract!(fixture);
