//! The cases, by topic: each gets a fresh database and panics on failure. Shared helpers
//! live here.
#![allow(clippy::unwrap_used)]

mod apps;
mod deletes;
mod documents;
mod gray;
mod items;
mod releases;

pub(crate) use apps::*;
pub(crate) use deletes::*;
pub(crate) use documents::*;
pub(crate) use gray::*;
pub(crate) use items::*;
pub(crate) use releases::*;

use std::collections::BTreeMap;
use std::fmt::Debug;

use keel_config_center::{
    ClusterId, ConfigStore, Error, ItemWrite, NamespaceId, NewApp, PageRequest,
};
use keel_db::sqlx;

use super::ctx;

pub(super) const ENV: &str = "dev";
pub(super) const ACTOR: &str = "alice";

pub(super) fn cluster_id(app: &str, cluster: &str) -> ClusterId {
    ClusterId {
        env: ENV.into(),
        app: app.into(),
        cluster: cluster.into(),
    }
}

pub(super) fn ns_id(app: &str, cluster: &str, namespace: &str) -> NamespaceId {
    NamespaceId {
        env: ENV.into(),
        app: app.into(),
        cluster: cluster.into(),
        namespace: namespace.into(),
    }
}

/// The `application` namespace of the `default` cluster.
pub(super) fn app_ns(app: &str) -> NamespaceId {
    ns_id(app, "default", "application")
}

pub(super) fn new_app(name: &str) -> NewApp {
    NewApp {
        name: name.into(),
        description: format!("{name} service"),
        owner: "team-a".into(),
    }
}

pub(super) fn write(key: &str, value: &str, version: Option<i64>) -> ItemWrite {
    ItemWrite {
        key: key.into(),
        value: value.into(),
        comment: String::new(),
        version,
    }
}

pub(super) fn page(page: u32, size: u32) -> PageRequest {
    PageRequest { page, size }
}

pub(super) fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[track_caller]
pub(super) fn expect_not_found<T: Debug>(out: keel_config_center::Result<T>, message: &str) {
    match out {
        Err(Error::NotFound(m)) => assert_eq!(m, message),
        other => panic!("expected NotFound({message:?}), got {other:?}"),
    }
}

#[track_caller]
pub(super) fn expect_conflict<T: Debug>(out: keel_config_center::Result<T>, contains: &str) {
    match out {
        Err(Error::Conflict(m)) => assert!(m.contains(contains), "{m:?} lacks {contains:?}"),
        other => panic!("expected Conflict(..{contains:?}..), got {other:?}"),
    }
}

#[track_caller]
pub(super) fn expect_invalid<T: Debug>(out: keel_config_center::Result<T>, contains: &str) {
    match out {
        Err(Error::Invalid(m)) => assert!(m.contains(contains), "{m:?} lacks {contains:?}"),
        other => panic!("expected Invalid(..{contains:?}..), got {other:?}"),
    }
}

/// Rows in a table, all namespaces together (each case has its own database).
pub(super) async fn count(store: &ConfigStore, table: &'static str) -> i64 {
    let db = store.db();
    let sql = match table {
        "cc_apps" => "SELECT COUNT(*) FROM cc_apps",
        "cc_clusters" => "SELECT COUNT(*) FROM cc_clusters",
        "cc_namespaces" => "SELECT COUNT(*) FROM cc_namespaces",
        "cc_items" => "SELECT COUNT(*) FROM cc_items",
        "cc_releases" => "SELECT COUNT(*) FROM cc_releases",
        "cc_history" => "SELECT COUNT(*) FROM cc_history",
        other => panic!("no table {other}"),
    };
    let (n,): (i64,) = db.fetch_one(&ctx(), sqlx::query_as(sql)).await.unwrap();
    n
}
