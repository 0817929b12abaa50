//! Checks that need the configured backends, run after the workflow itself validated:
//! every `runs-on` resolves to a backend, every layer a job uses is a capability of that
//! backend, every `uses:` is served. Nothing runs before these pass.

use gantry_backend::BackendRegistry;
use gantry_workflow::{Diagnostic, Plan, PlannedJob, StepBody};
use indexmap::IndexMap;
use serde_json::Value;

use crate::builtin::Builtins;
use crate::context::JobScope;

/// Problems found; empty when the plan can run here.
pub fn check(plan: &Plan, registry: &BackendRegistry, builtins: &Builtins) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen_jobs = std::collections::HashSet::new();
    for job in &plan.jobs {
        let Some(labels) = static_labels(job) else {
            continue;
        };
        let resolved = match registry.resolve(&labels) {
            Ok(r) => r,
            Err(e) => {
                if seen_jobs.insert(job.id.clone()) {
                    out.push(
                        Diagnostic::error(job.runs_on_span, format!("job `{}`: {e}", job.id)).with_help(
                            "map the label to a backend with `-P LABEL=SPEC` (e.g. `-P ubuntu-latest=host` or \
                             `-P ubuntu-latest=docker://IMAGE`) or in gantry.toml [labels]",
                        ),
                    );
                }
                continue;
            }
        };
        let caps = resolved.backend.capabilities();
        let backend = resolved.backend.id().to_string();
        if !seen_jobs.insert(job.id.clone()) {
            continue;
        }
        if let Some(c) = &job.container {
            if !caps.job_container {
                out.push(
                    Diagnostic::error(
                        c.span,
                        format!("job `{}` uses `container:`, but backend `{backend}` cannot run job containers", job.id),
                    )
                    .with_help(layer_help(&backend)),
                );
            }
        }
        if !job.services.is_empty() && !caps.services {
            for s in job.services.values() {
                out.push(
                    Diagnostic::error(
                        s.span,
                        format!("job `{}` uses `services:`, but backend `{backend}` cannot run service containers", job.id),
                    )
                    .with_help(layer_help(&backend)),
                );
            }
        }
        for step in &job.steps {
            let StepBody::Uses { uses, span, .. } = &step.body else {
                continue;
            };
            let step_name = step
                .id
                .clone()
                .or_else(|| step.name.clone())
                .unwrap_or_else(|| format!("{}", step.index + 1));
            if uses.starts_with("docker://") {
                if !caps.step_containers {
                    out.push(
                        Diagnostic::error(
                            *span,
                            format!(
                                "step {step_name} of job `{}` runs a container image, but backend `{backend}` cannot run step containers",
                                job.id
                            ),
                        )
                        .with_help(layer_help(&backend)),
                    );
                }
            } else if builtins.find(uses).is_none() {
                let mut served = builtins.names();
                served.sort_unstable();
                out.push(
                    Diagnostic::error(*span, format!("step {step_name} of job `{}`: nothing serves `uses: {uses}`", job.id))
                        .with_help(format!(
                            "gantry runs `run:` scripts, `docker://IMAGE` containers and the built-in steps {}; \
                             JavaScript and composite actions are not supported yet",
                            served.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                        )),
                );
            }
        }
    }
    out
}

/// A job's `runs-on` labels when they are known before it runs (literal, or reading only
/// `matrix`); `None` when they read contexts only known at run time.
pub fn static_labels(job: &PlannedJob) -> Option<Vec<String>> {
    let scope = JobScope {
        matrix: job
            .matrix
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<IndexMap<String, Value>>(),
        ..Default::default()
    };
    let literal = job
        .runs_on
        .iter()
        .all(|l| !l.contains("${{") || only_matrix(l));
    if !literal {
        return None;
    }
    job.runs_on.iter().map(|l| scope.render(l).ok()).collect()
}

/// Whether `job` runs container layers: a job container, services or `docker://` steps.
pub fn uses_containers(job: &PlannedJob) -> bool {
    job.container.is_some()
        || !job.services.is_empty()
        || job.steps.iter().any(
            |s| matches!(&s.body, StepBody::Uses { uses, .. } if uses.starts_with("docker://")),
        )
}

fn only_matrix(label: &str) -> bool {
    let mut rest = label;
    while let Some(start) = rest.find("${{") {
        let Some(end) = rest[start..].find("}}") else {
            return false;
        };
        let inner = rest[start + 3..start + end].trim();
        if !inner.starts_with("matrix.") && !inner.starts_with("matrix[") {
            return false;
        }
        rest = &rest[start + end + 2..];
    }
    true
}

fn layer_help(backend: &str) -> String {
    if backend == "host" {
        "run the job on a container backend (e.g. `-P LABEL=docker://IMAGE`), or configure a Docker endpoint so the host backend can start containers".into()
    } else {
        format!("choose a backend that declares this capability; `{backend}` does not")
    }
}
