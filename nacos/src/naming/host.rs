//! A keel instance as Nacos shows it: its cluster, its Nacos instance id, its metadata without
//! keel's reserved key, and the heartbeat timings Nacos derives from preserved metadata.

use std::collections::BTreeMap;

use keel_registry::{CheckKind, Instance, InstanceView};
use serde::Serialize;

use crate::names::{CLUSTER_KEY, DEFAULT_CLUSTER, grouped};

/// Metadata keys Nacos reserves for per-instance heartbeat timings, in milliseconds.
pub(crate) const HEART_BEAT_INTERVAL: &str = "preserved.heart.beat.interval";
/// See [`HEART_BEAT_INTERVAL`].
pub(crate) const HEART_BEAT_TIMEOUT: &str = "preserved.heart.beat.timeout";
/// See [`HEART_BEAT_INTERVAL`].
pub(crate) const IP_DELETE_TIMEOUT: &str = "preserved.ip.delete.timeout";
/// Which instance id generator a client asked for (shown, never acted on).
const INSTANCE_ID_GENERATOR: &str = "preserved.instance.id.generator";

/// Nacos's defaults for the three timings, in milliseconds (also keel's ttl defaults).
pub(crate) const DEFAULT_BEAT_INTERVAL_MS: u64 = 5_000;
const DEFAULT_BEAT_TIMEOUT_MS: u64 = 15_000;
const DEFAULT_IP_DELETE_TIMEOUT_MS: u64 = 30_000;

/// One entry of `instance/list`'s `hosts` (Nacos's `Instance`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Host {
    pub(crate) instance_id: String,
    pub(crate) ip: String,
    pub(crate) port: u16,
    pub(crate) weight: f64,
    pub(crate) healthy: bool,
    pub(crate) enabled: bool,
    pub(crate) ephemeral: bool,
    pub(crate) cluster_name: String,
    pub(crate) service_name: String,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) instance_heart_beat_interval: u64,
    pub(crate) instance_heart_beat_time_out: u64,
    pub(crate) ip_delete_timeout: u64,
    /// Nacos's getter answers `simple` for empty metadata and null (left out) for metadata
    /// without the key; clients that hash hosts see the same thing from both servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instance_id_generator: Option<String>,
}

impl Host {
    /// The Nacos view of `view`.
    pub(crate) fn of(view: &InstanceView) -> Self {
        let i = &view.instance;
        let metadata = metadata(i);
        let (interval, timeout, delete) = timings(i);
        let instance_id_generator = if metadata.is_empty() {
            Some("simple".to_owned())
        } else {
            metadata.get(INSTANCE_ID_GENERATOR).cloned()
        };
        Host {
            instance_id: instance_id(i),
            ip: i.host.clone(),
            port: i.port,
            weight: i.weight,
            healthy: view.healthy,
            enabled: enabled(i),
            ephemeral: i.ephemeral,
            cluster_name: cluster(i).to_owned(),
            service_name: grouped(&i.group_name, &i.service_name),
            metadata,
            instance_heart_beat_interval: interval,
            instance_heart_beat_time_out: timeout,
            ip_delete_timeout: delete,
            instance_id_generator,
        }
    }
}

/// The instance's Nacos cluster.
pub(crate) fn cluster(i: &Instance) -> &str {
    i.metadata
        .get(CLUSTER_KEY)
        .map_or(DEFAULT_CLUSTER, String::as_str)
}

/// Enabled is keel status `UP`; `DOWN` and `OUT_OF_SERVICE` are disabled.
pub(crate) fn enabled(i: &Instance) -> bool {
    i.status == keel_registry::InstanceStatus::Up
}

/// `ip#port#cluster#group@@service`, Nacos's default instance id.
pub(crate) fn instance_id(i: &Instance) -> String {
    format!(
        "{}#{}#{}#{}",
        i.host,
        i.port,
        cluster(i),
        grouped(&i.group_name, &i.service_name)
    )
}

/// The metadata Nacos shows: keel's without the reserved cluster key.
pub(crate) fn metadata(i: &Instance) -> BTreeMap<String, String> {
    let mut metadata = i.metadata.clone();
    metadata.remove(CLUSTER_KEY);
    metadata
}

/// A preserved timing in milliseconds, when the metadata holds digits for it (Nacos ignores
/// any other value).
pub(crate) fn preserved_millis(metadata: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    metadata
        .get(key)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
}

/// Heartbeat interval, unhealthy timeout and delete timeout in milliseconds: a ttl check's own
/// timings (for instances registered through Nacos they come from the preserved metadata),
/// else the preserved metadata, else Nacos's defaults.
fn timings(i: &Instance) -> (u64, u64, u64) {
    let check = &i.health_check;
    if check.kind == CheckKind::Ttl {
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        return (
            ms(check.interval()),
            ms(check.unhealthy_timeout()),
            ms(check.delete_timeout()),
        );
    }
    let m = &i.metadata;
    (
        preserved_millis(m, HEART_BEAT_INTERVAL).unwrap_or(DEFAULT_BEAT_INTERVAL_MS),
        preserved_millis(m, HEART_BEAT_TIMEOUT).unwrap_or(DEFAULT_BEAT_TIMEOUT_MS),
        preserved_millis(m, IP_DELETE_TIMEOUT).unwrap_or(DEFAULT_IP_DELETE_TIMEOUT_MS),
    )
}
