//! The backend conformance suite: the same scenarios, through the contract alone, against
//! any backend (the host backend, Docker, Podman, a gRPC plugin in any language).
//!
//! Every case creates and removes its own environment, runs under a time limit, and is
//! isolated in its own task, so a hanging or panicking backend fails that case and the
//! suite goes on. Cases assume only a POSIX `sh` with busybox-like `sleep`, `kill`, `cat`,
//! `ls`, `sha256sum` and `head` on the target.

mod cases;
mod harness;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gantry_backend::{Backend, LabelSpec};

pub use harness::Ctx;

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct Options {
    /// The label spec environments are created with.
    pub label: LabelSpec,
    /// A directory the suite may use as the workspace source (it writes files there).
    pub workspace: PathBuf,
    /// Prefix for the run ids the suite uses (each case gets its own).
    pub run_id_prefix: String,
    /// Only cases whose name contains this.
    pub filter: Option<String>,
    /// Time limit per case.
    pub case_timeout: Duration,
}

impl Options {
    /// A suite run against environments for `label`, with `workspace` as their tree.
    pub fn new(label: LabelSpec, workspace: impl Into<PathBuf>) -> Self {
        Options {
            label,
            workspace: workspace.into(),
            run_id_prefix: "conformance".into(),
            filter: None,
            case_timeout: Duration::from_secs(120),
        }
    }
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name.
    pub name: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// Why it failed, or what it measured.
    pub detail: String,
    /// How long it took.
    pub duration: Duration,
}

/// The names of every case, in the order they run.
pub fn case_names() -> Vec<&'static str> {
    cases::ALL.iter().map(|(n, _)| *n).collect()
}

/// Runs every (selected) case against `backend`. Never panics.
pub async fn run(backend: Arc<dyn Backend>, options: Options) -> Vec<CaseResult> {
    let mut results = Vec::new();
    for (i, (name, case)) in cases::ALL.iter().enumerate() {
        if options.filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let ctx = Ctx {
            backend: backend.clone(),
            label: options.label.clone(),
            workspace: options.workspace.clone(),
            run_id: format!("{}{}{}", options.run_id_prefix, i, std::process::id()),
        };
        let started = std::time::Instant::now();
        let task = tokio::spawn(case(ctx.clone()));
        let outcome = tokio::time::timeout(options.case_timeout, task).await;
        let (passed, detail) = match outcome {
            Ok(Ok(Ok(detail))) => (true, detail),
            Ok(Ok(Err(e))) => (false, e),
            Ok(Err(join)) => (false, format!("the case panicked: {join}")),
            Err(_) => (
                false,
                format!("no result within {:?}", options.case_timeout),
            ),
        };
        // Whatever happened, leave nothing behind.
        let _ = backend.reap(&[]).await;
        results.push(CaseResult {
            name,
            passed,
            detail,
            duration: started.elapsed(),
        });
    }
    results
}
