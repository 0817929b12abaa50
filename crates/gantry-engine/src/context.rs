//! The expression contexts a job and its steps see (`github`, `env`, `steps`, `needs`,
//! `matrix`, `strategy`, `runner`, `job`, `secrets`, `vars`, `inputs`).

use std::path::PathBuf;

use gantry_expr::{EvalContext, JobStatus};
use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use crate::event::Conclusion;

/// What a finished job exposes to the jobs that need it.
#[derive(Debug, Clone, PartialEq)]
pub struct NeedResult {
    /// How the needed job ended (all its matrix instances combined).
    pub result: Conclusion,
    /// Its outputs.
    pub outputs: IndexMap<String, String>,
}

/// What a finished step exposes to later steps.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// The result before `continue-on-error`.
    pub outcome: Conclusion,
    /// The result after `continue-on-error`.
    pub conclusion: Conclusion,
    /// Its outputs.
    pub outputs: IndexMap<String, String>,
}

/// The contexts of one job, updated as its steps finish.
#[derive(Debug, Clone, Default)]
pub struct JobScope {
    /// `github`.
    pub github: Map<String, Value>,
    /// `vars`.
    pub vars: IndexMap<String, String>,
    /// `secrets`.
    pub secrets: IndexMap<String, String>,
    /// `inputs`.
    pub inputs: Map<String, Value>,
    /// `matrix`: this instance's values.
    pub matrix: IndexMap<String, Value>,
    /// `strategy`.
    pub strategy: Value,
    /// `needs`: the results of the jobs this one needs.
    pub needs: IndexMap<String, NeedResult>,
    /// `runner`.
    pub runner: Value,
    /// `job`: its container and services.
    pub job: Value,
    /// Environment visible to expressions at the current point (workflow, job, step).
    pub env: IndexMap<String, String>,
    /// Finished steps with an id, in order.
    pub steps: IndexMap<String, StepResult>,
    /// The job's status so far, for `success()`, `failure()` and `cancelled()`.
    pub status: JobStatus,
    /// The workspace on this machine, for `hashFiles()` (when it is local).
    pub workspace: Option<PathBuf>,
}

impl JobScope {
    /// Renders a template (`${{ }}`) against these contexts.
    pub fn render(&self, text: &str) -> Result<String, String> {
        if !text.contains("${{") {
            return Ok(text.to_string());
        }
        let t = gantry_expr::Template::parse(text).map_err(|e| e.to_string())?;
        t.render(&self.eval_context()).map_err(|e| e.to_string())
    }

    /// Raises the job status to `status` if that is worse (cancelled beats failure
    /// beats success); it never gets better.
    pub fn raise_status(&mut self, status: JobStatus) {
        let rank = |s: JobStatus| match s {
            JobStatus::Success => 0,
            JobStatus::Failure => 1,
            JobStatus::Cancelled => 2,
        };
        if rank(status) > rank(self.status) {
            self.status = status;
        }
    }

    /// The evaluation context for the current point.
    pub fn eval_context(&self) -> EvalContext {
        let mut contexts = IndexMap::new();
        contexts.insert("github".into(), Value::Object(self.github.clone()));
        contexts.insert("env".into(), string_map(&self.env));
        contexts.insert("vars".into(), string_map(&self.vars));
        contexts.insert("secrets".into(), string_map(&self.secrets));
        contexts.insert("inputs".into(), Value::Object(self.inputs.clone()));
        contexts.insert(
            "matrix".into(),
            Value::Object(
                self.matrix
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        );
        contexts.insert("strategy".into(), self.strategy.clone());
        contexts.insert("runner".into(), self.runner.clone());
        let mut job = self.job.clone();
        if let Value::Object(m) = &mut job {
            m.insert("status".into(), json!(status_word(self.status)));
        }
        contexts.insert("job".into(), job);
        let needs: Map<String, Value> = self
            .needs
            .iter()
            .map(|(id, n)| {
                (
                    id.clone(),
                    json!({"result": n.result.as_str(), "outputs": string_map(&n.outputs)}),
                )
            })
            .collect();
        contexts.insert("needs".into(), Value::Object(needs));
        let steps: Map<String, Value> = self
            .steps
            .iter()
            .map(|(id, s)| {
                (
                    id.clone(),
                    json!({
                        "outcome": s.outcome.as_str(),
                        "conclusion": s.conclusion.as_str(),
                        "outputs": string_map(&s.outputs),
                    }),
                )
            })
            .collect();
        contexts.insert("steps".into(), Value::Object(steps));
        EvalContext {
            contexts,
            status: self.status,
            workspace: self.workspace.clone(),
        }
    }
}

fn status_word(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Success => "success",
        JobStatus::Failure => "failure",
        JobStatus::Cancelled => "cancelled",
    }
}

fn string_map(m: &IndexMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// The `strategy` context of a planned job.
pub fn strategy_value(s: &gantry_workflow::Strategy) -> Value {
    json!({
        "fail-fast": s.fail_fast,
        "job-index": s.job_index,
        "job-total": s.job_total,
        "max-parallel": s.max_parallel.unwrap_or(s.job_total),
    })
}
