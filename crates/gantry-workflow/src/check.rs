//! Checks across the model: ids, `needs` (unknown jobs, cycles), shells, and every
//! expression (syntax, contexts available where it is written, step/needs/matrix
//! references).

use std::collections::{HashMap, HashSet};

use gantry_expr::Template;

use crate::diagnostic::Diagnostic;
use crate::model::{Job, Workflow};
use crate::read::suggest;
use crate::source::{excerpt, SourceFile};
use crate::yaml::Scalar;

const ALL_CONTEXTS: &[&str] = &[
    "github", "env", "vars", "job", "jobs", "steps", "needs", "matrix", "strategy", "runner",
    "secrets", "inputs",
];

/// Which contexts a field may read (GitHub's "context availability" table).
#[derive(Clone, Copy)]
enum Field {
    WorkflowEnv,
    /// `run-name` and workflow-level `concurrency`.
    WorkflowRun,
    JobConcurrency,
    JobIf,
    JobRunsOn,
    JobEnv,
    JobName,
    JobOutputs,
    JobScalar,
    JobContainer,
    JobDefaults,
    StepIf,
    Step,
}

impl Field {
    fn contexts(self) -> &'static [&'static str] {
        match self {
            Field::WorkflowEnv => &["github", "secrets", "inputs", "vars"],
            Field::WorkflowRun => &["github", "inputs", "vars"],
            Field::JobConcurrency => &["github", "needs", "strategy", "matrix", "inputs", "vars"],
            Field::JobIf => &["github", "needs", "vars", "inputs"],
            Field::JobRunsOn | Field::JobName | Field::JobScalar => {
                &["github", "needs", "strategy", "matrix", "vars", "inputs"]
            }
            Field::JobEnv => &[
                "github", "needs", "strategy", "matrix", "vars", "secrets", "inputs",
            ],
            Field::JobContainer => &[
                "github", "needs", "strategy", "matrix", "vars", "secrets", "inputs", "env",
            ],
            Field::JobDefaults => &[
                "github", "needs", "strategy", "matrix", "env", "vars", "inputs",
            ],
            Field::JobOutputs => &[
                "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets",
                "steps", "inputs",
            ],
            Field::StepIf => &[
                "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "steps",
                "inputs",
            ],
            Field::Step => &[
                "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets",
                "steps", "inputs",
            ],
        }
    }
}

/// What the checks of one job need to know.
struct JobScope<'a> {
    job: &'a Job,
    /// Step ids in order, and the position of each (the first, when repeated).
    step_ids: Vec<&'a str>,
    step_positions: HashMap<&'a str, usize>,
    /// Step ids visible at the current point (`None` = every step of the job).
    visible_steps: Option<usize>,
    matrix_keys: Option<HashSet<String>>,
}

fn valid_id(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

pub(crate) fn check(src: &SourceFile, wf: &Workflow, diags: &mut Vec<Diagnostic>) {
    let ids: Vec<&str> = wf.jobs.iter().map(|j| j.id.text.as_str()).collect();
    let id_set: HashSet<&str> = ids.iter().copied().collect();
    for job in &wf.jobs {
        if !valid_id(&job.id.text) {
            diags.push(
                Diagnostic::error(job.id.span, format!("`{}` is not a valid job id", excerpt(&job.id.text)))
                    .with_help("job ids start with a letter or `_` and contain only letters, digits, `-` and `_`"),
            );
        }
        for need in &job.needs {
            if !id_set.contains(need.text.as_str()) {
                let help = match suggest(&need.text, &ids) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("jobs in this workflow: {}", listing(&ids)),
                };
                diags.push(
                    Diagnostic::error(
                        need.span,
                        format!(
                            "job `{}` needs `{}`, which is not a job",
                            excerpt(&job.id.text),
                            excerpt(&need.text)
                        ),
                    )
                    .with_help(help),
                );
            } else if need.text == job.id.text {
                diags.push(
                    Diagnostic::error(
                        need.span,
                        format!("job `{}` needs itself", excerpt(&job.id.text)),
                    )
                    .with_help("remove it from `needs`"),
                );
            }
        }
        check_steps(job, diags);
    }
    check_cycles(wf, diags);

    for (_, v) in &wf.env {
        expr(src, v, Field::WorkflowEnv, None, diags);
    }
    for field in [&wf.defaults.shell, &wf.defaults.working_directory]
        .into_iter()
        .flatten()
    {
        expr(src, field, Field::WorkflowEnv, None, diags);
    }
    if let Some(n) = &wf.name {
        expr(src, n, Field::WorkflowEnv, None, diags);
    }
    for v in wf.run_name.iter().chain(&wf.concurrency) {
        expr(src, v, Field::WorkflowRun, None, diags);
    }
    for job in &wf.jobs {
        check_job_exprs(src, job, diags);
    }
}

