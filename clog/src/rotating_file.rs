//! A log file rotated by size with a bounded number of old files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{Error, Result};

/// `app.log`, rotated to `app.log.1` … `app.log.{keep}` when it would pass `max_bytes`.
///
/// One `write` call is one log line (the formatter buffers a whole line), so a line is never
/// split across two files.
pub(crate) struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    state: Mutex<State>,
}

struct State {
    file: File,
    size: u64,
}

impl RotatingFile {
    pub(crate) fn open(path: &Path, max_bytes: u64, keep: usize) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| Error::File {
                path: dir.to_owned(),
                source,
            })?;
        }
        let file = open_append(path).map_err(|source| Error::File {
            path: path.to_owned(),
            source,
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingFile {
            path: path.to_owned(),
            max_bytes,
            keep,
            state: Mutex::new(State { file, size }),
        })
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&self, state: &mut State) -> io::Result<()> {
        state.file.flush()?;
        if self.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            fs::rename(&self.path, self.rotated(1))?;
        }
        state.file = open_append(&self.path)?;
        state.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Write for &RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A poisoned lock only means another thread panicked mid-write; the file is still usable.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.size > 0 && state.size + buf.len() as u64 > self.max_bytes {
            self.rotate(&mut state)?;
        }
        state.file.write_all(buf)?;
        state.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_at_most_keep_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/app.log");
        let file = RotatingFile::open(&path, 100, 2).unwrap();
        let line = [b'x'; 39];
        for _ in 0..20 {
            (&file).write_all(&line).unwrap();
        }
        assert!(fs::metadata(&path).unwrap().len() <= 100);
        assert!(dir.path().join("logs/app.log.1").exists());
        assert!(dir.path().join("logs/app.log.2").exists());
        assert!(!dir.path().join("logs/app.log.3").exists());
        // No line is split: every file holds whole 39-byte lines.
        for name in ["app.log", "app.log.1", "app.log.2"] {
            let len = fs::metadata(dir.path().join("logs").join(name))
                .unwrap()
                .len();
            assert_eq!(len % 39, 0, "{name} has {len} bytes");
        }
    }

    #[test]
    fn reopening_appends_and_counts_existing_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        (&RotatingFile::open(&path, 100, 1).unwrap())
            .write_all(&[b'a'; 80])
            .unwrap();
        let file = RotatingFile::open(&path, 100, 1).unwrap();
        (&file).write_all(&[b'b'; 30]).unwrap();
        assert_eq!(
            fs::metadata(dir.path().join("app.log.1")).unwrap().len(),
            80
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), 30);
    }

    #[test]
    fn keep_zero_discards_old_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let file = RotatingFile::open(&path, 10, 0).unwrap();
        (&file).write_all(b"0123456789").unwrap();
        (&file).write_all(b"abc").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"abc");
        assert!(!dir.path().join("app.log.1").exists());
    }
}
