//! Which runs are alive, and the lock that makes reaping safe when several gantrys share
//! one state dir.
//!
//! A run is alive while the process that recorded it (pid *and* start time, so a reused
//! pid does not count) runs on this host. A reaper must never remove what belongs to a
//! live run, but the list of live runs is only true at the moment it is read: a run that
//! registers just after it would look dead. So registering and reaping are ordered by a
//! file lock (`<state>/reap.lock`):
//!
//! ```text
//!   run:     lock shared ─ insert `running` row ─ unlock ─ create environments ...
//!   reaper:  lock exclusive ─ list live runs ─ reap every backend ─ unlock
//! ```
//!
//! A run is thus either on the reaper's list or creates nothing before the reap ended.
//! The lock is an `flock`: the kernel drops it when its holder dies, so a crashed gantry
//! never leaves it held.

use std::fs::File;
use std::path::Path;

use rusqlite::params;

use crate::error::StateError;
use crate::ledger::{hostname, now, process_start, Ledger};

/// Why a run whose process is gone did not end on its own.
pub const CRASHED: &str = "gantry stopped before the run ended (crashed or was killed)";

/// A held reap lock; released on drop (or when the process dies).
#[derive(Debug)]
pub(crate) struct ReapLock {
    _file: File,
}

fn open_lock(path: &Path) -> Result<File, StateError> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StateError::io(path.display(), e))
}

impl ReapLock {
    /// Takes the lock shared (waiting for a reaper to finish): for registering a run.
    pub(crate) fn shared(path: &Path) -> Result<ReapLock, StateError> {
        let file = open_lock(path)?;
        file.lock_shared()
            .map_err(|e| StateError::io(path.display(), e))?;
        Ok(ReapLock { _file: file })
    }

    /// Takes the lock exclusively; with `wait` false, `None` when someone holds it.
    fn exclusive(path: &Path, wait: bool) -> Result<Option<ReapLock>, StateError> {
        let file = open_lock(path)?;
        if wait {
            file.lock().map_err(|e| StateError::io(path.display(), e))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(StateError::io(path.display(), e))
                }
            }
        }
        Ok(Some(ReapLock { _file: file }))
    }
}

/// The live runs, true for as long as this guard is held: no run registers meanwhile.
#[derive(Debug)]
pub struct LiveRuns {
    /// Ids of the runs whose gantry is still running (or that run on another host, which
    /// cannot be checked from here).
    pub ids: Vec<String>,
    _lock: ReapLock,
}

impl Ledger {
    /// Runs still in progress in a live gantry process. Runs marked running whose
    /// process is gone are recorded as crashed here (failed, with [`CRASHED`] as their
    /// error, and so are their unfinished jobs and steps). Only a snapshot: to reap, use
    /// [`Ledger::reap_guard`].
    pub fn live_run_ids(&self) -> Result<Vec<String>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT id, pid, pid_start, host FROM runs WHERE status = 'running'")
            .map_err(|e| self.db(e))?;
        let running = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| self.db(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.db(e))?;
        drop(stmt);
        let here = hostname();
        let mut live = Vec::new();
        for (id, pid, start, host) in running {
            let alive = host != here || process_start(pid).is_some_and(|s| s == start);
            if alive {
                live.push(id);
                continue;
            }
            let at = now();
            let marked = conn
                .execute(
                    "UPDATE runs SET status = 'failure', finished_at = ?2, error = ?3
                     WHERE id = ?1 AND status = 'running'",
                    params![id, at, CRASHED],
                )
                .and_then(|_| {
                    conn.execute(
                        "UPDATE jobs SET status = 'failure', finished_at = ?2,
                           error = COALESCE(error, ?3)
                         WHERE run_id = ?1 AND status IN ('running', 'pending')",
                        params![id, at, CRASHED],
                    )
                })
                .and_then(|_| {
                    conn.execute(
                        "UPDATE steps SET status = 'failure', outcome = 'failure', finished_at = ?2
                         WHERE run_id = ?1 AND status IN ('running', 'pending')",
                        params![id, at],
                    )
                });
            marked.map_err(|e| self.db(e))?;
        }
        Ok(live)
    }

    /// Takes the state dir's reap lock and lists the live runs under it (see the module
    /// docs). With `wait` false, `None` when another gantry is reaping or registering a
    /// run right now.
    pub fn reap_guard(&self, wait: bool) -> Result<Option<LiveRuns>, StateError> {
        let Some(lock) = ReapLock::exclusive(&self.reap_lock, wait)? else {
            return Ok(None);
        };
        let ids = self.live_run_ids()?;
        Ok(Some(LiveRuns { ids, _lock: lock }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewRun, RunStatus, StateDir};

    #[test]
    fn a_run_waits_for_a_reaper_and_a_reaper_skips_a_busy_lock() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path().join("s"));
        let l = Ledger::open(&state).unwrap();
        let guard = l.reap_guard(true).unwrap().unwrap();
        assert!(guard.ids.is_empty());
        // Another reaper does not wait.
        assert!(l.reap_guard(false).unwrap().is_none());
        let l2 = l.clone();
        let id = Ledger::new_run_id();
        let id2 = id.clone();
        let registering = std::thread::spawn(move || {
            l2.start_run(&NewRun {
                id: id2,
                workflow_name: "w".into(),
                workflow_path: "p".into(),
            })
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            l.run(&id).unwrap().is_none(),
            "a run registers only after the reaper let go"
        );
        drop(guard);
        registering.join().unwrap().unwrap();
        let guard = l.reap_guard(false).unwrap().unwrap();
        assert_eq!(guard.ids, vec![id.clone()]);
        assert_eq!(l.run(&id).unwrap().unwrap().status, RunStatus::Running);
    }
}
