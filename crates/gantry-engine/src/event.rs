//! Events the engine emits while a run progresses. They feed the CLI renderer, the
//! ledger and `gantry run --json` (one JSON object per line), so this is a wire format:
//! fields are only ever added.

use bytes::Bytes;
use gantry_backend::Stream;
use indexmap::IndexMap;
use serde::{Serialize, Serializer};

/// How a job or step ended (GitHub's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conclusion {
    /// It succeeded.
    Success,
    /// It failed.
    Failure,
    /// It was cancelled.
    Cancelled,
    /// It did not run (its condition was false).
    Skipped,
}

impl Conclusion {
    /// The word used in contexts (`steps.x.outcome`, `needs.x.result`).
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Cancelled => "cancelled",
            Conclusion::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for Conclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity of an engine message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Information.
    Info,
    /// A warning.
    Warning,
    /// An error.
    Error,
}

/// One thing that happened in a run. Output is already masked.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The run began; `jobs` lists every planned job key.
    RunStarted {
        /// The run's id.
        run_id: String,
        /// The workflow's name.
        workflow: String,
        /// The keys of every job, in plan order.
        jobs: Vec<String>,
    },
    /// A job got its environment and is about to run steps.
    JobStarted {
        /// The job's key.
        job: String,
        /// Its display name (rendered, masked).
        name: String,
        /// The backend it runs on.
        backend: String,
    },
    /// A step began (also emitted for each retry attempt).
    StepStarted {
        /// The job's key.
        job: String,
        /// The step's index in the job, from 0.
        step: usize,
        /// Its display name (rendered, masked).
        name: String,
        /// Which attempt this is, from 1.
        attempt: u32,
    },
    /// A chunk of a step's output, as written (not split on lines).
    Output {
        /// The job's key.
        job: String,
        /// The step's index.
        step: usize,
        /// The stream.
        stream: Stream,
        /// The bytes, masked.
        #[serde(serialize_with = "lossy_utf8")]
        data: Bytes,
    },
    /// A message from the engine about a job or step (a retry, a timeout, a service wait).
    Message {
        /// The job's key.
        job: String,
        /// The step's index, when the message is about a step.
        step: Option<usize>,
        /// How serious it is.
        level: Level,
        /// The text, masked.
        message: String,
    },
    /// A step ended. `outcome` is before continue-on-error, `conclusion` after.
    StepFinished {
        /// The job's key.
        job: String,
        /// The step's index.
        step: usize,
        /// The step's `id:`, if any.
        step_id: Option<String>,
        /// Its display name (rendered, masked).
        name: String,
        /// The result before `continue-on-error`.
        outcome: Conclusion,
        /// The result after `continue-on-error`.
        conclusion: Conclusion,
        /// The exit code of its process, when it ran one.
        exit_code: Option<i32>,
        /// How many attempts ran.
        attempts: u32,
        /// How long it took, in milliseconds.
        duration_ms: u64,
        /// Its outputs, masked.
        outputs: IndexMap<String, String>,
        /// Why it failed or was stopped, masked.
        error: Option<String>,
    },
    /// A job ended (skipped jobs too, with no JobStarted before).
    JobFinished {
        /// The job's key.
        job: String,
        /// Its display name.
        name: String,
        /// How it ended.
        conclusion: Conclusion,
        /// How long it took, in milliseconds.
        duration_ms: u64,
        /// Its outputs, masked.
        outputs: IndexMap<String, String>,
        /// Why it failed or was cancelled, masked.
        error: Option<String>,
    },
    /// The run ended.
    RunFinished {
        /// The run's id.
        run_id: String,
        /// How it ended.
        conclusion: Conclusion,
        /// How long it took, in milliseconds.
        duration_ms: u64,
    },
}

fn lossy_utf8<S: Serializer>(data: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(data))
}

/// Where events go. Bounded: a slow consumer slows the run instead of buffering output.
pub type EventSender = tokio::sync::mpsc::Sender<Event>;