fn check_steps(job: &Job, diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &Scalar> = HashMap::new();
    for step in &job.steps {
        if let Some(id) = &step.id {
            if !valid_id(&id.text) {
                diags.push(
                    Diagnostic::error(id.span, format!("`{}` is not a valid step id", excerpt(&id.text)))
                        .with_help("step ids start with a letter or `_` and contain only letters, digits, `-` and `_`"),
                );
            }
            if let Some(first) = seen.insert(id.text.as_str(), id) {
                diags.push(
                    Diagnostic::error(
                        id.span,
                        format!(
                            "job `{}` has two steps with id `{}`",
                            excerpt(&job.id.text),
                            excerpt(&id.text)
                        ),
                    )
                    .with_help(format!(
                        "step ids must be unique within a job; the first is on line {}",
                        first.line
                    )),
                );
            }
        }
        if let Some(shell) = step.shell.as_ref().or(job.defaults.shell.as_ref()) {
            let t = shell.text.trim();
            let known = ["sh", "bash", "python", "pwsh", "powershell", "cmd"];
            if !t.contains("${{") && !known.contains(&t) && !t.contains("{0}") {
                let help = match suggest(t, &known) {
                    Some(s) => format!("did you mean `{s}`? Or give a command template containing `{{0}}`, e.g. `perl {{0}}`"),
                    None => "use sh, bash, python, pwsh, or a command template containing `{0}` such as `perl {0}`".into(),
                };
                diags.push(
                    Diagnostic::error(shell.span, format!("unknown shell `{}`", excerpt(t)))
                        .with_help(help),
                );
            }
        }
    }
}

fn check_cycles(wf: &Workflow, diags: &mut Vec<Diagnostic>) {
    let index: HashMap<&str, usize> = wf
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.text.as_str(), i))
        .collect();
    // 0 = unvisited, 1 = on the path, 2 = done. Depth-first with an explicit stack of
    // (job, next need to look at): a chain of thousands of jobs must not recurse.
    let mut state = vec![0u8; wf.jobs.len()];
    let mut reported: HashSet<Vec<usize>> = HashSet::new();
    for root in 0..wf.jobs.len() {
        if state[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some((i, next)) = stack.last_mut() {
            let i = *i;
            let Some(need) = wf.jobs[i].needs.get(*next) else {
                state[i] = 2;
                stack.pop();
                continue;
            };
            *next += 1;
            let Some(&n) = index.get(need.text.as_str()) else {
                continue;
            };
            if n == i {
                continue;
            }
            if state[n] == 1 {
                let pos = stack.iter().position(|&(s, _)| s == n).unwrap_or(0);
                let cycle: Vec<usize> = stack[pos..].iter().map(|&(s, _)| s).collect();
                let mut key = cycle.clone();
                key.sort_unstable();
                if reported.insert(key) {
                    let mut names: Vec<&str> =
                        cycle.iter().map(|&c| wf.jobs[c].id.text.as_str()).collect();
                    names.push(wf.jobs[n].id.text.as_str());
                    let shown: Vec<String> = names.iter().take(20).map(|n| excerpt(n)).collect();
                    let more = if names.len() > 20 { " -> ..." } else { "" };
                    // Jobs run after what they need, so show the order of waiting.
                    diags.push(
                        Diagnostic::error(need.span, format!("`needs` cycle: {}{more}", shown.join(" -> ")))
                            .with_label("closes the cycle")
                            .with_help("jobs in a cycle wait for each other forever; remove one of these `needs`"),
                    );
                }
            } else if state[n] == 0 {
                state[n] = 1;
                stack.push((n, 0));
            }
        }
    }
}

/// Names for a help text: the first twenty, then how many more.
fn listing(names: &[&str]) -> String {
    let mut shown: Vec<String> = names.iter().take(20).map(|n| excerpt(n)).collect();
    if names.len() > 20 {
        shown.push(format!("and {} more", names.len() - 20));
    }
    shown.join(", ")
}

