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
    Success,
    Failure,
    Cancelled,
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
    Info,
    Warning,
    Error,
}

/// One thing that happened in a run. Output is already masked.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The run began; `jobs` lists every planned job key.
    RunStarted {
        run_id: String,
        workflow: String,
        jobs: Vec<String>,
    },
    /// A job got its environment and is about to run steps.
    JobStarted {
        job: String,
        name: String,
        backend: String,
    },
    /// A step began (also emitted for each retry attempt).
    StepStarted {
        job: String,
        step: usize,
        name: String,
        attempt: u32,
    },
    /// A chunk of a step's output, as written (not split on lines).
    Output {
        job: String,
        step: usize,
        stream: Stream,
        #[serde(serialize_with = "lossy_utf8")]
        data: Bytes,
    },
    /// A message from the engine about a job or step (a retry, a timeout, a service wait).
    Message {
        job: String,
        step: Option<usize>,
        level: Level,
        message: String,
    },
    /// A step ended. `outcome` is before continue-on-error, `conclusion` after.
    StepFinished {
        job: String,
        step: usize,
        step_id: Option<String>,
        name: String,
        outcome: Conclusion,
        conclusion: Conclusion,
        exit_code: Option<i32>,
        attempts: u32,
        duration_ms: u64,
        outputs: IndexMap<String, String>,
        error: Option<String>,
    },
    /// A job ended (skipped jobs too, with no JobStarted before).
    JobFinished {
        job: String,
        name: String,
        conclusion: Conclusion,
        duration_ms: u64,
        outputs: IndexMap<String, String>,
        error: Option<String>,
    },
    /// The run ended.
    RunFinished {
        run_id: String,
        conclusion: Conclusion,
        duration_ms: u64,
    },
}

fn lossy_utf8<S: Serializer>(data: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(data))
}

/// Where events go. Bounded: a slow consumer slows the run instead of buffering output.
pub type EventSender = tokio::sync::mpsc::Sender<Event>;
