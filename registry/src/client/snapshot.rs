//! Local snapshots: the last instance list the client applied for each discovered service,
//! kept on disk so an application can start (and call its dependencies) while no registry
//! node answers.
//!
//! One JSON file per service at `{dir}/{tenant}/{group}/{service}.json`, replaced atomically
//! by keel-client-kit's [`SnapshotFile`]: a crash mid-write leaves the previous snapshot,
//! never half a file.

use keel_client_kit::{SnapshotDir, SnapshotFile};
use serde::{Deserialize, Serialize};

use crate::{Discovery, ServiceId, now_millis};

/// What a snapshot file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Snapshot {
    /// When it was written (Unix ms), for whoever inspects the file.
    #[serde(default)]
    pub(crate) saved_at: i64,
    /// The list as discovery answered it.
    pub(crate) discovery: Discovery,
}

impl Snapshot {
    pub(crate) fn of(discovery: Discovery) -> Self {
        Snapshot {
            saved_at: now_millis(),
            discovery,
        }
    }
}

/// Where the snapshot of `service` lives. The names were validated (no `/`, not `.` or `..`),
/// so the file stays under the directory.
pub(crate) fn file(snapshots: &SnapshotDir, service: &ServiceId) -> SnapshotFile {
    snapshots.file(&[&service.tenant, &service.group, &service.service])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LoadBalance;

    fn discovery(revision: i64) -> Discovery {
        Discovery {
            service: ServiceId::new("default", "DEFAULT_GROUP", "orders"),
            revision,
            protect_threshold_triggered: false,
            load_balance: LoadBalance::WeightedRandom,
            instances: Vec::new(),
        }
    }

    /// The file format: what a snapshot written by one version reads back as.
    #[tokio::test]
    async fn a_service_snapshot_loads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let snapshots = SnapshotDir::new(dir.path().to_owned());
        let file = file(&snapshots, &discovery(1).service);
        assert_eq!(
            file.path(),
            dir.path().join("default/DEFAULT_GROUP/orders.json")
        );
        file.save(Snapshot::of(discovery(2))).await.unwrap();
        let loaded: Snapshot = file.load().await.unwrap().unwrap();
        assert_eq!(loaded.discovery, discovery(2));
    }
}