fn check_job_exprs(src: &SourceFile, job: &Job, diags: &mut Vec<Diagnostic>) {
    let matrix_keys = job.matrix.as_ref().map(|m| {
        let mut keys: HashSet<String> = m.dims.iter().map(|(k, _)| k.clone()).collect();
        for inc in &m.include {
            keys.extend(inc.iter().map(|(k, _)| k.clone()));
        }
        keys
    });
    let step_ids: Vec<&str> = job
        .steps
        .iter()
        .filter_map(|st| st.id.as_ref().map(|i| i.text.as_str()))
        .collect();
    let mut step_positions = HashMap::new();
    for (i, st) in job.steps.iter().enumerate() {
        if let Some(id) = &st.id {
            step_positions.entry(id.text.as_str()).or_insert(i);
        }
    }
    let mut scope = JobScope {
        job,
        step_ids,
        step_positions,
        visible_steps: Some(0),
        matrix_keys,
    };
    if let Some(c) = &job.condition {
        expr(src, c, Field::JobIf, Some(&scope), diags);
    }
    for l in &job.runs_on {
        expr(src, l, Field::JobRunsOn, Some(&scope), diags);
    }
    if let Some(n) = &job.name {
        expr(src, n, Field::JobName, Some(&scope), diags);
    }
    for (_, v) in &job.env {
        expr(src, v, Field::JobEnv, Some(&scope), diags);
    }
    for v in &job.concurrency {
        expr(src, v, Field::JobConcurrency, Some(&scope), diags);
    }
    // `environment` reads what `runs-on` reads.
    for v in &job.environment {
        expr(src, v, Field::JobRunsOn, Some(&scope), diags);
    }
    for f in [&job.timeout_minutes, &job.continue_on_error]
        .into_iter()
        .flatten()
    {
        expr(src, f, Field::JobScalar, Some(&scope), diags);
    }
    for f in [&job.defaults.shell, &job.defaults.working_directory]
        .into_iter()
        .flatten()
    {
        expr(src, f, Field::JobDefaults, Some(&scope), diags);
    }
    for c in job
        .container
        .iter()
        .chain(job.services.iter().map(|(_, c)| c))
    {
        let mut fields: Vec<&Scalar> = vec![&c.image];
        fields.extend(c.env.iter().map(|(_, v)| v));
        fields.extend(c.ports.iter());
        fields.extend(c.volumes.iter());
        fields.extend(c.options.iter());
        if let Some((u, p)) = &c.credentials {
            fields.push(u);
            fields.push(p);
        }
        for f in fields {
            expr(src, f, Field::JobContainer, Some(&scope), diags);
        }
    }
    for (i, step) in job.steps.iter().enumerate() {
        scope.visible_steps = Some(i);
        if let Some(c) = &step.condition {
            expr(src, c, Field::StepIf, Some(&scope), diags);
        }
        let mut fields: Vec<&Scalar> = Vec::new();
        fields.extend(step.name.iter());
        fields.extend(step.run.iter());
        fields.extend(step.uses.iter());
        fields.extend(step.shell.iter());
        fields.extend(step.working_directory.iter());
        fields.extend(step.timeout_minutes.iter());
        fields.extend(step.continue_on_error.iter());
        fields.extend(step.env.iter().map(|(_, v)| v));
        fields.extend(step.with.iter().map(|(_, v)| v));
        for f in fields {
            expr(src, f, Field::Step, Some(&scope), diags);
        }
    }
    scope.visible_steps = None;
    for (_, v) in &job.outputs {
        expr(src, v, Field::JobOutputs, Some(&scope), diags);
    }
}

