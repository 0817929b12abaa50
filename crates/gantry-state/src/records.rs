//! What the ledger stores, as plain records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Its id (a ULID).
    pub id: String,
    /// The workflow's name.
    pub workflow_name: String,
    /// The workflow file.
    pub workflow_path: String,
}

/// A run's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Still running (or its gantry died without a trace yet).
    Running,
    /// It succeeded.
    Success,
    /// It failed (or its gantry crashed: see the run's error).
    Failure,
    /// It was cancelled.
    Cancelled,
}

/// A job's or step's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Not started.
    #[default]
    Pending,
    /// Running.
    Running,
    /// It succeeded.
    Success,
    /// It failed.
    Failure,
    /// It was cancelled.
    Cancelled,
    /// It did not run.
    Skipped,
}

macro_rules! words {
    ($t:ty { $($v:ident = $w:literal),* }) => {
        impl $t {
            /// The word stored in the ledger and shown to users.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $w),* }
            }
            pub(crate) fn parse(s: &str) -> Option<Self> {
                match s { $($w => Some(Self::$v),)* _ => None }
            }
        }
    };
}
words!(RunStatus { Running = "running", Success = "success", Failure = "failure", Cancelled = "cancelled" });
words!(JobStatus {
    Pending = "pending",
    Running = "running",
    Success = "success",
    Failure = "failure",
    Cancelled = "cancelled",
    Skipped = "skipped"
});

/// A recorded run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// Its id (a ULID).
    pub id: String,
    /// The workflow's name.
    pub workflow_name: String,
    /// The workflow file.
    pub workflow_path: String,
    /// How it stands.
    pub status: RunStatus,
    /// RFC 3339.
    pub started_at: String,
    /// When it ended (RFC 3339).
    pub finished_at: Option<String>,
    /// gantry's exit code for it.
    pub exit_code: Option<i32>,
    /// The gantry process that ran it.
    pub pid: u32,
    /// The machine it ran on.
    pub host: String,
    /// Why the run failed when its exit code cannot tell: its gantry crashed or was
    /// killed, or a fault outside the workflow (a full disk) stopped it.
    pub error: Option<String>,
}

/// A recorded job.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobRecord {
    /// The job's key (`build (linux, 1)`).
    pub key: String,
    /// Its display name.
    pub name: String,
    /// How it stands.
    pub status: JobStatus,
    /// The backend it ran on.
    pub backend: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// When it ended (RFC 3339).
    pub finished_at: Option<String>,
    /// Its outputs.
    pub outputs: BTreeMap<String, String>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
}

/// A recorded step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepRecord {
    /// Its index in the job, from 0.
    pub index: usize,
    /// Its `id:`, if any.
    pub id: Option<String>,
    /// Its display name.
    pub name: String,
    /// The conclusion (after continue-on-error).
    pub status: JobStatus,
    /// The outcome (before continue-on-error).
    pub outcome: Option<String>,
    /// The exit code of its process.
    pub exit_code: Option<i32>,
    /// How many attempts ran.
    pub attempts: u32,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// When it ended (RFC 3339).
    pub finished_at: Option<String>,
    /// Its outputs.
    pub outputs: BTreeMap<String, String>,
    /// The job log file holding this step's output.
    pub log_path: Option<String>,
    /// Where the step's output starts in the job log.
    pub log_offset: Option<u64>,
    /// How many bytes of the job log are this step's.
    pub log_len: Option<u64>,
}
