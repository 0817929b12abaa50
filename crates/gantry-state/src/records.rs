//! What the ledger stores, as plain records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: String,
    pub workflow_name: String,
    pub workflow_path: String,
}

/// A run's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Success,
    Failure,
    Cancelled,
}

/// A job's or step's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    #[default]
    Pending,
    Running,
    Success,
    Failure,
    Cancelled,
    Skipped,
}

macro_rules! words {
    ($t:ty { $($v:ident = $w:literal),* }) => {
        impl $t {
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
    pub id: String,
    pub workflow_name: String,
    pub workflow_path: String,
    pub status: RunStatus,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    /// The gantry process that ran it.
    pub pid: u32,
    pub host: String,
    /// Why the run failed when its exit code cannot tell: its gantry crashed or was
    /// killed, or a fault outside the workflow (a full disk) stopped it.
    pub error: Option<String>,
}

/// A recorded job.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobRecord {
    pub key: String,
    pub name: String,
    pub status: JobStatus,
    pub backend: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub error: Option<String>,
}

/// A recorded step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepRecord {
    pub index: usize,
    pub id: Option<String>,
    pub name: String,
    /// The conclusion (after continue-on-error).
    pub status: JobStatus,
    /// The outcome (before continue-on-error).
    pub outcome: Option<String>,
    pub exit_code: Option<i32>,
    pub attempts: u32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub outputs: BTreeMap<String, String>,
    /// The job log file holding this step's output.
    pub log_path: Option<String>,
    /// Where the step's output starts in the job log.
    pub log_offset: Option<u64>,
    /// How many bytes of the job log are this step's.
    pub log_len: Option<u64>,
}
