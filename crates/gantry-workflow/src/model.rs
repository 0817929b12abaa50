//! The workflow as read from YAML, before planning: every value keeps its scalar (text
//! and place) so later checks can point at it.

use crate::plan::Span;
use crate::yaml::Scalar;

#[derive(Debug, Clone, Default)]
pub(crate) struct Workflow {
    pub name: Option<Scalar>,
    pub run_name: Option<Scalar>,
    /// Every value under `concurrency:` (the group, `cancel-in-progress`).
    pub concurrency: Vec<Scalar>,
    pub env: Vec<(Scalar, Scalar)>,
    pub defaults: Defaults,
    pub jobs: Vec<Job>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Defaults {
    pub shell: Option<Scalar>,
    pub working_directory: Option<Scalar>,
}

#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub image: Scalar,
    pub env: Vec<(Scalar, Scalar)>,
    pub ports: Vec<Scalar>,
    pub volumes: Vec<Scalar>,
    pub options: Option<Scalar>,
    pub credentials: Option<(Scalar, Scalar)>,
    pub span: Span,
}

/// `strategy.matrix` as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Matrix {
    pub dims: Vec<(String, Vec<serde_json::Value>)>,
    pub include: Vec<Vec<(String, serde_json::Value)>>,
    pub exclude: Vec<Vec<(String, serde_json::Value)>>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: Scalar,
    pub name: Option<Scalar>,
    pub runs_on: Vec<Scalar>,
    pub runs_on_span: Span,
    pub needs: Vec<Scalar>,
    pub condition: Option<Scalar>,
    pub env: Vec<(Scalar, Scalar)>,
    pub outputs: Vec<(Scalar, Scalar)>,
    pub matrix: Option<Matrix>,
    pub fail_fast: bool,
    pub max_parallel: Option<usize>,
    pub timeout_minutes: Option<Scalar>,
    pub continue_on_error: Option<Scalar>,
    pub defaults: Defaults,
    pub container: Option<Container>,
    pub services: Vec<(Scalar, Container)>,
    pub steps: Vec<Step>,
    /// Every value under `concurrency:`.
    pub concurrency: Vec<Scalar>,
    /// Every value under `environment:` (its name, its url).
    pub environment: Vec<Scalar>,
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub index: usize,
    pub id: Option<Scalar>,
    pub name: Option<Scalar>,
    pub run: Option<Scalar>,
    pub uses: Option<Scalar>,
    pub with: Vec<(Scalar, Scalar)>,
    pub shell: Option<Scalar>,
    pub env: Vec<(Scalar, Scalar)>,
    pub condition: Option<Scalar>,
    pub working_directory: Option<Scalar>,
    pub timeout_minutes: Option<Scalar>,
    pub continue_on_error: Option<Scalar>,
    pub retry: Option<(u32, f64)>,
    pub span: Span,
}