/// Checks one value that may hold `${{ }}` (an `if:` may also be a bare expression).
fn expr(
    src: &SourceFile,
    s: &Scalar,
    field: Field,
    scope: Option<&JobScope<'_>>,
    diags: &mut Vec<Diagnostic>,
) {
    let bare_if = matches!(field, Field::JobIf | Field::StepIf) && !s.text.contains("${{");
    let parts: Vec<(gantry_expr::Expr, usize)> = if bare_if {
        if s.text.trim().is_empty() {
            return;
        }
        match gantry_expr::parse(&s.text) {
            Ok(e) => vec![(e, 0)],
            Err(e) => {
                diags.push(
                    Diagnostic::error(
                        s.inner_span(src, e.offset, e.len),
                        format!("invalid expression: {}", e.message),
                    )
                    .with_label("here"),
                );
                return;
            }
        }
    } else {
        if !s.text.contains("${{") {
            return;
        }
        match Template::parse(&s.text) {
            Ok(t) => t
                .parts
                .into_iter()
                .filter_map(|p| match p {
                    gantry_expr::Part::Expr(e, off) => Some((e, off)),
                    gantry_expr::Part::Literal(_) => None,
                })
                .collect(),
            Err(e) => {
                diags.push(
                    Diagnostic::error(
                        s.inner_span(src, e.offset, e.len),
                        format!("invalid expression: {}", e.message),
                    )
                    .with_label("here"),
                );
                return;
            }
        }
    };
    let allowed = field.contexts();
    for (e, _) in parts {
        for r in e.references() {
            let span = s.inner_span(src, r.offset, r.len);
            let root = r.path[0].as_str();
            let root_lower = root.to_ascii_lowercase();
            if !ALL_CONTEXTS.contains(&root_lower.as_str()) {
                let help = match suggest(&root_lower, ALL_CONTEXTS) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("contexts are {}", ALL_CONTEXTS.join(", ")),
                };
                diags.push(
                    Diagnostic::error(span, format!("unknown context `{}`", excerpt(root)))
                        .with_help(help),
                );
                continue;
            }
            if !allowed.contains(&root_lower.as_str()) {
                diags.push(
                    Diagnostic::error(
                        span,
                        format!(
                            "the `{}` context is not available here",
                            excerpt(&root_lower)
                        ),
                    )
                    .with_help(format!("here you can use {}", allowed.join(", "))),
                );
                continue;
            }
            let Some(scope) = scope else { continue };
            let second = r.path.get(1).map(String::as_str);
            match (root_lower.as_str(), second) {
                ("steps", Some(id)) => {
                    let position = scope.step_positions.get(id).copied();
                    match (position, scope.visible_steps) {
                        (None, _) => {
                            let all = &scope.step_ids;
                            let help = match suggest(id, all) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None if all.is_empty() => {
                                    "give the step an `id:` to read its outputs".into()
                                }
                                None => format!(
                                    "step ids in job `{}`: {}",
                                    excerpt(&scope.job.id.text),
                                    listing(all)
                                ),
                            };
                            diags.push(
                                Diagnostic::error(
                                    span,
                                    format!(
                                        "job `{}` has no step with id `{}`",
                                        excerpt(&scope.job.id.text),
                                        excerpt(id)
                                    ),
                                )
                                .with_help(help),
                            );
                        }
                        (Some(p), Some(current)) if p >= current => {
                            diags.push(
                                Diagnostic::error(span, format!("step `{}` runs at or after this point, so its results do not exist yet", excerpt(id)))
                                    .with_help("a step can only read the steps before it"),
                            );
                        }
                        _ => {}
                    }
                }
                ("needs", Some(id)) if !scope.job.needs.iter().any(|n| n.text == id) => {
                    diags.push(
                        Diagnostic::error(
                            span,
                            format!(
                                "job `{}` does not need `{}`",
                                excerpt(&scope.job.id.text),
                                excerpt(id)
                            ),
                        )
                        .with_help(format!(
                            "add `{}` to the job's `needs` to read its results",
                            excerpt(id)
                        )),
                    );
                }
                ("matrix", Some(key)) => match &scope.matrix_keys {
                    None => diags.push(
                        Diagnostic::error(
                            span,
                            format!("job `{}` has no matrix", excerpt(&scope.job.id.text)),
                        )
                        .with_help("add `strategy.matrix`, or remove the reference"),
                    ),
                    Some(keys) if !keys.contains(key) => {
                        let list: Vec<&str> = keys.iter().map(String::as_str).collect();
                        let help = match suggest(key, &list) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("matrix keys: {}", {
                                let mut l = list.clone();
                                l.sort_unstable();
                                listing(&l)
                            }),
                        };
                        diags.push(
                            Diagnostic::error(
                                span,
                                format!(
                                    "the matrix of job `{}` has no key `{}`",
                                    excerpt(&scope.job.id.text),
                                    excerpt(key)
                                ),
                            )
                            .with_help(help),
                        );
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
}
