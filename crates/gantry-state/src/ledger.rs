//! The SQLite ledger of runs, jobs and steps.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, OptionalExtension};

use crate::dir::StateDir;
use crate::error::StateError;
use crate::records::{JobRecord, JobStatus, NewRun, RunRecord, RunStatus, StepRecord};

/// This component's name in the `migrations` table.
const COMPONENT: &str = "ledger";

/// Schema versions, applied in order; each runs once.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    workflow_name TEXT NOT NULL,
    workflow_path TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    exit_code INTEGER,
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL,
    host TEXT NOT NULL
);
CREATE TABLE jobs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    backend TEXT,
    started_at TEXT,
    finished_at TEXT,
    outputs TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE steps (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    job_key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    step_id TEXT,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    exit_code INTEGER,
    attempts INTEGER NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    outputs TEXT NOT NULL,
    log_path TEXT,
    PRIMARY KEY (run_id, job_key, idx)
);
"#,
    // 2: job logs hold every step; a step's output is a byte range of its job's log.
    r#"
ALTER TABLE steps ADD COLUMN log_offset INTEGER;
ALTER TABLE steps ADD COLUMN log_len INTEGER;
"#,
    // 3: why a run failed when no exit code tells (its gantry crashed or was killed).
    r#"
ALTER TABLE runs ADD COLUMN error TEXT;
"#,
];

/// How long a write waits for another gantry's write to the ledger to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The ledger. Clones share one connection.
#[derive(Clone)]
pub struct Ledger {
    pub(crate) conn: Arc<Mutex<Connection>>,
    pub(crate) path: PathBuf,
    /// The state dir's reap lock (see [`crate::liveness`]).
    pub(crate) reap_lock: PathBuf,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("path", &self.path).finish()
    }
}

pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The start time of process `pid` (field 22 of /proc/PID/stat), to tell a live run's
/// process from an unrelated one that reused its pid.
pub(crate) fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    // Fields after the command: state is field 3, starttime is field 22.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let state = fields.first()?;
    if *state == "Z" || *state == "X" {
        return None;
    }
    fields.get(19).map(|s| s.to_string())
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`.
    pub fn open(dir: &StateDir) -> Result<Ledger, StateError> {
        dir.ensure()?;
        let path = dir.db_path();
        let conn = Connection::open(&path).map_err(|e| StateError::db(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| StateError::db(&path, e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        )
        .map_err(|e| StateError::db(&path, e))?;
        let ledger = Ledger {
            conn: Arc::new(Mutex::new(conn)),
            path,
            reap_lock: dir.reap_lock_path(),
        };
        ledger.migrate(COMPONENT, MIGRATIONS)?;
        ledger.migrate(crate::artifacts::COMPONENT, crate::artifacts::MIGRATIONS)?;
        Ok(ledger)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves a usable connection: SQLite rolls back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn db(&self, e: rusqlite::Error) -> StateError {
        StateError::db(&self.path, e)
    }

    /// Applies `component`'s migrations that have not run yet, in one transaction.
    fn migrate(&self, component: &str, migrations: &[&str]) -> Result<(), StateError> {
        let mut conn = self.lock();
        // Most opens find the schema current: a plain read, no write lock taken.
        let current: Option<i64> = conn
            .query_row(
                "SELECT version FROM migrations WHERE component = ?1",
                [component],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten();
        if current == Some(migrations.len() as i64) {
            return Ok(());
        }
        // IMMEDIATE: take the write lock up front (waiting for it), so two gantrys opening
        // a new ledger at once never both read version 0 and then fail to upgrade.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| StateError::db(&self.path, e))?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS migrations (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
        )
        .map_err(|e| StateError::db(&self.path, e))?;
        let version: i64 = tx
            .query_row(
                "SELECT version FROM migrations WHERE component = ?1",
                [component],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| StateError::db(&self.path, e))?
            .unwrap_or(0);
        if version > migrations.len() as i64 {
            return Err(StateError::Corrupt {
                path: self.path.display().to_string(),
                what: format!("schema version {version} is newer than this gantry understands; upgrade gantry"),
            });
        }
        for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)
                .map_err(|e| StateError::db(&self.path, e))?;
            tx.execute(
                "INSERT INTO migrations (component, version) VALUES (?1, ?2)
                 ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                params![component, (i + 1) as i64],
            )
            .map_err(|e| StateError::db(&self.path, e))?;
        }
        tx.commit().map_err(|e| StateError::db(&self.path, e))
    }

    /// A new, time-ordered run id.
    pub fn new_run_id() -> String {
        ulid::Ulid::new().to_string()
    }

    /// Records a run as started by this process.
    pub fn start_run(&self, run: &NewRun) -> Result<(), StateError> {
        validate_run_id(&run.id)?;
        let pid = std::process::id();
        let start = process_start(pid).unwrap_or_default();
        // Registered under the reap lock: a reaper lists the live runs and reaps while it
        // holds the lock, so this run is either on its list or starts after it finished.
        let _registering = crate::liveness::ReapLock::shared(&self.reap_lock)?;
        self.lock()
            .execute(
                "INSERT INTO runs (id, workflow_name, workflow_path, status, started_at, pid, pid_start, host)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7)",
                params![run.id, run.workflow_name, run.workflow_path, now(), pid, start, hostname()],
            )
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Records how a run ended, and why when it failed for a reason outside the workflow
    /// (`error`, e.g. the disk filled up).
    pub fn finish_run(
        &self,
        id: &str,
        status: RunStatus,
        exit_code: i32,
        error: Option<&str>,
    ) -> Result<(), StateError> {
        self.lock()
            .execute(
                "UPDATE runs SET status = ?2, exit_code = ?3, finished_at = ?4, error = ?5 WHERE id = ?1",
                params![id, status.as_str(), exit_code, now(), error],
            )
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Inserts or updates a job of a run.
    pub fn upsert_job(&self, run_id: &str, job: &JobRecord) -> Result<(), StateError> {
        let outputs = serde_json::to_string(&job.outputs).unwrap_or_else(|_| "{}".into());
        self.lock()
            .prepare_cached(
                "INSERT INTO jobs (run_id, key, seq, name, status, backend, started_at, finished_at, outputs, error)
                 VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs WHERE run_id = ?1), ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(run_id, key) DO UPDATE SET name = excluded.name, status = excluded.status,
                   backend = COALESCE(excluded.backend, backend), started_at = COALESCE(excluded.started_at, started_at),
                   finished_at = excluded.finished_at, outputs = excluded.outputs, error = excluded.error",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    run_id,
                    job.key,
                    job.name,
                    job.status.as_str(),
                    job.backend,
                    job.started_at,
                    job.finished_at,
                    outputs,
                    job.error
                ])
            })
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Inserts or updates a step of a job.
    pub fn upsert_step(
        &self,
        run_id: &str,
        job_key: &str,
        step: &StepRecord,
    ) -> Result<(), StateError> {
        let outputs = serde_json::to_string(&step.outputs).unwrap_or_else(|_| "{}".into());
        self.lock()
            .prepare_cached(
                "INSERT INTO steps (run_id, job_key, idx, step_id, name, status, outcome, exit_code, attempts,
                                    started_at, finished_at, outputs, log_path, log_offset, log_len)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                 ON CONFLICT(run_id, job_key, idx) DO UPDATE SET step_id = excluded.step_id, name = excluded.name,
                   status = excluded.status, outcome = excluded.outcome, exit_code = excluded.exit_code,
                   attempts = excluded.attempts, started_at = COALESCE(excluded.started_at, started_at),
                   finished_at = excluded.finished_at, outputs = excluded.outputs,
                   log_path = COALESCE(excluded.log_path, log_path),
                   log_offset = COALESCE(excluded.log_offset, log_offset), log_len = COALESCE(excluded.log_len, log_len)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    run_id,
                    job_key,
                    step.index as i64,
                    step.id,
                    step.name,
                    step.status.as_str(),
                    step.outcome,
                    step.exit_code,
                    step.attempts,
                    step.started_at,
                    step.finished_at,
                    outputs,
                    step.log_path,
                    step.log_offset.map(|v| v as i64),
                    step.log_len.map(|v| v as i64)
                ])
            })
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// The newest `limit` runs.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id DESC LIMIT ?1"
            ))
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map([limit as i64], run_row)
            .map_err(|e| self.db(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.db(e))
    }

    /// The run with this id or unique id prefix (case-insensitive).
    pub fn run(&self, id_or_prefix: &str) -> Result<Option<RunRecord>, StateError> {
        let prefix = id_or_prefix.trim().to_ascii_uppercase();
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(StateError::BadRunId(id_or_prefix.to_string()));
        }
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE substr(id, 1, ?2) = ?1 ORDER BY id LIMIT 6"
            ))
            .map_err(|e| self.db(e))?;
        let found = stmt
            .query_map(params![prefix, prefix.len() as i64], run_row)
            .map_err(|e| self.db(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.db(e))?;
        if let Some(exact) = found.iter().find(|r| r.id == prefix) {
            return Ok(Some(exact.clone()));
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            _ => Err(StateError::Ambiguous {
                prefix: id_or_prefix.to_string(),
                candidates: found
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// A run's jobs in the order they started.
    pub fn jobs(&self, run_id: &str) -> Result<Vec<JobRecord>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT key, name, status, backend, started_at, finished_at, outputs, error
                 FROM jobs WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(JobRecord {
                    key: r.get(0)?,
                    name: r.get(1)?,
                    status: JobStatus::parse(&r.get::<_, String>(2)?).unwrap_or_default(),
                    backend: r.get(3)?,
                    started_at: r.get(4)?,
                    finished_at: r.get(5)?,
                    outputs: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
                    error: r.get(7)?,
                })
            })
            .map_err(|e| self.db(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.db(e))
    }

    /// A job's steps by index.
    pub fn steps(&self, run_id: &str, job_key: &str) -> Result<Vec<StepRecord>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT idx, step_id, name, status, outcome, exit_code, attempts, started_at, finished_at, outputs, log_path, log_offset, log_len
                 FROM steps WHERE run_id = ?1 AND job_key = ?2 ORDER BY idx",
            )
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map([run_id, job_key], |r| {
                Ok(StepRecord {
                    index: r.get::<_, i64>(0)?.max(0) as usize,
                    id: r.get(1)?,
                    name: r.get(2)?,
                    status: JobStatus::parse(&r.get::<_, String>(3)?).unwrap_or_default(),
                    outcome: r.get(4)?,
                    exit_code: r.get(5)?,
                    attempts: r.get(6)?,
                    started_at: r.get(7)?,
                    finished_at: r.get(8)?,
                    outputs: serde_json::from_str(&r.get::<_, String>(9)?).unwrap_or_default(),
                    log_path: r.get(10)?,
                    log_offset: r.get::<_, Option<i64>>(11)?.map(|v| v.max(0) as u64),
                    log_len: r.get::<_, Option<i64>>(12)?.map(|v| v.max(0) as u64),
                })
            })
            .map_err(|e| self.db(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.db(e))
    }
}

const RUN_COLUMNS: &str =
    "id, workflow_name, workflow_path, status, started_at, finished_at, exit_code, pid, host, error";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: r.get(0)?,
        workflow_name: r.get(1)?,
        workflow_path: r.get(2)?,
        status: RunStatus::parse(&r.get::<_, String>(3)?).unwrap_or(RunStatus::Cancelled),
        started_at: r.get(4)?,
        finished_at: r.get(5)?,
        exit_code: r.get(6)?,
        pid: r.get(7)?,
        host: r.get(8)?,
        error: r.get(9)?,
    })
}

/// Run ids are ULIDs (or similar): letters and digits only, so they are safe in paths.
pub(crate) fn validate_run_id(id: &str) -> Result<(), StateError> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(StateError::BadRunId(id.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&StateDir::at(dir.path().join("state"))).unwrap();
        (dir, l)
    }

    fn start(l: &Ledger) -> String {
        let id = Ledger::new_run_id();
        l.start_run(&NewRun {
            id: id.clone(),
            workflow_name: "wf".into(),
            workflow_path: "wf.yml".into(),
        })
        .unwrap();
        id
    }

    #[test]
    fn round_trips_runs_jobs_steps() {
        let (_d, l) = ledger();
        let id = start(&l);
        let mut job = JobRecord {
            key: "build (a, 1)".into(),
            name: "build".into(),
            status: JobStatus::Running,
            ..Default::default()
        };
        l.upsert_job(&id, &job).unwrap();
        job.status = JobStatus::Success;
        job.outputs.insert("x".into(), "1".into());
        l.upsert_job(&id, &job).unwrap();
        let step = StepRecord {
            index: 0,
            name: "s".into(),
            status: JobStatus::Failure,
            exit_code: Some(3),
            attempts: 2,
            ..Default::default()
        };
        l.upsert_step(&id, &job.key, &step).unwrap();
        l.finish_run(&id, RunStatus::Failure, 1, None).unwrap();

        let run = l.run(&id).unwrap().unwrap();
        assert_eq!((run.status, run.exit_code), (RunStatus::Failure, Some(1)));
        let jobs = l.jobs(&id).unwrap();
        assert_eq!(
            (jobs.len(), jobs[0].status, jobs[0].outputs["x"].as_str()),
            (1, JobStatus::Success, "1")
        );
        let steps = l.steps(&id, "build (a, 1)").unwrap();
        assert_eq!((steps[0].exit_code, steps[0].attempts), (Some(3), 2));
    }

    #[test]
    fn prefixes() {
        let (_d, l) = ledger();
        let a = start(&l);
        let b = start(&l);
        assert_eq!(
            l.run(&a[..20].to_lowercase()).unwrap().map(|r| r.id),
            if a[..20] == b[..20] {
                None
            } else {
                Some(a.clone())
            }
        );
        assert!(matches!(l.run(&a[..2]), Err(StateError::Ambiguous { .. })));
        assert!(l.run("ZZZZZZZZ").unwrap().is_none());
        assert!(l.run("../x").is_err());
        assert_eq!(l.runs(10).unwrap().len(), 2);
    }

    #[test]
    fn a_dead_run_is_recorded_as_crashed_not_cancelled() {
        let (_d, l) = ledger();
        let mine = start(&l);
        let dead = Ledger::new_run_id();
        l.start_run(&NewRun {
            id: dead.clone(),
            workflow_name: "w".into(),
            workflow_path: "p".into(),
        })
        .unwrap();
        let job = JobRecord {
            key: "build".into(),
            name: "build".into(),
            status: JobStatus::Running,
            ..Default::default()
        };
        l.upsert_job(&dead, &job).unwrap();
        let step = StepRecord {
            index: 0,
            name: "s".into(),
            status: JobStatus::Running,
            ..Default::default()
        };
        l.upsert_step(&dead, "build", &step).unwrap();
        // Pretend another, now-dead process ran it.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        l.lock()
            .execute("UPDATE runs SET pid = ?2 WHERE id = ?1", params![dead, pid])
            .unwrap();
        let live = l.live_run_ids().unwrap();
        assert_eq!(live, vec![mine]);
        let run = l.run(&dead).unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Failure);
        assert_eq!(run.error.as_deref(), Some(crate::liveness::CRASHED));
        assert_eq!(l.jobs(&dead).unwrap()[0].status, JobStatus::Failure);
        assert_eq!(
            l.steps(&dead, "build").unwrap()[0].status,
            JobStatus::Failure
        );
    }

    #[test]
    fn runs_of_another_host_are_never_taken_for_dead() {
        let (_d, l) = ledger();
        let other = start(&l);
        l.lock()
            .execute(
                "UPDATE runs SET pid = 1, pid_start = 'x', host = 'elsewhere' WHERE id = ?1",
                params![other],
            )
            .unwrap();
        assert_eq!(l.live_run_ids().unwrap(), vec![other]);
    }

    #[test]
    fn many_processes_open_a_new_ledger_at_once() {
        // Threads with their own connections race like processes do: none may see
        // "database is locked" while creating the schema.
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path().join("s"));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let state = state.clone();
                std::thread::spawn(move || {
                    let l = Ledger::open(&state)?;
                    let id = Ledger::new_run_id();
                    l.start_run(&NewRun {
                        id: id.clone(),
                        workflow_name: "w".into(),
                        workflow_path: "p".into(),
                    })?;
                    l.live_run_ids()?;
                    l.finish_run(&id, RunStatus::Success, 0, None)
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
    }

    #[test]
    fn concurrent_writers() {
        let (_d, l) = ledger();
        let id = start(&l);
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let l = l.clone();
                let id = id.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let s = StepRecord {
                            index: i,
                            name: format!("t{t}"),
                            ..Default::default()
                        };
                        l.upsert_step(&id, &format!("job{t}"), &s).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            l.steps(&id, "job0").unwrap().len() + l.steps(&id, "job1").unwrap().len(),
            100
        );
    }
}
