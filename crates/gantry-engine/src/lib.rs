//! The engine: runs a [`Plan`] on the backends in a
//! [`BackendRegistry`].
//!
//! It sits between the workflow crate (what to run) and the backend contract (where),
//! and knows no concrete backend. Read `ARCHITECTURE.md` beside this crate first. In short:
//!
//! ```text
//! Plan ──scheduler──> job (if → runs-on → backend → environment → containers)
//!                       └─> step (if → render → script + env files → exec driver)
//!                                 └─> output ─masker─> events ─> CLI / ledger / JSON
//! ```

pub mod builtin;
pub mod cancel;
pub mod context;
mod duration;
pub mod env_file;
pub mod event;
mod exec_driver;
mod job;
mod job_run;
pub mod preflight;
mod scheduler;
pub mod shell;
mod step;
pub mod workflow_command;

use std::sync::Arc;
use std::time::Duration;

use gantry_backend::{BackendRegistry, WorkspaceSource};
use gantry_secret::Masker;
use gantry_workflow::Plan;
use indexmap::IndexMap;
use serde_json::{Map, Value};

pub use builtin::{BuiltinCall, BuiltinOutcome, BuiltinStep, Builtins};
pub use cancel::{CancelLevel, CancelReason, CancelSignal};
pub use event::{Conclusion, Event, EventSender, Level};
pub use job::JobOutcome;
pub use scheduler::RunOutcome;

/// How one run is carried out.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The run's id (a ULID).
    pub run_id: String,
    /// The working tree jobs get.
    pub workspace: WorkspaceSource,
    /// Most jobs running at once.
    pub max_jobs: usize,
    /// Time between SIGTERM and SIGKILL when a step is stopped.
    pub grace: Duration,
    /// `secrets` context; values are masked everywhere.
    pub secrets: IndexMap<String, String>,
    /// `vars` context.
    pub vars: IndexMap<String, String>,
    /// `inputs` context.
    pub inputs: Map<String, Value>,
    /// The `github` context's base (event_name, sha, ref, repository, actor, workflow ...).
    pub github: Map<String, Value>,
}

/// Runs plans.
pub struct Engine {
    registry: Arc<BackendRegistry>,
    builtins: Builtins,
}

impl Engine {
    /// An engine running jobs on `registry`'s backends, with `builtins` serving `uses:` steps.
    pub fn new(registry: Arc<BackendRegistry>, builtins: Builtins) -> Self {
        Engine { registry, builtins }
    }

    /// Backend-dependent validation of `plan` (see [`preflight::check`]).
    pub fn preflight(&self, plan: &Plan) -> Vec<gantry_workflow::Diagnostic> {
        preflight::check(plan, &self.registry, &self.builtins)
    }

    /// Runs `plan` to the end, emitting events; cancellation comes through `cancel`.
    pub async fn run(
        &self,
        plan: Plan,
        config: RunConfig,
        events: EventSender,
        cancel: CancelSignal,
    ) -> RunOutcome {
        let masker = Arc::new(Masker::new(config.secrets.values().cloned()));
        let mut github = config.github.clone();
        github.insert("run_id".into(), Value::String(config.run_id.clone()));
        github
            .entry("workflow")
            .or_insert_with(|| Value::String(plan.name.clone()));
        let shared = Arc::new(job::RunShared {
            run_id: config.run_id.clone(),
            registry: self.registry.clone(),
            builtins: self.builtins.clone(),
            masker,
            events,
            grace: config.grace,
            workspace: config.workspace.clone(),
            github,
            vars: config.vars.clone(),
            secrets: config.secrets.clone(),
            workflow_env: plan.env.clone(),
        });
        scheduler::schedule(shared, plan, config.max_jobs, cancel).await
    }
}

/// Keeps only `selected` job ids and everything they need, transitively.
pub fn select_jobs(plan: &mut Plan, selected: &[String]) -> Result<(), String> {
    let known: std::collections::HashSet<&str> = plan.jobs.iter().map(|j| j.id.as_str()).collect();
    for s in selected {
        if !known.contains(s.as_str()) {
            let mut ids: Vec<&str> = known.iter().copied().collect();
            ids.sort_unstable();
            return Err(format!(
                "no job `{s}` in the workflow; jobs: {}",
                ids.join(", ")
            ));
        }
    }
    let mut keep: std::collections::HashSet<String> = selected.iter().cloned().collect();
    loop {
        let before = keep.len();
        for j in &plan.jobs {
            if keep.contains(&j.id) {
                keep.extend(j.needs.iter().cloned());
            }
        }
        if keep.len() == before {
            break;
        }
    }
    plan.jobs.retain(|j| keep.contains(&j.id));
    Ok(())
}
