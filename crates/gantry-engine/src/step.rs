//! Running one step: its condition, rendering, the script and env files, retries,
//! timeout and continue-on-error, and what it hands to later steps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_backend::{Container, ContainerKind, ContainerSpec, ExecRequest};
use gantry_expr::JobStatus;
use gantry_workflow::{PlannedStep, StepBody};
use indexmap::IndexMap;

use crate::builtin::BuiltinCall;
use crate::cancel::{CancelLevel, CancelReason};
use crate::context::StepResult;
use crate::duration::{human_duration, seconds};
use crate::env_file;
use crate::event::{Conclusion, Event, Level};
use crate::exec_driver::{drive, OutputRoute, StopCause};
use crate::job_run::JobRun;
use crate::shell;

/// What happened to one step.
#[derive(Debug, Clone)]
pub(crate) struct StepReport {
    pub outcome: Conclusion,
    pub conclusion: Conclusion,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub outputs: IndexMap<String, String>,
    pub attempts: u32,
}

impl StepReport {
    fn failed(error: String) -> Self {
        StepReport {
            outcome: Conclusion::Failure,
            conclusion: Conclusion::Failure,
            exit_code: None,
            error: Some(error),
            outputs: IndexMap::new(),
            attempts: 1,
        }
    }
}

/// One attempt's result before continue-on-error.
struct Attempt {
    outcome: Conclusion,
    exit_code: Option<i32>,
    error: Option<String>,
    outputs: IndexMap<String, String>,
    env: IndexMap<String, String>,
    paths: Vec<String>,
}

