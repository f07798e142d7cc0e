//! The raw operations a backend provides. Everything else in keel-coord — validation,
//! namespaces, resuming watches, lease keep-alive, locks, elections, registries — is built once
//! on top of this trait, so the standalone and the etcd backends cannot drift apart.
//!
//! Keys here are full keys (namespace included) and are already validated.

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::Result;
use crate::types::{Expect, KeyValue, LeaseId, Listing, WatchEvent};

#[cfg(feature = "etcd")]
pub(crate) mod etcd;
pub(crate) mod standalone;

/// What a raw watch delivers.
#[derive(Debug)]
pub(crate) enum RawWatch {
    /// The events of one or more revisions, in revision order.
    Events(Vec<WatchEvent>),
    /// The start revision is compacted; the watch is over.
    Compacted(i64),
    /// The connection broke; the watch is over and must be resumed.
    Broken(String),
}

/// The write of a compare-and-swap.
#[derive(Debug, Clone)]
pub(crate) enum CasOp {
    Put { value: Vec<u8>, lease: LeaseId },
    Delete,
}

#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;
    /// Every key starting with `prefix`, sorted, with the store revision.
    async fn range(&self, prefix: &str) -> Result<Listing>;
    /// The keys under `prefix` (or the key itself when `!prefix`) as they were at `revision`.
    async fn keys_at(&self, key: &str, prefix: bool, revision: i64) -> Result<Vec<String>>;
    async fn put(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> Result<i64>;
    /// The deletion's revision when the key existed.
    async fn delete(&self, key: &str) -> Result<Option<i64>>;
    /// `Ok(Ok(revision))` when applied, `Ok(Err(actual_mod_revision))` (0 = absent) otherwise.
    async fn compare_and_swap(
        &self,
        key: &str,
        expect: Expect,
        op: CasOp,
    ) -> Result<std::result::Result<i64, i64>>;
    /// Events for `key` (or every key under it when `prefix`) from `start_revision` on.
    async fn watch(
        &self,
        key: &str,
        prefix: bool,
        start_revision: i64,
    ) -> Result<mpsc::Receiver<RawWatch>>;
    async fn lease_grant(&self, ttl_secs: i64) -> Result<LeaseId>;
    /// One keep-alive: the remaining TTL in seconds, or `None` when the lease is gone.
    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<Option<i64>>;
    /// One keep-alive for each lease, answers in order. The default sends them one by one.
    async fn lease_keep_alive_many(&self, leases: &[LeaseId]) -> Result<Vec<Option<i64>>> {
        let mut ttls = Vec::with_capacity(leases.len());
        for &lease in leases {
            ttls.push(self.lease_keep_alive(lease).await?);
        }
        Ok(ttls)
    }
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()>;
    async fn compact(&self, revision: i64) -> Result<()>;
    async fn close(&self);
}
