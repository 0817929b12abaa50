//! The plan: what the engine runs. Produced from a validated workflow; matrix expanded;
//! values that may hold `${{ }}` stay as raw template strings for the engine to render
//! at run time, when the contexts they read exist.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The longest `timeout-minutes` a workflow may give (a year): longer literals are refused
/// by validation, and values computed at run time should be held to it too. Far beyond any
/// real job, and far inside what timers and `Duration` hold.
pub const MAX_TIMEOUT_MINUTES: f64 = 525_600.0;

/// The longest `retry.delay-seconds` (a day).
pub const MAX_RETRY_DELAY_SECONDS: f64 = 86_400.0;

/// A byte range in the workflow source, for diagnostics raised after planning (e.g. a
/// `runs-on` label no backend serves, a `uses:` nothing serves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
}

/// A whole run's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Workflow `name:` (raw), or the file name.
    pub name: String,
    /// Path of the workflow file as given.
    pub source_path: String,
    /// Workflow-level `env:` (raw templates, in file order).
    pub env: IndexMap<String, String>,
    /// Jobs in an order where every job comes after the jobs it needs. Matrix instances
    /// of one job are consecutive.
    pub jobs: Vec<PlannedJob>,
}

/// `defaults.run`, already merged (workflow, then job).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunDefaults {
    /// `shell:` of `run` steps that name none.
    pub shell: Option<String>,
    /// `working-directory:` of `run` steps that name none.
    pub working_directory: Option<String>,
}

/// `strategy` facts for one matrix instance (the `strategy` context).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strategy {
    /// `fail-fast`: a failing instance cancels the others (default true).
    pub fail_fast: bool,
    /// Upper bound on concurrently running instances of this job; `None` is unlimited.
    pub max_parallel: Option<usize>,
    /// Index of this instance, from 0.
    pub job_index: usize,
    /// Number of instances.
    pub job_total: usize,
}

/// A workflow `container:` or a `services:` entry (raw templates).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContainerDef {
    /// The image reference (raw template).
    pub image: String,
    /// `env:` of the container (raw templates).
    pub env: IndexMap<String, String>,
    /// `ports:` as written (`8080:80`, `5432`).
    pub ports: Vec<String>,
    /// `volumes:` as written (`name:/path`, `/host:/path`).
    pub volumes: Vec<String>,
    /// `options:`, extra container create options.
    pub options: Option<String>,
    /// `credentials.username` and `credentials.password` (raw templates).
    pub credentials: Option<(String, String)>,
    /// Where it is written (for errors).
    pub span: Span,
}

/// One job (one matrix instance) ready to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedJob {
    /// Unique key within the run: the job id, plus ` (v1, v2)` for matrix instances.
    pub key: String,
    /// The workflow's job id.
    pub id: String,
    /// Display name (raw template; the engine renders it with `matrix`).
    pub name: String,
    /// Job ids this job needs.
    pub needs: Vec<String>,
    /// `runs-on` labels (raw templates).
    pub runs_on: Vec<String>,
    /// Where `runs-on` is written.
    pub runs_on_span: Span,
    /// Raw `if:` text, when present.
    pub condition: Option<String>,
    /// Job-level `env:` (raw templates).
    pub env: IndexMap<String, String>,
    /// `outputs:` (raw templates reading `steps`).
    pub outputs: IndexMap<String, String>,
    /// This instance's matrix values; empty without a matrix.
    pub matrix: IndexMap<String, serde_json::Value>,
    /// This instance's `strategy` facts.
    pub strategy: Strategy,
    /// `timeout-minutes` (raw: a number or a template); GitHub's default 360 when `None`.
    pub timeout_minutes: Option<String>,
    /// `continue-on-error` (raw: a bool or a template).
    pub continue_on_error: Option<String>,
    /// `defaults.run`, merged with the workflow's.
    pub defaults: RunDefaults,
    /// The job container (`container:`), when given.
    pub container: Option<ContainerDef>,
    /// Service containers by id (`services:`).
    pub services: IndexMap<String, ContainerDef>,
    /// The steps, in order.
    pub steps: Vec<PlannedStep>,
    /// Where the job key is written.
    pub span: Span,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StepBody {
    /// `run:` a script (raw template) with an optional `shell:` and `working-directory:`.
    Run {
        /// The script (raw template).
        script: String,
        /// `shell:` (raw), when given.
        shell: Option<String>,
        /// `working-directory:` (raw), when given.
        working_directory: Option<String>,
    },
    /// `uses:` with `with:` inputs (raw templates).
    Uses {
        /// What is used (`docker://IMAGE`, `actions/checkout@v4`, ...), trimmed.
        uses: String,
        /// `with:` inputs (raw templates).
        with: IndexMap<String, String>,
        /// Where the `uses:` value is written.
        span: Span,
    },
}

/// A gantry extension: retry a failing step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    /// Total attempts, at least 1.
    pub attempts: u32,
    /// Pause between attempts.
    pub delay_seconds: f64,
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    /// Position in the job, from 0.
    pub index: usize,
    /// `id:`, when given.
    pub id: Option<String>,
    /// `name:` (raw template), when given.
    pub name: Option<String>,
    /// What the step does.
    pub body: StepBody,
    /// Step-level `env:` (raw templates).
    pub env: IndexMap<String, String>,
    /// Raw `if:` text, when present.
    pub condition: Option<String>,
    /// `timeout-minutes` (raw: a number or a template).
    pub timeout_minutes: Option<String>,
    /// `continue-on-error` (raw: a bool or a template).
    pub continue_on_error: Option<String>,
    /// `retry:` (a gantry extension), when given.
    pub retry: Option<Retry>,
    /// Where the step starts (the `-` of its list item).
    pub span: Span,
}