impl JobRun {
    /// Runs `step` (or skips it) and records its result in the job's scope.
    pub(crate) async fn run_step(&mut self, step: &PlannedStep) {
        let started = Instant::now();
        // Masked once here: the name reaches the terminal, events, messages and the ledger.
        let name = self.masker.mask_str(&self.step_name(step));
        let report = self.step_report(step, &name).await;

        if report.conclusion == Conclusion::Failure {
            self.scope.raise_status(JobStatus::Failure);
        }
        if let Some(id) = &step.id {
            self.scope.steps.insert(
                id.clone(),
                StepResult {
                    outcome: report.outcome,
                    conclusion: report.conclusion,
                    outputs: report.outputs.clone(),
                },
            );
        }
        let error = report.error.as_ref().map(|e| self.masker.mask_str(e));
        if let Some(e) = &error {
            self.message(Some(step.index), Level::Error, e.clone())
                .await;
        }
        let _ = self
            .events
            .send(Event::StepFinished {
                job: self.key.clone(),
                step: step.index,
                step_id: step.id.clone(),
                name,
                outcome: report.outcome,
                conclusion: report.conclusion,
                exit_code: report.exit_code,
                attempts: report.attempts,
                duration_ms: started.elapsed().as_millis() as u64,
                outputs: report
                    .outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), self.masker.mask_str(v)))
                    .collect(),
                error,
            })
            .await;
    }

    async fn step_report(&mut self, step: &PlannedStep, name: &str) -> StepReport {
        if self.cancel.level() == CancelLevel::Force {
            return StepReport {
                attempts: 0,
                ..skipped(Conclusion::Cancelled)
            };
        }
        let condition = step.condition.as_deref().unwrap_or("success()");
        match gantry_expr::condition(condition, &self.scope.eval_context()) {
            Ok(true) => {}
            Ok(false) => {
                return StepReport {
                    attempts: 0,
                    ..skipped(Conclusion::Skipped)
                }
            }
            Err(e) => return StepReport::failed(format!("step `{name}`: `if:` {e}")),
        }

        // The step's env is rendered with the env so far, then becomes part of it.
        let base_env = self.scope.env.clone();
        let mut step_env = IndexMap::new();
        for (k, v) in &step.env {
            match self.render(v) {
                Ok(s) => {
                    step_env.insert(k.clone(), s.clone());
                    self.scope.env.insert(k.clone(), s);
                }
                Err(e) => {
                    self.scope.env = base_env;
                    return StepReport::failed(format!("step `{name}`: env `{k}`: {e}"));
                }
            }
        }
        let report = self.step_attempts(step, name).await;
        // The step's own env ends with it; what it wrote to $GANTRY_ENV stays.
        self.scope.env = base_env;
        for (k, v) in &self.file_env {
            self.scope.env.insert(k.clone(), v.clone());
        }
        report
    }

    async fn step_attempts(&mut self, step: &PlannedStep, name: &str) -> StepReport {
        let timeout = match self.minutes(step.timeout_minutes.as_deref()) {
            Ok(t) => t,
            Err(e) => return StepReport::failed(format!("step `{name}`: timeout-minutes: {e}")),
        };
        let continue_on_error = match self.flag(step.continue_on_error.as_deref()) {
            Ok(b) => b,
            Err(e) => return StepReport::failed(format!("step `{name}`: continue-on-error: {e}")),
        };
        let (attempts, delay) = step
            .retry
            .map(|r| (r.attempts.max(1), seconds(r.delay_seconds)))
            .unwrap_or((1, Duration::ZERO));

        let mut last = None;
        let mut used = 0;
        for attempt in 1..=attempts {
            used = attempt;
            let _ = self
                .events
                .send(Event::StepStarted {
                    job: self.key.clone(),
                    step: step.index,
                    name: name.to_string(),
                    attempt,
                })
                .await;
            let result = self.attempt(step, name, timeout, attempt).await;
            let retry = result.outcome == Conclusion::Failure
                && attempt < attempts
                && !self.cancel.is_cancelled();
            last = Some(result);
            if !retry {
                break;
            }
            self.message(
                Some(step.index),
                Level::Warning,
                format!(
                    "attempt {attempt}/{attempts} failed; retrying in {:.1}s",
                    delay.as_secs_f64()
                ),
            )
            .await;
            let mut cancel = self.cancel.subscribe();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.changed() => {}
            }
        }
        let Some(last) = last else {
            return StepReport::failed(format!("step `{name}` did not run"));
        };
        // Env and path changes apply only from a successful (or final) attempt.
        for (k, v) in &last.env {
            self.file_env.insert(k.clone(), v.clone());
            self.scope.env.insert(k.clone(), v.clone());
        }
        for p in last.paths.iter().rev() {
            self.path_additions.insert(0, p.clone());
        }
        let conclusion = if last.outcome == Conclusion::Failure && continue_on_error {
            Conclusion::Success
        } else {
            last.outcome
        };
        StepReport {
            outcome: last.outcome,
            conclusion,
            exit_code: last.exit_code,
            error: last.error,
            outputs: last.outputs,
            attempts: used,
        }
    }

    async fn attempt(
        &mut self,
        step: &PlannedStep,
        name: &str,
        timeout: Option<Duration>,
        _attempt: u32,
    ) -> Attempt {
        let route = OutputRoute {
            events: self.events.clone(),
            masker: self.masker.clone(),
            job: self.key.clone(),
            step: step.index,
            step_debug: self.step_debug(),
        };
        let temp = self.target.paths().temp;
        // Steps of a job run one at a time, so they share one set of files, truncated
        // before each step: creating fresh inodes per step is what costs most on ext4.
        let files = format!("{temp}/_gantry/step");
        let output_file = format!("{files}.output");
        let env_file = format!("{files}.env");
        let path_file = format!("{files}.path");
        let summary_file = format!("{files}.summary");
        // Written in one call just before the step runs (one round trip on remote backends);
        // files the last step left empty are not truncated again.
        let mut prepared: Vec<(String, Vec<u8>, u32)> = if self.step_files_clean {
            Vec::new()
        } else {
            [&output_file, &env_file, &path_file, &summary_file]
                .into_iter()
                .map(|f| (f.clone(), Vec::new(), 0o666))
                .collect()
        };
        let mut env = self.process_env(step, matches!(step.body, StepBody::Run { .. }));
        for (var, file) in [
            ("OUTPUT", &output_file),
            ("ENV", &env_file),
            ("PATH", &path_file),
            ("STEP_SUMMARY", &summary_file),
        ] {
            env.insert(format!("GANTRY_{var}"), file.clone());
            env.insert(format!("GITHUB_{var}"), file.clone());
        }

        let (target, req) = match &step.body {
            StepBody::Run {
                script,
                shell,
                working_directory,
            } => {
                let script = match self.render(script) {
                    Ok(s) => s,
                    Err(e) => return fail_attempt(format!("step `{name}`: run: {e}")),
                };
                let shell_name = match shell.as_deref().or(self.job.defaults.shell.as_deref()) {
                    Some(s) => match self.render(s) {
                        Ok(s) => Some(s),
                        Err(e) => return fail_attempt(format!("step `{name}`: shell: {e}")),
                    },
                    None => None,
                };
                let shell_name = match shell_name {
                    Some(s) => Some(s),
                    None => Some(self.default_shell().await.to_string()),
                };
                let shell_cmd = match shell::resolve(shell_name.as_deref()) {
                    Ok(c) => c,
                    Err(e) => return fail_attempt(format!("step `{name}`: {e}")),
                };
                let script_path = format!("{temp}/_gantry/script{}", shell_cmd.extension);
                let mut body = script.into_bytes();
                if !body.ends_with(b"\n") {
                    body.push(b'\n');
                }
                prepared.push((script_path.clone(), body, 0o755));
                let wd = match working_directory.as_deref().or(self
                    .job
                    .defaults
                    .working_directory
                    .as_deref())
                {
                    Some(d) => match self.render(d) {
                        Ok(d) => Some(self.resolve_dir(&d)),
                        Err(e) => {
                            return fail_attempt(format!("step `{name}`: working-directory: {e}"))
                        }
                    },
                    None => None,
                };
                let req = ExecRequest::new(shell_cmd.argv(&script_path))
                    .env(env)
                    .working_dir(wd);
                (self.target.clone(), req)
            }
            StepBody::Uses { uses, with, .. } => {
                let mut rendered = IndexMap::new();
                for (k, v) in with {
                    match self.render(v) {
                        Ok(s) => {
                            rendered.insert(k.clone(), s);
                        }
                        Err(e) => return fail_attempt(format!("step `{name}`: with.{k}: {e}")),
                    }
                }
                if let Some(image) = uses.strip_prefix("docker://") {
                    match self.step_container(step, image, &rendered, env).await {
                        Ok(pair) => pair,
                        Err(e) => return fail_attempt(format!("step `{name}`: {e}")),
                    }
                } else if let Some(builtin) = self.builtins.find(uses) {
                    let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel();
                    let call = BuiltinCall {
                        run_id: self.run_id.clone(),
                        job_key: self.key.clone(),
                        with: rendered,
                        target: self.target.clone(),
                        log: log_tx,
                    };
                    let result = builtin.run(call).await;
                    while let Ok(line) = log_rx.try_recv() {
                        route.line(&line).await;
                    }
                    return match result {
                        Ok(out) => Attempt {
                            outcome: Conclusion::Success,
                            exit_code: Some(0),
                            error: None,
                            outputs: out.outputs,
                            env: IndexMap::new(),
                            paths: Vec::new(),
                        },
                        Err(e) => fail_attempt(format!("step `{name}` ({uses}): {e}")),
                    };
                } else {
                    return fail_attempt(format!("step `{name}`: nothing serves `uses: {uses}`"));
                }
            }
        };

        if let Err(e) = self.target.write_files(&prepared).await {
            return fail_attempt(format!(
                "step `{name}`: preparing its script and env files: {e}"
            ));
        }
        // The step may write them; reading them back afterwards tells again.
        self.step_files_clean = false;
        let driven = drive(&target, req, &route, timeout, &self.cancel, self.grace).await;
        let (result, cause) = (driven.result, driven.cause);
        if !Arc::ptr_eq(&target, &self.target) {
            if let Err(e) = target.remove().await {
                route
                    .line(&format!("gantry: removing the step container: {e}"))
                    .await;
            }
        }
        let mut attempt = match result {
            Err(e) => fail_attempt(format!("step `{name}`: {e}")),
            Ok(status) => {
                let mut a = Attempt {
                    outcome: if status.success() {
                        Conclusion::Success
                    } else {
                        Conclusion::Failure
                    },
                    exit_code: Some(status.shell_code()),
                    error: (!status.success()).then(|| format!("step `{name}` failed: {status}")),
                    outputs: IndexMap::new(),
                    env: IndexMap::new(),
                    paths: Vec::new(),
                };
                if let Err(e) = self
                    .read_files(&mut a, [&output_file, &env_file, &path_file, &summary_file])
                    .await
                {
                    a.outcome = Conclusion::Failure;
                    a.error = Some(format!("step `{name}`: {e}"));
                }
                // `$GITHUB_OUTPUT` wins over the deprecated command for the same name.
                for (k, v) in driven.command_outputs {
                    a.outputs.entry(k).or_insert(v);
                }
                a
            }
        };
        match cause {
            Some(StopCause::Timeout(t)) => {
                attempt.outcome = Conclusion::Failure;
                attempt.error = Some(format!(
                    "step `{name}` exceeded its timeout of {} and was stopped",
                    human_duration(t)
                ));
            }
            Some(StopCause::Cancelled(reason)) => {
                attempt.outcome = if reason.as_ref().is_some_and(CancelReason::is_failure) {
                    Conclusion::Failure
                } else {
                    Conclusion::Cancelled
                };
                attempt.error = Some(match reason {
                    Some(r) => format!("step `{name}` was stopped: {r}"),
                    None => format!("step `{name}` was stopped"),
                });
            }
            None => {}
        }
        attempt
    }

    /// Reads back the output, env and path files (and the summary, only to know whether
    /// all four are empty again) into `a`.
    async fn read_files(&mut self, a: &mut Attempt, files: [&String; 4]) -> Result<(), String> {
        let paths: Vec<String> = files.iter().map(|f| f.to_string()).collect();
        let contents = self
            .target
            .read_files(&paths)
            .await
            .map_err(|e| format!("reading the step's env files: {e}"))?;
        self.step_files_clean = contents.len() == paths.len()
            && contents
                .iter()
                .all(|c| c.as_ref().is_some_and(|b| b.is_empty()));
        let text = |i: usize| {
            contents
                .get(i)
                .and_then(|c| c.as_ref())
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        a.outputs =
            env_file::parse_assignments("$GANTRY_OUTPUT", &text(0)).map_err(|e| e.to_string())?;
        a.env = env_file::parse_assignments("$GANTRY_ENV", &text(1)).map_err(|e| e.to_string())?;
        a.paths = env_file::parse_paths(&text(2));
        Ok(())
    }

    async fn step_container(
        &mut self,
        step: &PlannedStep,
        image: &str,
        with: &IndexMap<String, String>,
        env: IndexMap<String, String>,
    ) -> Result<(Arc<dyn Container>, ExecRequest), String> {
        let mut spec =
            ContainerSpec::new(ContainerKind::Step, format!("step-{}", step.index), image);
        spec.env = env.clone();
        spec.mount_workspace = true;
        if let Some(ep) = with.get("entrypoint").filter(|s| !s.trim().is_empty()) {
            spec.entrypoint = Some(vec![ep.trim().to_string()]);
        }
        let args = match with.get("args") {
            Some(a) => shell_words(a).map_err(|e| format!("with.args: {e}"))?,
            None => Vec::new(),
        };
        spec.command = (!args.is_empty()).then(|| args.clone());
        let container = self
            .environment
            .create_container(spec)
            .await
            .map_err(|e| e.to_string())?;
        Ok((container, ExecRequest::new(args).env(env)))
    }

    /// The full process environment of a step.
    ///
    /// `inherit` adds the primary target's inherited environment underneath (plain `run:`
    /// steps); a step container gets only what the workflow defines.
    fn process_env(&self, step: &PlannedStep, inherit: bool) -> IndexMap<String, String> {
        let mut env = if inherit {
            self.target.inherited_env()
        } else {
            IndexMap::new()
        };
        for name in self.scope.secrets.keys() {
            env.shift_remove(name);
        }
        let paths = self.target.paths();
        let github = &self.scope.github;
        let g = |k: &str| {
            github
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let runner = &self.scope.runner;
        let r = |k: &str| {
            runner
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let defaults = [
            ("CI", "true".to_string()),
            ("GANTRY", "true".to_string()),
            ("GITHUB_ACTIONS", "true".to_string()),
            ("GITHUB_WORKSPACE", paths.workspace.clone()),
            ("GITHUB_RUN_ID", self.run_id.clone()),
            ("GITHUB_RUN_NUMBER", "1".to_string()),
            ("GITHUB_RUN_ATTEMPT", "1".to_string()),
            ("GITHUB_JOB", self.job.id.clone()),
            (
                "GITHUB_ACTION",
                step.id
                    .clone()
                    .unwrap_or_else(|| format!("__run_{}", step.index)),
            ),
            ("GITHUB_WORKFLOW", g("workflow")),
            ("GITHUB_EVENT_NAME", g("event_name")),
            ("GITHUB_SHA", g("sha")),
            ("GITHUB_REF", g("ref")),
            ("GITHUB_REF_NAME", g("ref_name")),
            ("GITHUB_REPOSITORY", g("repository")),
            ("GITHUB_ACTOR", g("actor")),
            ("GITHUB_SERVER_URL", g("server_url")),
            ("RUNNER_OS", r("os")),
            ("RUNNER_ARCH", r("arch")),
            ("RUNNER_NAME", r("name")),
            ("RUNNER_TEMP", paths.temp.clone()),
            ("RUNNER_TOOL_CACHE", r("tool_cache")),
            ("RUNNER_ENVIRONMENT", r("environment")),
        ];
        for (k, v) in defaults {
            env.insert(k.to_string(), v);
        }
        for (k, v) in &self.scope.env {
            env.insert(k.clone(), v.clone());
        }
        if !self.path_additions.is_empty() {
            let base = env.get("PATH").cloned().unwrap_or_else(|| {
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
            });
            env.insert(
                "PATH".into(),
                format!("{}:{base}", self.path_additions.join(":")),
            );
        }
        env
    }

    fn resolve_dir(&self, dir: &str) -> String {
        if dir.starts_with('/') {
            dir.to_string()
        } else {
            format!(
                "{}/{}",
                self.target.paths().workspace.trim_end_matches('/'),
                dir
            )
        }
    }

    /// GitHub's default shell: bash when the target has it, else sh. Asked once per job.
    /// GitHub's switch for `::debug::` lines: a secret or variable `ACTIONS_STEP_DEBUG`
    /// that is `true`.
    fn step_debug(&self) -> bool {
        [&self.scope.secrets, &self.scope.vars].iter().any(|m| {
            m.get("ACTIONS_STEP_DEBUG")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        })
    }

    async fn default_shell(&mut self) -> &'static str {
        if let Some(bash) = self.has_bash {
            return if bash { "bash" } else { "sh" };
        }
        let req = ExecRequest::new(vec![
            "sh".into(),
            "-c".into(),
            "command -v bash >/dev/null 2>&1".into(),
        ])
        .env(self.target.inherited_env());
        let (tx, _rx) = tokio::sync::mpsc::channel(4);
        let (_stop, stop_rx) = tokio::sync::watch::channel(gantry_backend::StopLevel::Run);
        let bash =
            matches!(self.target.exec(req, tx, stop_rx).await, Ok(status) if status.success());
        self.has_bash = Some(bash);
        if bash {
            "bash"
        } else {
            "sh"
        }
    }

    fn step_name(&self, step: &PlannedStep) -> String {
        if let Some(n) = &step.name {
            if let Ok(s) = self.render(n) {
                return s;
            }
            return n.clone();
        }
        match &step.body {
            StepBody::Run { script, .. } => {
                let first = script
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("");
                let first: String = first.chars().take(60).collect();
                format!("Run {first}")
            }
            StepBody::Uses { uses, .. } => format!("Run {uses}"),
        }
    }
}

fn skipped(c: Conclusion) -> StepReport {
    StepReport {
        outcome: c,
        conclusion: c,
        exit_code: None,
        error: None,
        outputs: IndexMap::new(),
        attempts: 0,
    }
}

fn fail_attempt(error: String) -> Attempt {
    Attempt {
        outcome: Conclusion::Failure,
        exit_code: None,
        error: Some(error),
        outputs: IndexMap::new(),
        env: IndexMap::new(),
        paths: Vec::new(),
    }
}

/// Splits `with.args` like a POSIX shell would (quotes, backslashes), without running one.
fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => cur.push(c),
                            None => return Err("trailing backslash".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err("trailing backslash".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_args() {
        assert_eq!(
            shell_words("a 'b c' \"d \\\" e\" f\\ g").unwrap(),
            vec!["a", "b c", "d \" e", "f g"]
        );
        assert!(shell_words("'open").is_err());
        assert!(shell_words("").unwrap().is_empty());
    }
}
