//! Local snapshots: the last configuration received for each namespace, kept on disk so an
//! instance can start while no config center node answers.
//!
//! One JSON file per namespace at `{dir}/{env}/{app}/{cluster}/{namespace}.json`, replaced
//! atomically by keel-client-kit's [`SnapshotFile`](keel_client_kit::SnapshotFile): a crash
//! mid-write leaves the previous snapshot, never half a file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Format, NamespaceId};

/// What a snapshot file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    /// The namespace served (after cluster fallback).
    pub(crate) served: NamespaceId,
    /// Its format, when known.
    #[serde(default)]
    pub(crate) format: Option<Format>,
    /// The release the configuration belongs to.
    pub(crate) release_key: String,
    /// Key → value.
    pub(crate) configs: BTreeMap<String, String>,
    /// When it was written (Unix ms), for whoever inspects the file.
    #[serde(default)]
    pub(crate) saved_at: i64,
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use keel_client_kit::SnapshotDir;

    use super::*;

    fn snapshot(key: &str) -> Snapshot {
        Snapshot {
            served: NamespaceId {
                env: "dev".into(),
                app: "shop".into(),
                cluster: "default".into(),
                namespace: "application".into(),
            },
            format: Some(Format::Properties),
            release_key: key.into(),
            configs: BTreeMap::from([("db.pool".into(), "10".into())]),
            saved_at: now_ms(),
        }
    }

    /// The file format: what a snapshot written by one version reads back as.
    #[tokio::test]
    async fn a_namespace_snapshot_loads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let file =
            SnapshotDir::new(dir.path().to_owned()).file(&["dev", "shop", "bj", "application"]);
        assert_eq!(file.path(), dir.path().join("dev/shop/bj/application.json"));
        let written = snapshot("r1");
        file.save(written.clone()).await.unwrap();
        assert_eq!(file.load::<Snapshot>().await.unwrap(), Some(written));
    }
}
