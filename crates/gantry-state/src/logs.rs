//! Step logs: one file per step, written as output arrives, read back as a stream.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::dir::StateDir;
use crate::error::StateError;
use crate::ledger::validate_run_id;

/// Where step logs live.
#[derive(Debug, Clone)]
pub struct LogStore {
    root: PathBuf,
}

/// A file-system-safe, collision-free name for a job key such as `build (linux, 1)`.
fn job_slug(key: &str) -> String {
    let mut slug: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let digest = Sha256::digest(key.as_bytes());
    slug.push('-');
    for b in &digest[..4] {
        slug.push_str(&format!("{b:02x}"));
    }
    slug
}

impl LogStore {
    pub fn new(dir: &StateDir) -> LogStore {
        LogStore {
            root: dir.logs_dir(),
        }
    }

    /// The log file of one step.
    pub fn path(&self, run_id: &str, job_key: &str, step_index: usize) -> PathBuf {
        let run = if validate_run_id(run_id).is_ok() {
            run_id.to_string()
        } else {
            "invalid-run-id".into()
        };
        self.root
            .join(run)
            .join(job_slug(job_key))
            .join(format!("{step_index}.log"))
    }

    /// Creates (truncating) a step's log file.
    pub fn create(
        &self,
        run_id: &str,
        job_key: &str,
        step_index: usize,
    ) -> Result<LogWriter, StateError> {
        validate_run_id(run_id)?;
        let path = self.path(run_id, job_key, step_index);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StateError::io(parent.display(), e))?;
        }
        let file = File::create(&path).map_err(|e| StateError::io(path.display(), e))?;
        Ok(LogWriter {
            out: BufWriter::with_capacity(64 * 1024, file),
            path,
            written: 0,
        })
    }

    /// Opens a step's log for reading.
    pub fn open(
        &self,
        run_id: &str,
        job_key: &str,
        step_index: usize,
    ) -> Result<impl std::io::Read, StateError> {
        validate_run_id(run_id)?;
        let path = self.path(run_id, job_key, step_index);
        File::open(&path).map_err(|e| StateError::io(path.display(), e))
    }
}

/// An open step log.
#[derive(Debug)]
pub struct LogWriter {
    out: BufWriter<File>,
    path: PathBuf,
    written: u64,
}

impl LogWriter {
    /// Appends bytes (buffered).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.out
            .write_all(bytes)
            .map_err(|e| StateError::io(self.path.display(), e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Flushes and closes; returns the bytes written.
    pub fn finish(mut self) -> Result<u64, StateError> {
        self.out
            .flush()
            .map_err(|e| StateError::io(self.path.display(), e))?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn writes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(&StateDir::at(dir.path()));
        let mut w = store.create("01ABC", "build (linux, 1)", 2).unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..4 {
            w.write(&chunk).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 4 << 20);
        let mut back = Vec::new();
        store
            .open("01ABC", "build (linux, 1)", 2)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back.len(), 4 << 20);
    }

    #[test]
    fn slugs_are_safe_and_distinct() {
        assert_ne!(job_slug("a/b"), job_slug("a_b"));
        assert!(!job_slug("../../etc").contains('/'));
        let store = LogStore::new(&StateDir::at("/s"));
        assert!(store.create("../x", "j", 0).is_err());
    }
}
