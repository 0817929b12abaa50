//! From the checked model to the [`Plan`](crate::plan::Plan): matrix instances, defaults
//! merged, jobs ordered after what they need.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use indexmap::IndexMap;

use crate::diagnostic::Diagnostic;
use crate::matrix;
use crate::model::{Container, Job, Workflow};
use crate::plan::{
    ContainerDef, Plan, PlannedJob, PlannedStep, Retry, RunDefaults, StepBody, Strategy,
};
use crate::source::{excerpt, SourceFile};
use crate::yaml::Scalar;

fn pairs(v: &[(Scalar, Scalar)]) -> IndexMap<String, String> {
    v.iter()
        .map(|(k, v)| (k.text.clone(), v.text.clone()))
        .collect()
}

fn container(c: &Container) -> ContainerDef {
    ContainerDef {
        image: c.image.text.clone(),
        env: pairs(&c.env),
        ports: c.ports.iter().map(|s| s.text.clone()).collect(),
        volumes: c.volumes.iter().map(|s| s.text.clone()).collect(),
        options: c.options.as_ref().map(|s| s.text.clone()),
        credentials: c
            .credentials
            .as_ref()
            .map(|(u, p)| (u.text.clone(), p.text.clone())),
        span: c.span,
    }
}

/// Jobs in an order where each comes after its needs, file order among the ready ones
/// (Kahn's algorithm with the ready jobs in a heap: linear in jobs and needs). Jobs in a
/// cycle (already reported) follow in file order.
fn order(wf: &Workflow) -> Vec<usize> {
    let index: HashMap<&str, usize> = wf
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.text.as_str(), i))
        .collect();
    let n = wf.jobs.len();
    let mut waiting = vec![0usize; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, job) in wf.jobs.iter().enumerate() {
        for need in &job.needs {
            if let Some(&d) = index.get(need.text.as_str()) {
                if d != i {
                    waiting[i] += 1;
                    dependents[d].push(i);
                }
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| waiting[i] == 0).map(Reverse).collect();
    let mut done = vec![false; n];
    let mut out = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        done[i] = true;
        out.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(Reverse(d));
            }
        }
    }
    out.extend((0..n).filter(|&i| !done[i]));
    out
}

pub(crate) fn build(src: &SourceFile, wf: &Workflow, diags: &mut Vec<Diagnostic>) -> Plan {
    let mut jobs = Vec::new();
    for i in order(wf) {
        let job = &wf.jobs[i];
        let combos = match &job.matrix {
            Some(m) => match matrix::expand(m) {
                Ok(c) => c,
                Err(e) => {
                    let help = if e.contains("no combinations") {
                        "remove some `exclude` entries, or add values to the matrix"
                    } else {
                        "remove values from the matrix, or add `exclude` entries"
                    };
                    diags.push(
                        Diagnostic::error(m.span, format!("job `{}`: {e}", excerpt(&job.id.text)))
                            .with_help(help),
                    );
                    continue;
                }
            },
            None => vec![IndexMap::new()],
        };
        let total = combos.len();
        for (n, combo) in combos.into_iter().enumerate() {
            jobs.push(planned(wf, job, combo, n, total));
        }
    }
    let name = wf.name.as_ref().map(|n| n.text.clone()).unwrap_or_else(|| {
        std::path::Path::new(src.name())
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| src.name().to_string())
    });
    Plan {
        name,
        source_path: src.name().to_string(),
        env: pairs(&wf.env),
        jobs,
    }
}

fn planned(
    wf: &Workflow,
    job: &Job,
    combo: matrix::Combination,
    index: usize,
    total: usize,
) -> PlannedJob {
    let key = matrix::job_key(&job.id.text, &combo);
    let name = job
        .name
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_else(|| key.clone());
    let defaults = RunDefaults {
        shell: job
            .defaults
            .shell
            .as_ref()
            .or(wf.defaults.shell.as_ref())
            .map(|s| s.text.clone()),
        working_directory: job
            .defaults
            .working_directory
            .as_ref()
            .or(wf.defaults.working_directory.as_ref())
            .map(|s| s.text.clone()),
    };
    let steps = job
        .steps
        .iter()
        .map(|s| PlannedStep {
            index: s.index,
            id: s.id.as_ref().map(|i| i.text.clone()),
            name: s.name.as_ref().map(|n| n.text.clone()),
            body: match (&s.run, &s.uses) {
                (Some(run), _) => StepBody::Run {
                    script: run.text.clone(),
                    shell: s.shell.as_ref().map(|x| x.text.clone()),
                    working_directory: s.working_directory.as_ref().map(|x| x.text.clone()),
                },
                (None, Some(uses)) => StepBody::Uses {
                    uses: uses.text.trim().to_string(),
                    with: pairs(&s.with),
                    span: uses.span,
                },
                (None, None) => StepBody::Run {
                    script: String::new(),
                    shell: None,
                    working_directory: None,
                },
            },
            env: pairs(&s.env),
            condition: s.condition.as_ref().map(|c| c.text.clone()),
            timeout_minutes: s.timeout_minutes.as_ref().map(|t| t.text.clone()),
            continue_on_error: s.continue_on_error.as_ref().map(|t| t.text.clone()),
            retry: s.retry.map(|(attempts, delay_seconds)| Retry {
                attempts,
                delay_seconds,
            }),
            span: s.span,
        })
        .collect();
    PlannedJob {
        key,
        id: job.id.text.clone(),
        name,
        needs: job.needs.iter().map(|n| n.text.clone()).collect(),
        runs_on: job.runs_on.iter().map(|l| l.text.clone()).collect(),
        runs_on_span: job.runs_on_span,
        condition: job.condition.as_ref().map(|c| c.text.clone()),
        env: pairs(&job.env),
        outputs: pairs(&job.outputs),
        matrix: combo,
        strategy: Strategy {
            fail_fast: job.fail_fast,
            max_parallel: job.max_parallel,
            job_index: index,
            job_total: total,
        },
        timeout_minutes: job.timeout_minutes.as_ref().map(|t| t.text.clone()),
        continue_on_error: job.continue_on_error.as_ref().map(|t| t.text.clone()),
        defaults,
        container: job.container.as_ref().map(container),
        services: job
            .services
            .iter()
            .map(|(id, c)| (id.text.clone(), container(c)))
            .collect(),
        steps,
        span: job.id.span,
    }
}
