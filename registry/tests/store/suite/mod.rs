//! The cases, by topic: each gets a fresh database and panics on failure. Shared helpers
//! live here.
#![allow(clippy::unwrap_used)]

mod groups;
mod instances;
mod services;

pub(crate) use groups::*;
pub(crate) use instances::*;
pub(crate) use services::*;

use std::collections::BTreeMap;
use std::fmt::Debug;

use keel_db::sqlx;
use keel_registry::{
    CheckKind, Error, HealthCheck, HealthStatus, Instance, InstanceStatus, RegistryStore,
    ServiceId, instance_id,
};

use super::ctx;

pub(super) const TENANT: &str = "acme";
pub(super) const GROUP: &str = "DEFAULT_GROUP";

/// `acme/DEFAULT_GROUP/<name>`.
pub(super) fn sid(name: &str) -> ServiceId {
    ServiceId::new(TENANT, GROUP, name)
}

pub(super) fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A persistent instance of `service` at `host:port`, with its stable id.
pub(crate) fn persistent(service: &ServiceId, host: &str, port: u16) -> Instance {
    Instance {
        instance_id: instance_id(service, host, port),
        tenant: service.tenant.clone(),
        group_name: service.group.clone(),
        service_name: service.service.clone(),
        host: host.into(),
        port,
        weight: 1.0,
        metadata: meta(&[("zone", "a")]),
        tags: vec!["v1".into()],
        ephemeral: false,
        health_check: HealthCheck::of(CheckKind::Tcp),
        status: InstanceStatus::Up,
        checked_health: HealthStatus::Healthy,
        registered_at: 1_000,
        updated_at: 1_000,
    }
}

#[track_caller]
pub(super) fn expect_not_found<T: Debug>(out: keel_registry::Result<T>, message: &str) {
    match out {
        Err(Error::NotFound(m)) => assert_eq!(m, message),
        other => panic!("expected NotFound({message:?}), got {other:?}"),
    }
}

#[track_caller]
pub(super) fn expect_conflict<T: Debug>(out: keel_registry::Result<T>, contains: &str) {
    match out {
        Err(Error::Conflict(m)) => assert!(m.contains(contains), "{m:?} lacks {contains:?}"),
        other => panic!("expected Conflict(..{contains:?}..), got {other:?}"),
    }
}

#[track_caller]
pub(super) fn expect_invalid<T: Debug>(out: keel_registry::Result<T>, contains: &str) {
    match out {
        Err(Error::Invalid(m)) => assert!(m.contains(contains), "{m:?} lacks {contains:?}"),
        other => panic!("expected Invalid(..{contains:?}..), got {other:?}"),
    }
}

/// Rows in a table, every tenant together (each case has its own database).
pub(super) async fn count(store: &RegistryStore, table: &'static str) -> i64 {
    let sql = match table {
        "reg_groups" => "SELECT COUNT(*) FROM reg_groups",
        "reg_services" => "SELECT COUNT(*) FROM reg_services",
        "reg_instances" => "SELECT COUNT(*) FROM reg_instances",
        other => panic!("no table {other}"),
    };
    let (n,): (i64,) = store
        .db()
        .fetch_one(&ctx(), sqlx::query_as(sql))
        .await
        .unwrap();
    n
}
