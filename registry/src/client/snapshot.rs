//! Local snapshots: the last instance list the client applied for each discovered service,
//! kept on disk so an application can start (and call its dependencies) while no registry
//! node answers.
//!
//! One JSON file per service at `{dir}/{tenant}/{group}/{service}.json`, replaced atomically
//! (write a temporary file beside it, fsync, rename): a crash mid-write leaves the previous
//! snapshot, never half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use crate::{Discovery, now_millis};

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

/// The snapshot directory of one client.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotDir {
    root: PathBuf,
}

impl SnapshotDir {
    pub(crate) fn new(root: PathBuf) -> Self {
        SnapshotDir { root }
    }

    /// Where the snapshot of a service lives. The names were validated (no `/`, not `.` or
    /// `..`), so the path stays under the root.
    pub(crate) fn path(&self, tenant: &str, group: &str, service: &str) -> PathBuf {
        self.root
            .join(tenant)
            .join(group)
            .join(format!("{service}.json"))
    }

    /// Reads a snapshot; `Ok(None)` when there is none.
    pub(crate) async fn load(&self, path: PathBuf) -> Result<Option<Snapshot>> {
        run_blocking(move || match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| snapshot_error(&path, format!("is not a snapshot ({e}); delete it"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(snapshot_error(&path, format!("cannot be read: {e}"))),
        })
        .await
    }

    /// Replaces the snapshot at `path` atomically.
    pub(crate) async fn save(&self, path: PathBuf, snapshot: Snapshot) -> Result<()> {
        run_blocking(move || write_atomically(&path, &snapshot)).await
    }
}

fn write_atomically(path: &Path, snapshot: &Snapshot) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| snapshot_error(path, format!("{what}: {e}"));
    let dir = path
        .parent()
        .ok_or_else(|| snapshot_error(path, "has no parent directory".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| fail("cannot create its directory", e))?;
    let bytes = serde_json::to_vec_pretty(snapshot)
        .map_err(|e| snapshot_error(path, format!("cannot be encoded: {e}")))?;
    // A name unique to this process and write, so two clients sharing a directory never
    // write through the same temporary file.
    let temp = path.with_extension(format!(
        "json.tmp-{}-{}",
        std::process::id(),
        next_write_id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temp).map_err(|e| fail("cannot create", e))?;
        file.write_all(&bytes)
            .map_err(|e| fail("cannot write", e))?;
        file.sync_all().map_err(|e| fail("cannot fsync", e))?;
        std::fs::rename(&temp, path).map_err(|e| fail("cannot rename into place", e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result?;
    // The rename is durable only once the directory is; not every platform can open one.
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

fn next_write_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn snapshot_error(path: &Path, message: String) -> Error {
    Error::Snapshot {
        path: path.display().to_string(),
        message,
    }
}

/// File I/O blocks; keep it off the async workers.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Snapshot {
            path: String::new(),
            message: format!("the snapshot task failed: {e}"),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LoadBalance, ServiceId};

    fn discovery(revision: i64) -> Discovery {
        Discovery {
            service: ServiceId::new("default", "DEFAULT_GROUP", "orders"),
            revision,
            protect_threshold_triggered: false,
            load_balance: LoadBalance::WeightedRandom,
            instances: Vec::new(),
        }
    }

    #[tokio::test]
    async fn saves_atomically_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let snapshots = SnapshotDir::new(dir.path().to_owned());
        let path = snapshots.path("default", "DEFAULT_GROUP", "orders");
        assert_eq!(path, dir.path().join("default/DEFAULT_GROUP/orders.json"));
        assert_eq!(snapshots.load(path.clone()).await.unwrap(), None);
        snapshots
            .save(path.clone(), Snapshot::of(discovery(1)))
            .await
            .unwrap();
        snapshots
            .save(path.clone(), Snapshot::of(discovery(2)))
            .await
            .unwrap();
        let loaded = snapshots.load(path.clone()).await.unwrap().unwrap();
        assert_eq!(loaded.discovery, discovery(2));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("orders.json")]);
    }

    #[tokio::test]
    async fn a_damaged_snapshot_is_an_error_that_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let snapshots = SnapshotDir::new(dir.path().to_owned());
        let path = snapshots.path("default", "DEFAULT_GROUP", "orders");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{half").unwrap();
        let err = snapshots.load(path).await.unwrap_err().to_string();
        assert!(
            err.contains("orders.json") && err.contains("delete it"),
            "{err}"
        );
    }
}
