//! Reading the YAML tree into the model: known keys, types, required fields. Every
//! problem becomes a diagnostic; reading goes on so all of them are reported at once.

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::model::{Container, Defaults, Job, Matrix, Step, Workflow};
use crate::plan::{Span, MAX_RETRY_DELAY_SECONDS, MAX_TIMEOUT_MINUTES};
use crate::source::excerpt;
use crate::yaml::{Scalar, Style, YNode};

const TOP_KEYS: &[&str] = &[
    "name",
    "run-name",
    "on",
    "env",
    "defaults",
    "jobs",
    "permissions",
    "concurrency",
];
const JOB_KEYS: &[&str] = &[
    "name",
    "runs-on",
    "needs",
    "if",
    "env",
    "outputs",
    "strategy",
    "timeout-minutes",
    "continue-on-error",
    "defaults",
    "steps",
    "container",
    "services",
    "permissions",
    "environment",
    "concurrency",
];
const STEP_KEYS: &[&str] = &[
    "id",
    "name",
    "run",
    "shell",
    "env",
    "if",
    "working-directory",
    "timeout-minutes",
    "continue-on-error",
    "uses",
    "with",
    "retry",
];
const CONTAINER_KEYS: &[&str] = &["image", "env", "ports", "volumes", "options", "credentials"];

/// Collects diagnostics while reading.
pub(crate) struct Reader {
    pub diags: Vec<Diagnostic>,
}

/// "did you mean" for `word` among `candidates`.
pub(crate) fn suggest(word: &str, candidates: &[&str]) -> Option<String> {
    // Nothing long is a typo of a key or an id, and comparing it would cost its length
    // times every candidate.
    if word.len() > 64 {
        return None;
    }
    candidates
        .iter()
        .take(1000)
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.82)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

fn entries(node: &YNode) -> Option<&[(Scalar, YNode)]> {
    match node {
        YNode::Map(e, _) => Some(e),
        _ => None,
    }
}

