//! Job logs: one file per job holding its steps' output in order, written as output
//! arrives; each step's byte range is in the ledger, so one step reads back as a stream.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
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

    /// The log file of one job: its steps' output, one after another.
    pub fn path(&self, run_id: &str, job_key: &str) -> PathBuf {
        let run = if validate_run_id(run_id).is_ok() {
            run_id.to_string()
        } else {
            "invalid-run-id".into()
        };
        self.root
            .join(run)
            .join(format!("{}.log", job_slug(job_key)))
    }

    /// Creates (truncating) a job's log file.
    pub fn create(&self, run_id: &str, job_key: &str) -> Result<LogWriter, StateError> {
        validate_run_id(run_id)?;
        let path = self.path(run_id, job_key);
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

    /// Opens the byte range `offset..offset + len` of a job's log (one step's output).
    pub fn open(
        &self,
        run_id: &str,
        job_key: &str,
        offset: u64,
        len: u64,
    ) -> Result<impl Read, StateError> {
        validate_run_id(run_id)?;
        let path = self.path(run_id, job_key);
        let mut file = File::open(&path).map_err(|e| StateError::io(path.display(), e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| StateError::io(path.display(), e))?;
        Ok(file.take(len))
    }
}

/// An open job log.
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

    /// Bytes written so far: where the next step's output starts.
    pub fn offset(&self) -> u64 {
        self.written
    }

    /// Writes buffered bytes to the file, so readers see them.
    pub fn flush(&mut self) -> Result<(), StateError> {
        self.out
            .flush()
            .map_err(|e| StateError::io(self.path.display(), e))
    }

    /// Flushes and closes; returns the bytes written.
    pub fn finish(mut self) -> Result<u64, StateError> {
        self.flush()?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn writes_and_reads_back_step_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(&StateDir::at(dir.path()));
        let mut w = store.create("01ABC", "build (linux, 1)").unwrap();
        w.write(b"first step\n").unwrap();
        let start = w.offset();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..4 {
            w.write(&chunk).unwrap();
        }
        let len = w.offset() - start;
        assert_eq!(w.finish().unwrap(), 11 + (4 << 20));
        let mut back = Vec::new();
        store
            .open("01ABC", "build (linux, 1)", start, len)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back.len(), 4 << 20);
        let mut first = String::new();
        store
            .open("01ABC", "build (linux, 1)", 0, 11)
            .unwrap()
            .read_to_string(&mut first)
            .unwrap();
        assert_eq!(first, "first step\n");
    }

    #[test]
    fn slugs_are_safe_and_distinct() {
        assert_ne!(job_slug("a/b"), job_slug("a_b"));
        assert!(!job_slug("../../etc").contains('/'));
        let store = LogStore::new(&StateDir::at("/s"));
        assert!(store.create("../x", "j").is_err());
    }
}
