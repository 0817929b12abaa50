//! Job logs: one file per job holding its steps' output in order, written as output
//! arrives; each step's byte range is in the ledger, so one step reads back as a stream.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::dir::StateDir;
use crate::error::StateError;
use crate::ledger::validate_run_id;

/// Space kept free on the logs' file system: when logs fill a disk, the run's final
/// state (failed, every step's end) must still fit in the ledger beside them.
pub const LEDGER_RESERVE: u64 = 1 << 20;
/// Most bytes written between two looks at the free space.
const CHECK_EVERY: u64 = 1 << 20;

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
    /// The log store of `dir`.
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
            budget: 0,
            reserve: LEDGER_RESERVE,
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
    /// Bytes that may be written before the free space is looked at again.
    budget: u64,
    /// Free space never written into.
    reserve: u64,
}

impl LogWriter {
    /// Appends bytes (buffered). Fails with [`StateError::DiskFull`] rather than take
    /// the last [`LEDGER_RESERVE`] bytes of the disk.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let len = bytes.len() as u64;
        if len > self.budget {
            self.budget = self.room()?;
            if len > self.budget {
                return Err(StateError::DiskFull {
                    path: self.path.display().to_string(),
                    reserve: format!("{} KiB", self.reserve / 1024),
                });
            }
        }
        self.budget -= len;
        self.out
            .write_all(bytes)
            .map_err(|e| StateError::io(self.path.display(), e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// How much may be written before looking again: what the file system has free beyond
    /// the reserve, at most [`CHECK_EVERY`].
    fn room(&self) -> Result<u64, StateError> {
        let dir = self.path.parent().unwrap_or(&self.path);
        let stat = nix::sys::statvfs::statvfs(dir)
            .map_err(|e| StateError::io(dir.display(), std::io::Error::from(e)))?;
        let free = (stat.blocks_available() as u64).saturating_mul(stat.fragment_size() as u64);
        Ok(free.saturating_sub(self.reserve).min(CHECK_EVERY))
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
    fn a_log_never_takes_the_space_kept_for_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(&StateDir::at(dir.path()));
        let mut w = store.create("01ABC", "j").unwrap();
        w.write(b"fits\n").unwrap();
        // Pretend the disk is down to its reserve: no byte more.
        w.reserve = u64::MAX / 2;
        w.budget = 0;
        let e = w.write(b"x").unwrap_err();
        assert!(matches!(e, StateError::DiskFull { .. }), "{e}");
        assert!(e.to_string().contains("disk is full"), "{e}");
    }

    #[test]
    fn slugs_are_safe_and_distinct() {
        assert_ne!(job_slug("a/b"), job_slug("a_b"));
        assert!(!job_slug("../../etc").contains('/'));
        let store = LogStore::new(&StateDir::at("/s"));
        assert!(store.create("../x", "j").is_err());
    }
}
