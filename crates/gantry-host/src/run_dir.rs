//! A run's directory under the backend's root (`<root>/<run-id>/`): made with the run's
//! first environment, removed with its last, and marked with its owner (the gantry
//! process: pid and start time) so a reaper can prove the owner dead before touching it.
//!
//! Jobs of one run live in one process, so a process-wide count of open environments per
//! run orders creation and removal exactly; no other process ever writes this run's dir.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use gantry_backend::BackendError;

use crate::proc_scan;

/// The file in a run dir naming its owner.
pub(crate) const MARKER: &str = ".gantry-run";

/// The open environments of each run this process has under one root.
#[derive(Debug, Default, Clone)]
pub(crate) struct RunDirs {
    open: Arc<Mutex<HashMap<PathBuf, usize>>>,
}

impl RunDirs {
    /// Makes `<root>/<run_id>/` (with its owner marker) if needed and a fresh job dir
    /// `<base>-<n>` in it.
    pub(crate) fn create_job_dir(
        &self,
        root: &Path,
        run_id: &str,
        base: &str,
    ) -> Result<(PathBuf, PathBuf), BackendError> {
        let run_dir = root.join(run_id);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        std::fs::create_dir_all(&run_dir).map_err(|e| BackendError::io(run_dir.display(), e))?;
        let marker = run_dir.join(MARKER);
        if !marker.exists() {
            std::fs::write(&marker, proc_scan::owner_marker(run_id))
                .map_err(|e| BackendError::io(marker.display(), e))?;
        }
        let mut n = 0;
        let dir = loop {
            let candidate = run_dir.join(format!("{base}-{n}"));
            match std::fs::create_dir(&candidate) {
                Ok(()) => break candidate,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(BackendError::io(candidate.display(), e)),
            }
        };
        *open.entry(run_dir.clone()).or_default() += 1;
        Ok((run_dir, dir))
    }

    /// Removes a job dir made by [`RunDirs::create_job_dir`]; the run dir goes with the
    /// run's last one.
    pub(crate) fn remove_job_dir(&self, run_dir: &Path, dir: &Path) -> Result<(), BackendError> {
        let removed = remove_tree(dir);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let last = match open.get_mut(run_dir) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                open.remove(run_dir);
                true
            }
            None => false,
        };
        // The run dir goes when nothing but its marker is left. Something else in it is
        // another process's (a plugin that crashed mid-job left its job dir): it stays,
        // marked, for a reaper to judge.
        let only_marker = || {
            std::fs::read_dir(run_dir)
                .map(|d| d.flatten().all(|e| e.file_name() == MARKER))
                .unwrap_or(false)
        };
        if last && only_marker() {
            let _ = std::fs::remove_file(run_dir.join(MARKER));
            match std::fs::remove_dir(run_dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return removed.and(Err(BackendError::io(run_dir.display(), e))),
            }
        }
        removed
    }
}

/// Removes `dir` and everything in it, even what a step made read-only.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), BackendError> {
    if !dir.exists() {
        return Ok(());
    }
    make_writable(dir);
    std::fs::remove_dir_all(dir).map_err(|e| BackendError::io(dir.display(), e))
}

/// Steps may leave read-only directories behind; make them removable.
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in ignore::WalkBuilder::new(dir)
        .standard_filters(false)
        .build()
        .flatten()
    {
        if entry.file_type().is_some_and(|t| t.is_dir()) {
            if let Ok(meta) = std::fs::metadata(entry.path()) {
                let mut p = meta.permissions();
                if p.mode() & 0o700 != 0o700 {
                    p.set_mode(p.mode() | 0o700);
                    let _ = std::fs::set_permissions(entry.path(), p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_dir_goes_with_its_last_job() {
        let root = tempfile::tempdir().unwrap();
        let dirs = RunDirs::default();
        let (run, a) = dirs.create_job_dir(root.path(), "R1", "a").unwrap();
        let (_, b) = dirs.create_job_dir(root.path(), "R1", "a").unwrap();
        assert_ne!(a, b);
        assert!(run.join(MARKER).exists());
        dirs.remove_job_dir(&run, &a).unwrap();
        assert!(run.join(MARKER).exists() && b.exists());
        dirs.remove_job_dir(&run, &b).unwrap();
        assert!(!run.exists());
    }

    #[test]
    fn what_another_process_left_in_the_run_dir_stays_for_the_reaper() {
        let root = tempfile::tempdir().unwrap();
        let dirs = RunDirs::default();
        let (run, a) = dirs.create_job_dir(root.path(), "R1", "a").unwrap();
        std::fs::create_dir(run.join("crashed-0")).unwrap();
        dirs.remove_job_dir(&run, &a).unwrap();
        assert!(!a.exists() && run.join("crashed-0").exists() && run.join(MARKER).exists());
    }
}
