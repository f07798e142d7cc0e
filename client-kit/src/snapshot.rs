//! Local snapshots: JSON files an SDK keeps of the last state it received, so an application
//! can start while no server answers.
//!
//! A file is replaced atomically (write a temporary file beside it, fsync, rename, fsync the
//! directory): a crash mid-write leaves the previous snapshot, never half a file. File I/O
//! runs on tokio's blocking pool, off the async workers.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The snapshot directory of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotDir {
    root: PathBuf,
}

/// One snapshot file: read it with [`load`](Self::load), replace it with [`save`](Self::save).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    path: PathBuf,
}

impl SnapshotDir {
    /// Snapshots under `root` (created on the first write).
    pub fn new(root: PathBuf) -> Self {
        SnapshotDir { root }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file `{root}/{dirs...}/{name}.json` for `[dirs..., name]`.
    ///
    /// The segments must already be validated names (no `/`, not `.` or `..`): that is what
    /// keeps the file under the root.
    pub fn file(&self, segments: &[&str]) -> SnapshotFile {
        let mut path = self.root.clone();
        if let Some((name, dirs)) = segments.split_last() {
            path.extend(dirs);
            path.push(format!("{name}.json"));
        }
        SnapshotFile { path }
    }
}

impl SnapshotFile {
    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the snapshot; `Ok(None)` when there is none. A file that does not hold a `T`
    /// is an [`Error::Snapshot`] that says to delete it.
    pub async fn load<T>(&self) -> Result<Option<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let path = self.path.clone();
        run_blocking(move || match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| snapshot_error(&path, format!("is not a snapshot ({e}); delete it"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(snapshot_error(&path, format!("cannot be read: {e}"))),
        })
        .await
    }

    /// Replaces the snapshot with `value` atomically, creating its directory if needed.
    pub async fn save<T>(&self, value: T) -> Result<()>
    where
        T: Serialize + Send + 'static,
    {
        let path = self.path.clone();
        run_blocking(move || write_atomically(&path, &value)).await
    }
}

fn write_atomically<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| snapshot_error(path, format!("{what}: {e}"));
    let dir = path
        .parent()
        .ok_or_else(|| snapshot_error(path, "has no parent directory".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| fail("cannot create its directory", e))?;
    let bytes = serde_json::to_vec_pretty(value)
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
    use std::collections::BTreeMap;

    use super::*;

    fn state(version: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("version".to_owned(), version.to_owned()),
            ("db.pool".to_owned(), "10".to_owned()),
        ])
    }

    #[test]
    fn files_are_named_by_their_segments() {
        let snapshots = SnapshotDir::new("/var/lib/app".into());
        assert_eq!(snapshots.root(), Path::new("/var/lib/app"));
        assert_eq!(
            snapshots.file(&["dev", "shop", "bj", "application"]).path(),
            Path::new("/var/lib/app/dev/shop/bj/application.json")
        );
        assert_eq!(
            snapshots.file(&["orders"]).path(),
            Path::new("/var/lib/app/orders.json")
        );
    }

    #[tokio::test]
    async fn saves_atomically_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let snapshots = SnapshotDir::new(dir.path().to_owned());
        let file = snapshots.file(&["default", "DEFAULT_GROUP", "orders"]);
        assert_eq!(
            file.path(),
            dir.path().join("default/DEFAULT_GROUP/orders.json")
        );
        assert_eq!(file.load::<BTreeMap<String, String>>().await.unwrap(), None);
        file.save(state("r1")).await.unwrap();
        file.save(state("r2")).await.unwrap();
        let loaded: BTreeMap<String, String> = file.load().await.unwrap().unwrap();
        assert_eq!(loaded, state("r2"));
        let leftovers: Vec<_> = std::fs::read_dir(file.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("orders.json")]);
    }

    #[tokio::test]
    async fn a_damaged_snapshot_is_an_error_that_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = SnapshotDir::new(dir.path().to_owned()).file(&["dev", "application"]);
        std::fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        std::fs::write(file.path(), b"{half").unwrap();
        let err = file
            .load::<BTreeMap<String, String>>()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("application.json") && err.contains("delete it"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_file_where_the_directory_should_be_fails_the_write_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dev"), b"not a directory").unwrap();
        let file = SnapshotDir::new(dir.path().to_owned()).file(&["dev", "application"]);
        let err = file.save(state("r1")).await.unwrap_err().to_string();
        assert!(err.contains("cannot create its directory"), "{err}");
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, vec![std::ffi::OsString::from("dev")]);
    }
}