impl Reader {
    fn err(&mut self, span: Span, msg: impl Into<String>, help: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(span, msg).with_help(help));
    }

    /// The entries of a mapping, reporting unknown keys; `None` (reported) if not a mapping.
    fn map<'a>(
        &mut self,
        node: &'a YNode,
        what: &str,
        known: &[&str],
    ) -> Option<&'a [(Scalar, YNode)]> {
        let Some(e) = entries(node) else {
            self.err(
                node.span(),
                format!("{what} must be a mapping, found {}", node.kind()),
                "write `key: value` pairs here",
            );
            return None;
        };
        for (k, _) in e {
            if !known.contains(&k.text.as_str()) {
                let help = match suggest(&k.text, known) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("valid keys here: {}", known.join(", ")),
                };
                self.diags.push(
                    Diagnostic::error(
                        k.span,
                        format!("unknown key `{}` in {what}", excerpt(&k.text)),
                    )
                    .with_label("not recognised")
                    .with_help(help),
                );
            }
        }
        Some(e)
    }

    fn scalar(&mut self, node: &YNode, what: &str) -> Option<Scalar> {
        match node {
            YNode::Scalar(s) => Some(s.clone()),
            other => {
                self.err(
                    other.span(),
                    format!("{what} must be a string, found {}", other.kind()),
                    "write a single value here",
                );
                None
            }
        }
    }

    /// A string-to-string mapping (`env:`, `with:`, `outputs:`).
    fn string_map(&mut self, node: &YNode, what: &str) -> Vec<(Scalar, Scalar)> {
        let Some(e) = entries(node) else {
            if !matches!(node, YNode::Scalar(s) if s.text.is_empty()) {
                self.err(
                    node.span(),
                    format!(
                        "{what} must be a mapping of names to values, found {}",
                        node.kind()
                    ),
                    "write `NAME: value` lines",
                );
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in e {
            if let Some(v) = self.scalar(v, &format!("{what}.{}", excerpt(&k.text))) {
                out.push((k.clone(), v));
            }
        }
        out
    }

    /// A string or a list of strings.
    fn string_list(&mut self, node: &YNode, what: &str) -> Vec<Scalar> {
        match node {
            YNode::Scalar(s) => vec![s.clone()],
            YNode::Seq(items, _) => items.iter().filter_map(|i| self.scalar(i, what)).collect(),
            YNode::Map(..) => {
                self.err(
                    node.span(),
                    format!("{what} must be a string or a list, found a mapping"),
                    "write one value or a `[a, b]` list",
                );
                Vec::new()
            }
        }
    }

    /// `timeout-minutes`: a positive number of minutes up to [`MAX_TIMEOUT_MINUTES`], or an
    /// expression (checked when it is evaluated).
    fn timeout_minutes(&mut self, node: &YNode, what: &str) -> Option<Scalar> {
        let s = self.scalar(node, what)?;
        if s.text.contains("${{") {
            return Some(s);
        }
        match s.text.trim().parse::<f64>() {
            Ok(m) if m.is_finite() && m > 0.0 && m <= MAX_TIMEOUT_MINUTES => Some(s),
            Ok(m) if m > MAX_TIMEOUT_MINUTES => {
                self.err(
                    s.span,
                    format!(
                        "{what} is `{}`, more than the longest timeout gantry keeps ({MAX_TIMEOUT_MINUTES} minutes, a year)",
                        excerpt(&s.text)
                    ),
                    "give a number of minutes such as `timeout-minutes: 360`, or leave it out for the default of 360",
                );
                None
            }
            _ => {
                self.err(
                    s.span,
                    format!(
                        "{what} must be a positive number or an expression, found `{}`",
                        excerpt(&s.text)
                    ),
                    "e.g. `timeout-minutes: 10`",
                );
                None
            }
        }
    }

    /// A boolean (or an expression).
    fn bool_or_expr(&mut self, node: &YNode, what: &str) -> Option<Scalar> {
        let s = self.scalar(node, what)?;
        if s.text.contains("${{") || matches!(s.text.trim(), "true" | "false") {
            Some(s)
        } else {
            self.err(
                s.span,
                format!(
                    "{what} must be true, false or an expression, found `{}`",
                    excerpt(&s.text)
                ),
                "write `true` or `false`",
            );
            None
        }
    }

    pub(crate) fn workflow(&mut self, root: &YNode) -> Workflow {
        let mut wf = Workflow::default();
        let Some(top) = self.map(root, "the workflow", TOP_KEYS) else {
            return wf;
        };
        let mut jobs_node = None;
        for (k, v) in top {
            match k.text.as_str() {
                "name" => wf.name = self.scalar(v, "name"),
                "run-name" => wf.run_name = self.scalar(v, "run-name"),
                "concurrency" => wf.concurrency = self.concurrency(v, "concurrency"),
                "env" => wf.env = self.string_map(v, "env"),
                "defaults" => wf.defaults = self.defaults(v, "defaults"),
                "jobs" => jobs_node = Some((k, v)),
                _ => {}
            }
        }
        let Some((jobs_key, jobs)) = jobs_node else {
            self.err(
                Span::default(),
                "the workflow has no `jobs:`",
                "add `jobs:` with at least one job",
            );
            return wf;
        };
        let Some(job_entries) = entries(jobs) else {
            self.err(
                jobs.span(),
                format!(
                    "`jobs` must be a mapping of job ids to jobs, found {}",
                    jobs.kind()
                ),
                "write `jobs:` then `  build:` ...",
            );
            return wf;
        };
        if job_entries.is_empty() {
            self.err(jobs_key.span, "`jobs` is empty", "add at least one job");
        }
        for (id, body) in job_entries {
            if let Some(job) = self.job(id, body) {
                wf.jobs.push(job);
            }
        }
        wf
    }

    /// `concurrency:`: a group name, or `{group, cancel-in-progress}`.
    fn concurrency(&mut self, node: &YNode, what: &str) -> Vec<Scalar> {
        if let YNode::Scalar(s) = node {
            return vec![s.clone()];
        }
        let Some(e) = self.map(node, what, &["group", "cancel-in-progress"]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in e {
            match k.text.as_str() {
                "group" => out.extend(self.scalar(v, &format!("{what}.group"))),
                "cancel-in-progress" => {
                    out.extend(self.bool_or_expr(v, &format!("{what}.cancel-in-progress")))
                }
                _ => {}
            }
        }
        if !e.iter().any(|(k, _)| k.text == "group") {
            self.err(
                node.span(),
                format!("{what} needs a `group`"),
                "e.g. `concurrency: {group: deploy, cancel-in-progress: true}`",
            );
        }
        out
    }

    /// `environment:`: a name, or `{name, url}`.
    fn environment(&mut self, node: &YNode, what: &str) -> Vec<Scalar> {
        if let YNode::Scalar(s) = node {
            return vec![s.clone()];
        }
        let Some(e) = self.map(node, what, &["name", "url"]) else {
            return Vec::new();
        };
        e.iter()
            .filter_map(|(k, v)| self.scalar(v, &format!("{what}.{}", excerpt(&k.text))))
            .collect()
    }

    fn defaults(&mut self, node: &YNode, what: &str) -> Defaults {
        let mut d = Defaults::default();
        let Some(e) = self.map(node, what, &["run"]) else {
            return d;
        };
        for (k, v) in e {
            if k.text == "run" {
                let Some(run) =
                    self.map(v, &format!("{what}.run"), &["shell", "working-directory"])
                else {
                    continue;
                };
                for (k, v) in run {
                    match k.text.as_str() {
                        "shell" => d.shell = self.scalar(v, "defaults.run.shell"),
                        "working-directory" => {
                            d.working_directory = self.scalar(v, "defaults.run.working-directory")
                        }
                        _ => {}
                    }
                }
            }
        }
        d
    }

    fn job(&mut self, id: &Scalar, body: &YNode) -> Option<Job> {
        let what = format!("job `{}`", excerpt(&id.text));
        let e = self.map(body, &what, JOB_KEYS)?;
        let mut job = Job {
            id: id.clone(),
            name: None,
            runs_on: Vec::new(),
            runs_on_span: id.span,
            needs: Vec::new(),
            condition: None,
            env: Vec::new(),
            outputs: Vec::new(),
            matrix: None,
            fail_fast: true,
            max_parallel: None,
            timeout_minutes: None,
            continue_on_error: None,
            defaults: Defaults::default(),
            container: None,
            services: Vec::new(),
            steps: Vec::new(),
            concurrency: Vec::new(),
            environment: Vec::new(),
        };
        let mut has_runs_on = false;
        let mut has_steps = false;
        for (k, v) in e {
            match k.text.as_str() {
                "name" => job.name = self.scalar(v, &format!("{what}: name")),
                "runs-on" => {
                    has_runs_on = true;
                    job.runs_on_span = v.span();
                    job.runs_on = match v {
                        YNode::Map(..) => {
                            let inner = self
                                .map(v, &format!("{what}: runs-on"), &["group", "labels"])
                                .unwrap_or(&[]);
                            let labels = inner
                                .iter()
                                .find(|(k, _)| k.text == "labels")
                                .map(|(_, v)| v.clone());
                            match labels {
                                Some(l) => self.string_list(&l, &format!("{what}: runs-on.labels")),
                                None => Vec::new(),
                            }
                        }
                        other => self.string_list(other, &format!("{what}: runs-on")),
                    };
                    if job.runs_on.is_empty()
                        || job.runs_on.iter().all(|s| s.text.trim().is_empty())
                    {
                        self.err(
                            v.span(),
                            format!("{what}: `runs-on` names no label"),
                            "e.g. `runs-on: host` or `runs-on: [self-hosted, linux]`",
                        );
                    }
                }
                "needs" => job.needs = self.string_list(v, &format!("{what}: needs")),
                "concurrency" => {
                    job.concurrency = self.concurrency(v, &format!("{what}: concurrency"))
                }
                "environment" => {
                    job.environment = self.environment(v, &format!("{what}: environment"))
                }
                "if" => job.condition = self.scalar(v, &format!("{what}: if")),
                "env" => job.env = self.string_map(v, &format!("{what}: env")),
                "outputs" => job.outputs = self.string_map(v, &format!("{what}: outputs")),
                "strategy" => self.strategy(&mut job, v, &what),
                "timeout-minutes" => {
                    job.timeout_minutes =
                        self.timeout_minutes(v, &format!("{what}: timeout-minutes"))
                }
                "continue-on-error" => {
                    job.continue_on_error =
                        self.bool_or_expr(v, &format!("{what}: continue-on-error"))
                }
                "defaults" => job.defaults = self.defaults(v, &format!("{what}: defaults")),
                "container" => {
                    job.container = self
                        .container(v, &format!("{what}: container"))
                        .map(|c| Container { span: k.span, ..c })
                }
                "services" => match entries(v) {
                    Some(services) => {
                        for (sid, sv) in services {
                            if let Some(c) =
                                self.container(sv, &format!("{what}: service `{}`", sid.text))
                            {
                                job.services.push((
                                    sid.clone(),
                                    Container {
                                        span: sid.span,
                                        ..c
                                    },
                                ));
                            }
                        }
                    }
                    None => self.err(
                        v.span(),
                        format!("{what}: `services` must be a mapping of service ids"),
                        "e.g. `services: {db: {image: postgres:16}}`",
                    ),
                },
                "steps" => {
                    has_steps = true;
                    match v {
                        YNode::Seq(items, span) => {
                            if items.is_empty() {
                                self.err(
                                    *span,
                                    format!("{what} has no steps"),
                                    "add at least one step, e.g. `- run: make`",
                                );
                            }
                            for (i, item) in items.iter().enumerate() {
                                if let Some(step) = self.step(i, item, &what) {
                                    job.steps.push(step);
                                }
                            }
                        }
                        other => self.err(
                            other.span(),
                            format!("{what}: `steps` must be a list, found {}", other.kind()),
                            "write each step as `- run: ...`",
                        ),
                    }
                }
                _ => {}
            }
        }
        if !has_runs_on {
            self.err(
                id.span,
                format!("{what} has no `runs-on`"),
                "add `runs-on: host` (or a label mapped with -P)",
            );
        }
        if !has_steps {
            self.err(
                id.span,
                format!("{what} has no `steps`"),
                "add `steps:` with at least one `- run: ...`",
            );
        }
        Some(job)
    }

    fn strategy(&mut self, job: &mut Job, node: &YNode, what: &str) {
        let Some(e) = self.map(
            node,
            &format!("{what}: strategy"),
            &["matrix", "fail-fast", "max-parallel"],
        ) else {
            return;
        };
        for (k, v) in e {
            match k.text.as_str() {
                "matrix" => job.matrix = self.matrix(v, what),
                "fail-fast" => {
                    if let Some(s) = self.bool_or_expr(v, &format!("{what}: strategy.fail-fast")) {
                        job.fail_fast = s.text.trim() != "false";
                    }
                }
                "max-parallel" => {
                    if let Some(s) = self.scalar(v, &format!("{what}: strategy.max-parallel")) {
                        match s.text.trim().parse::<usize>() {
                            Ok(n) if n > 0 => job.max_parallel = Some(n),
                            _ => self.err(s.span, format!("{what}: strategy.max-parallel must be a positive integer, found `{}`", excerpt(&s.text)), "e.g. `max-parallel: 2`"),
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn matrix(&mut self, node: &YNode, what: &str) -> Option<Matrix> {
        let e = match node {
            YNode::Scalar(s) if s.text.contains("${{") => {
                self.err(
                    s.span,
                    format!("{what}: dynamic matrices (`${{{{ }}}}`) are not supported yet"),
                    "list the matrix values in the workflow",
                );
                return None;
            }
            other => entries(other).or_else(|| {
                self.err(
                    other.span(),
                    format!(
                        "{what}: strategy.matrix must be a mapping, found {}",
                        other.kind()
                    ),
                    "e.g. `matrix: {os: [linux, bsd]}`",
                );
                None
            })?,
        };
        let mut m = Matrix {
            span: node.span(),
            ..Default::default()
        };
        for (k, v) in e {
            match k.text.as_str() {
                "include" | "exclude" => {
                    let YNode::Seq(items, _) = v else {
                        self.err(
                            v.span(),
                            format!("{what}: matrix.{} must be a list of mappings", k.text),
                            "write `- key: value` entries",
                        );
                        continue;
                    };
                    for item in items {
                        let Some(pairs) = entries(item) else {
                            self.err(
                                item.span(),
                                format!("{what}: each matrix.{} entry must be a mapping", k.text),
                                "write `- key: value`",
                            );
                            continue;
                        };
                        let entry: Vec<(String, Value)> = pairs
                            .iter()
                            .map(|(k, v)| (k.text.clone(), to_json(v)))
                            .collect();
                        if k.text == "include" {
                            m.include.push(entry);
                        } else {
                            m.exclude.push(entry);
                        }
                    }
                }
                key => match v {
                    YNode::Seq(items, span) => {
                        if items.is_empty() {
                            self.err(
                                *span,
                                format!("{what}: matrix `{}` has no values", excerpt(key)),
                                "give at least one value",
                            );
                        }
                        m.dims
                            .push((key.to_string(), items.iter().map(to_json).collect()));
                    }
                    YNode::Scalar(s) if s.text.contains("${{") => {
                        self.err(
                            s.span,
                            format!("{what}: dynamic matrix values are not supported yet"),
                            "list the values in the workflow",
                        );
                    }
                    other => self.err(
                        other.span(),
                        format!("{what}: matrix `{}` must be a list of values", excerpt(key)),
                        format!("write `{}: [a, b]`", excerpt(key)),
                    ),
                },
            }
        }
        Some(m)
    }

    /// An image reference: a string (or an expression), never a YAML null, boolean or
    /// number, never blank or with spaces.
    fn image(&mut self, s: &Scalar, what: &str) -> Option<Scalar> {
        let text = s.text.trim();
        let problem = if s.is_null() {
            Some("names no image (it is null)".to_string())
        } else if s.style == Style::Plain
            && matches!(
                to_json(&YNode::Scalar(s.clone())),
                Value::Bool(_) | Value::Number(_)
            )
        {
            Some(format!(
                "must be an image name, found the YAML value `{}`",
                excerpt(text)
            ))
        } else if !text.contains("${{") && text.contains(char::is_whitespace) {
            Some(format!(
                "`{}` is not an image name: image names contain no spaces",
                excerpt(text)
            ))
        } else {
            None
        };
        match problem {
            Some(p) => {
                self.err(
                    s.span,
                    format!("{what} {p}"),
                    "write the image as `NAME[:TAG]`, e.g. `postgres:16` (quote it if it really is a name such as 'true')",
                );
                None
            }
            None => Some(s.clone()),
        }
    }

    fn container(&mut self, node: &YNode, what: &str) -> Option<Container> {
        if let YNode::Scalar(s) = node {
            let image = self.image(s, what)?;
            return Some(Container {
                image,
                env: Vec::new(),
                ports: Vec::new(),
                volumes: Vec::new(),
                options: None,
                credentials: None,
                span: s.span,
            });
        }
        let e = self.map(node, what, CONTAINER_KEYS)?;
        let mut image = None;
        let mut c = Container {
            image: Scalar {
                text: String::new(),
                span: node.span(),
                style: Style::Plain,
                line: 1,
            },
            env: Vec::new(),
            ports: Vec::new(),
            volumes: Vec::new(),
            options: None,
            credentials: None,
            span: node.span(),
        };
        for (k, v) in e {
            match k.text.as_str() {
                "image" => {
                    let field = format!("{what}.image");
                    image = match self.scalar(v, &field) {
                        Some(i) if i.is_null() => None,
                        Some(i) => Some(self.image(&i, &field).unwrap_or(i)),
                        None => Some(Scalar {
                            text: "?".into(),
                            ..c.image.clone()
                        }),
                    }
                }
                "env" => c.env = self.string_map(v, &format!("{what}.env")),
                "ports" => c.ports = self.string_list(v, &format!("{what}.ports")),
                "volumes" => c.volumes = self.string_list(v, &format!("{what}.volumes")),
                "options" => c.options = self.scalar(v, &format!("{what}.options")),
                "credentials" => {
                    let creds = self.string_map(v, &format!("{what}.credentials"));
                    let get = |n: &str| {
                        creds
                            .iter()
                            .find(|(k, _)| k.text == n)
                            .map(|(_, v)| v.clone())
                    };
                    match (get("username"), get("password")) {
                        (Some(u), Some(p)) => c.credentials = Some((u, p)),
                        _ => self.err(
                            v.span(),
                            format!("{what}.credentials needs `username` and `password`"),
                            "give both, e.g. from secrets",
                        ),
                    }
                }
                _ => {}
            }
        }
        match image {
            Some(i) if !i.text.trim().is_empty() => c.image = i,
            _ => {
                self.err(
                    node.span(),
                    format!("{what} has no `image`"),
                    "add `image: NAME:TAG`",
                );
                return None;
            }
        }
        Some(c)
    }

    fn step(&mut self, index: usize, node: &YNode, job: &str) -> Option<Step> {
        let what = format!("step {} of {job}", index + 1);
        let e = self.map(node, &what, STEP_KEYS)?;
        let mut s = Step {
            index,
            id: None,
            name: None,
            run: None,
            uses: None,
            with: Vec::new(),
            shell: None,
            env: Vec::new(),
            condition: None,
            working_directory: None,
            timeout_minutes: None,
            continue_on_error: None,
            retry: None,
            span: node.span(),
        };
        for (k, v) in e {
            let field = format!("{what}: {}", excerpt(&k.text));
            match k.text.as_str() {
                "id" => s.id = self.scalar(v, &field),
                "name" => s.name = self.scalar(v, &field),
                "run" => s.run = self.scalar(v, &field),
                "uses" => s.uses = self.scalar(v, &field),
                "with" => s.with = self.string_map(v, &field),
                "shell" => s.shell = self.scalar(v, &field),
                "env" => s.env = self.string_map(v, &field),
                "if" => s.condition = self.scalar(v, &field),
                "working-directory" => s.working_directory = self.scalar(v, &field),
                "timeout-minutes" => s.timeout_minutes = self.timeout_minutes(v, &field),
                "continue-on-error" => s.continue_on_error = self.bool_or_expr(v, &field),
                "retry" => s.retry = self.retry(v, &field),
                _ => {}
            }
        }
        if let Some(u) = &s.uses {
            let text = u.text.trim();
            if text.is_empty() || u.is_null() {
                self.err(
                    u.span,
                    format!("{what}: `uses` is empty"),
                    "name what the step uses: `docker://IMAGE`, a built-in step such as `actions/checkout@v4`, or `./path` to an action",
                );
            } else if let Some(image) = text.strip_prefix("docker://") {
                if image.trim().is_empty() {
                    self.err(
                        u.span,
                        format!("{what}: `uses: docker://` names no image"),
                        "write `docker://IMAGE[:TAG]`, e.g. `uses: docker://alpine:3`",
                    );
                } else if !image.contains("${{") && image.contains(char::is_whitespace) {
                    self.err(
                        u.span,
                        format!(
                            "{what}: `{}` is not an image name: image names contain no spaces",
                            excerpt(text)
                        ),
                        "write `docker://IMAGE[:TAG]`, e.g. `uses: docker://alpine:3`",
                    );
                }
            }
        }
        match (&s.run, &s.uses) {
            (None, None) => self.err(
                node.span(),
                format!("{what} has neither `run` nor `uses`"),
                "give the step a `run:` script or a `uses:` action",
            ),
            (Some(r), Some(_)) => self.err(
                r.span,
                format!("{what} has both `run` and `uses`"),
                "split it into two steps",
            ),
            _ => {}
        }
        Some(s)
    }

    fn retry(&mut self, node: &YNode, what: &str) -> Option<(u32, f64)> {
        let e = self.map(node, what, &["attempts", "delay-seconds"])?;
        let mut attempts = None;
        let mut attempts_given = false;
        let mut delay = 0.0;
        for (k, v) in e {
            attempts_given |= k.text == "attempts";
            let Some(s) = self.scalar(v, &format!("{what}.{}", excerpt(&k.text))) else {
                continue;
            };
            match k.text.as_str() {
                "attempts" => match s.text.trim().parse::<u32>() {
                    Ok(n) if (1..=100).contains(&n) => attempts = Some(n),
                    _ => self.err(
                        s.span,
                        format!(
                            "{what}.attempts must be an integer from 1 to 100, found `{}`",
                            excerpt(&s.text)
                        ),
                        "e.g. `attempts: 3`",
                    ),
                },
                "delay-seconds" => match s.text.trim().parse::<f64>() {
                    Ok(d) if d.is_finite() && (0.0..=MAX_RETRY_DELAY_SECONDS).contains(&d) => {
                        delay = d
                    }
                    _ => self.err(
                        s.span,
                        format!(
                            "{what}.delay-seconds must be a number from 0 to {MAX_RETRY_DELAY_SECONDS} (a day), found `{}`",
                            excerpt(&s.text)
                        ),
                        "e.g. `delay-seconds: 5`",
                    ),
                },
                _ => {}
            }
        }
        match attempts {
            Some(a) => Some((a, delay)),
            None => {
                if attempts_given {
                    return None;
                }
                self.err(
                    node.span(),
                    format!("{what} needs `attempts`"),
                    "e.g. `retry: {attempts: 3, delay-seconds: 5}`",
                );
                None
            }
        }
    }
}

/// A matrix value as JSON, typed as YAML 1.2's core schema types plain scalars.
pub(crate) fn to_json(node: &YNode) -> Value {
    match node {
        YNode::Scalar(s) => {
            if s.style != Style::Plain {
                return Value::String(s.text.clone());
            }
            let t = s.text.as_str();
            match t {
                "true" | "True" | "TRUE" => Value::Bool(true),
                "false" | "False" | "FALSE" => Value::Bool(false),
                "null" | "Null" | "NULL" | "~" => Value::Null,
                _ => {
                    if let Ok(i) = t.parse::<i64>() {
                        Value::from(i)
                    } else if let Some(n) = t
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .and_then(serde_json::Number::from_f64)
                    {
                        Value::Number(n)
                    } else {
                        Value::String(t.to_string())
                    }
                }
            }
        }
        YNode::Seq(items, _) => Value::Array(items.iter().map(to_json).collect()),
        YNode::Map(e, _) => Value::Object(
            e.iter()
                .map(|(k, v)| (k.text.clone(), to_json(v)))
                .collect(),
        ),
    }
}
