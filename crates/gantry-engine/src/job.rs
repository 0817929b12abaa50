//! Running one job: its condition, backend and environment, job and service containers,
//! the steps in order, its outputs, and tearing everything down whatever happened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_backend::{
    BackendRegistry, Container, ContainerKind, ContainerSpec, EnvironmentRequest,
    ExecutionEnvironment, Health, PortMapping, WorkspaceSource,
};
use gantry_expr::JobStatus;
use gantry_secret::Masker;
use gantry_workflow::{ContainerDef, PlannedJob};
use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use crate::builtin::Builtins;
use crate::cancel::{CancelLevel, CancelReason, CancelSignal};
use crate::context::{strategy_value, JobScope, NeedResult};
use crate::duration::{human_duration, timeout_minutes};
use crate::event::{Conclusion, Event, EventSender, Level};
use crate::job_run::JobRun;

/// GitHub's default job timeout.
const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(360 * 60);
/// How long services may take to become healthy when their check says nothing.
const SERVICE_WAIT: Duration = Duration::from_secs(180);

/// What every job of a run shares.
pub(crate) struct RunShared {
    pub run_id: String,
    pub registry: Arc<BackendRegistry>,
    pub builtins: Builtins,
    pub masker: Arc<Masker>,
    pub events: EventSender,
    pub grace: Duration,
    pub workspace: WorkspaceSource,
    pub github: Map<String, Value>,
    pub vars: IndexMap<String, String>,
    pub secrets: IndexMap<String, String>,
    pub workflow_env: IndexMap<String, String>,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// As reported (failure even under continue-on-error).
    pub conclusion: Conclusion,
    /// As dependents and the run see it (continue-on-error turns failure into success).
    pub effective: Conclusion,
    /// Its outputs (`needs.<id>.outputs`).
    pub outputs: IndexMap<String, String>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
}

/// Runs `job` to completion and emits its events.
pub(crate) async fn run_job(
    shared: Arc<RunShared>,
    job: PlannedJob,
    needs: IndexMap<String, NeedResult>,
    cancel: CancelSignal,
) -> JobOutcome {
    let started = Instant::now();
    let mut scope = JobScope {
        github: shared.github.clone(),
        vars: shared.vars.clone(),
        secrets: shared.secrets.clone(),
        matrix: job.matrix.clone(),
        strategy: strategy_value(&job.strategy),
        needs: needs.clone(),
        runner: json!({}),
        job: json!({}),
        workspace: Some(shared.workspace.path.clone()),
        ..Default::default()
    };
    scope.github.insert("job".into(), json!(job.id));
    let display = shared
        .masker
        .mask_str(&scope.render(&job.name).unwrap_or_else(|_| job.name.clone()));

    let outcome = prepare_and_run(&shared, &job, &mut scope, &cancel, &display).await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => JobOutcome {
            conclusion: e.0,
            effective: e.0,
            outputs: IndexMap::new(),
            error: e.1,
        },
    };
    if let Some(err) = &outcome.error {
        let _ = shared
            .events
            .send(Event::Message {
                job: job.key.clone(),
                step: None,
                level: if outcome.conclusion == Conclusion::Failure {
                    Level::Error
                } else {
                    Level::Info
                },
                message: shared.masker.mask_str(err),
            })
            .await;
    }
    let _ = shared
        .events
        .send(Event::JobFinished {
            job: job.key.clone(),
            name: display,
            conclusion: outcome.conclusion,
            duration_ms: started.elapsed().as_millis() as u64,
            outputs: outcome
                .outputs
                .iter()
                .map(|(k, v)| (k.clone(), shared.masker.mask_str(v)))
                .collect(),
            error: outcome.error.as_ref().map(|e| shared.masker.mask_str(e)),
        })
        .await;
    outcome
}

type Early = (Conclusion, Option<String>);

async fn prepare_and_run(
    shared: &Arc<RunShared>,
    job: &PlannedJob,
    scope: &mut JobScope,
    cancel: &CancelSignal,
    display: &str,
) -> Result<JobOutcome, Early> {
    // The job's condition sees its needs' results and whether the run was cancelled.
    let needs_ok = scope
        .needs
        .values()
        .all(|n| n.result == Conclusion::Success);
    let needs_failed = scope
        .needs
        .values()
        .any(|n| matches!(n.result, Conclusion::Failure | Conclusion::Cancelled));
    scope.status = if cancel.is_cancelled() {
        JobStatus::Cancelled
    } else if needs_failed {
        JobStatus::Failure
    } else {
        JobStatus::Success
    };
    let run = match &job.condition {
        None => needs_ok && !cancel.is_cancelled(),
        Some(cond) => gantry_expr::condition(cond, &scope.eval_context()).map_err(|e| {
            (
                Conclusion::Failure,
                Some(format!("job `{display}`: `if:` {e}")),
            )
        })?,
    };
    if cancel.level() == CancelLevel::Force || (!run && cancel.is_cancelled()) {
        return Err((
            Conclusion::Cancelled,
            cancel.reason().map(|r| r.to_string()),
        ));
    }
    if !run {
        return Err((Conclusion::Skipped, None));
    }
    // Steps' status functions see only this job's own steps.
    scope.status = if cancel.is_cancelled() {
        JobStatus::Cancelled
    } else {
        JobStatus::Success
    };

    // Workflow env, then job env, each rendered with what came before.
    for (k, v) in shared.workflow_env.iter().chain(job.env.iter()) {
        let value = scope.render(v).map_err(|e| {
            (
                Conclusion::Failure,
                Some(format!("job `{display}`: env `{k}`: {e}")),
            )
        })?;
        scope.env.insert(k.clone(), value);
    }

    let labels = job
        .runs_on
        .iter()
        .map(|l| scope.render(l))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            (
                Conclusion::Failure,
                Some(format!("job `{display}`: runs-on: {e}")),
            )
        })?;
    let resolved = shared
        .registry
        .resolve(&labels)
        .map_err(|e| (Conclusion::Failure, Some(format!("job `{display}`: {e}"))))?;
    let backend_id = resolved.backend.id().to_string();

    let timeout = match &job.timeout_minutes {
        None => DEFAULT_JOB_TIMEOUT,
        Some(raw) => {
            let text = scope.render(raw).map_err(|e| {
                (
                    Conclusion::Failure,
                    Some(format!("job `{display}`: timeout-minutes: {e}")),
                )
            })?;
            timeout_minutes(&text).map_err(|e| {
                (
                    Conclusion::Failure,
                    Some(format!("job `{display}`: timeout-minutes: {e}")),
                )
            })?
        }
    };
    let continue_on_error = match &job.continue_on_error {
        None => false,
        Some(raw) => matches!(scope.render(raw).as_deref().map(str::trim), Ok("true")),
    };

    let mut request = EnvironmentRequest::new(
        shared.run_id.clone(),
        job.key.clone(),
        resolved.spec.clone(),
        shared.workspace.clone(),
    );
    request.timeout = Some(timeout);
    let environment = resolved
        .backend
        .create_environment(request)
        .await
        .map_err(|e| {
            (
                Conclusion::Failure,
                Some(format!("job `{display}`: backend `{backend_id}`: {e}")),
            )
        })?;

    let _ = shared
        .events
        .send(Event::JobStarted {
            job: job.key.clone(),
            name: display.to_string(),
            backend: backend_id.clone(),
        })
        .await;

    // From here on the environment exists: whatever happens, it is removed.
    let job_cancel = cancel.child();
    let timer = {
        let c = job_cancel.clone();
        let minutes = (timeout.as_secs_f64() / 60.0).round() as u64;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            c.raise(CancelLevel::Graceful, CancelReason::JobTimeout(minutes));
        })
    };
    let result = run_in_environment(
        shared,
        job,
        scope,
        &job_cancel,
        environment.clone(),
        display,
    )
    .await;
    timer.abort();
    let removal = environment.remove().await;

    let (mut conclusion, mut error, outputs) = result;
    if let Err(e) = removal {
        let msg = format!("job `{display}`: removing its environment: {e}");
        error = Some(match error {
            Some(prev) => format!("{prev}; {msg}"),
            None => msg,
        });
        if conclusion == Conclusion::Success {
            conclusion = Conclusion::Failure;
        }
    }
    if let Some(CancelReason::JobTimeout(m)) = job_cancel.reason() {
        if !cancel.is_cancelled() {
            conclusion = Conclusion::Failure;
            error.get_or_insert_with(|| {
                format!("job `{display}` exceeded its timeout of {m} minutes")
            });
        }
    }
    let effective = if conclusion == Conclusion::Failure && continue_on_error {
        Conclusion::Success
    } else {
        conclusion
    };
    Ok(JobOutcome {
        conclusion,
        effective,
        outputs,
        error,
    })
}

async fn run_in_environment(
    shared: &Arc<RunShared>,
    job: &PlannedJob,
    scope: &mut JobScope,
    cancel: &CancelSignal,
    environment: Arc<dyn ExecutionEnvironment>,
    display: &str,
) -> (Conclusion, Option<String>, IndexMap<String, String>) {
    let runner = environment.runner();
    scope.runner = json!({
        "name": runner.name, "os": runner.os, "arch": runner.arch, "temp": runner.temp,
        "tool_cache": runner.tool_cache, "environment": runner.environment,
    });

    let target = match setup_containers(shared, job, scope, &environment, display).await {
        Ok(t) => t,
        Err(e) => return (Conclusion::Failure, Some(e), IndexMap::new()),
    };
    let paths = target.paths();
    scope
        .github
        .insert("workspace".into(), json!(paths.workspace));
    if std::path::Path::new(&paths.workspace).is_dir() {
        scope.workspace = Some(paths.workspace.clone().into());
    }

    let mut run = JobRun {
        run_id: shared.run_id.clone(),
        key: job.key.clone(),
        job: job.clone(),
        events: shared.events.clone(),
        masker: shared.masker.clone(),
        cancel: cancel.clone(),
        grace: shared.grace,
        builtins: shared.builtins.clone(),
        environment,
        target,
        scope: std::mem::take(scope),
        path_additions: Vec::new(),
        file_env: IndexMap::new(),
        has_bash: None,
        step_files_clean: false,
    };
    for step in &job.steps {
        if cancel.is_cancelled() {
            run.scope.raise_status(JobStatus::Cancelled);
        }
        run.run_step(step).await;
    }
    if cancel.is_cancelled() {
        run.scope.raise_status(JobStatus::Cancelled);
    }

    let mut outputs = IndexMap::new();
    let mut errors = Vec::new();
    for (name, raw) in &job.outputs {
        match run.render(raw) {
            Ok(v) => {
                outputs.insert(name.clone(), v);
            }
            Err(e) => errors.push(format!("output `{name}`: {e}")),
        }
    }
    *scope = run.scope;
    let conclusion = match scope.status {
        JobStatus::Success if errors.is_empty() => Conclusion::Success,
        JobStatus::Success | JobStatus::Failure => Conclusion::Failure,
        JobStatus::Cancelled => match cancel.reason() {
            Some(r) if r.is_failure() => Conclusion::Failure,
            _ => Conclusion::Cancelled,
        },
    };
    let error = if errors.is_empty() {
        match (conclusion, cancel.reason()) {
            (Conclusion::Cancelled, Some(r)) => Some(r.to_string()),
            (Conclusion::Failure, Some(r @ CancelReason::Fault(_))) => Some(r.to_string()),
            _ => None,
        }
    } else {
        Some(format!("job `{display}`: {}", errors.join("; ")))
    };
    (conclusion, error, outputs)
}

/// Creates the job container (or takes the environment's primary target) and starts the
/// services, waiting until every one is healthy.
async fn setup_containers(
    shared: &Arc<RunShared>,
    job: &PlannedJob,
    scope: &mut JobScope,
    environment: &Arc<dyn ExecutionEnvironment>,
    display: &str,
) -> Result<Arc<dyn Container>, String> {
    let mut services = Map::new();
    for (id, def) in &job.services {
        let spec = container_spec(scope, ContainerKind::Service, id, def)
            .map_err(|e| format!("job `{display}`: service `{id}`: {e}"))?;
        let c = environment
            .create_container(spec)
            .await
            .map_err(|e| format!("job `{display}`: service `{id}`: {e}"))?;
        c.start()
            .await
            .map_err(|e| format!("job `{display}`: service `{id}`: {e}"))?;
        services.insert(id.clone(), json!({"id": c.id(), "ports": {}}));
        wait_healthy(shared, job, id, &c).await?;
    }
    let target = match &job.container {
        Some(def) => {
            let mut spec = container_spec(scope, ContainerKind::Job, "job", def)
                .map_err(|e| format!("job `{display}`: container: {e}"))?;
            spec.mount_workspace = true;
            let c = environment
                .create_container(spec)
                .await
                .map_err(|e| format!("job `{display}`: container: {e}"))?;
            c.start()
                .await
                .map_err(|e| format!("job `{display}`: container: {e}"))?;
            scope.job = json!({"container": {"id": c.id()}, "services": services});
            c
        }
        None => {
            scope.job = json!({"services": services});
            let primary = environment
                .primary()
                .await
                .map_err(|e| format!("job `{display}`: {e}"))?;
            primary
                .start()
                .await
                .map_err(|e| format!("job `{display}`: {e}"))?;
            primary
        }
    };
    Ok(target)
}

async fn wait_healthy(
    shared: &Arc<RunShared>,
    job: &PlannedJob,
    id: &str,
    c: &Arc<dyn Container>,
) -> Result<(), String> {
    let started = Instant::now();
    let mut announced = false;
    loop {
        match c.health().await {
            Ok(Health::Running) | Ok(Health::Healthy) => return Ok(()),
            Ok(Health::Unhealthy(why)) => {
                return Err(format!(
                    "service `{id}` of job `{}` is unhealthy: {why}",
                    job.key
                ))
            }
            Ok(Health::Starting) => {}
            Err(e) => return Err(format!("service `{id}` of job `{}`: {e}", job.key)),
        }
        if started.elapsed() > SERVICE_WAIT {
            return Err(format!(
                "service `{id}` of job `{}` did not become healthy within {}",
                job.key,
                human_duration(SERVICE_WAIT)
            ));
        }
        if !announced {
            announced = true;
            let _ = shared
                .events
                .send(Event::Message {
                    job: job.key.clone(),
                    step: None,
                    level: Level::Info,
                    message: format!("waiting for service `{id}` to become healthy"),
                })
                .await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn container_spec(
    scope: &JobScope,
    kind: ContainerKind,
    name: &str,
    def: &ContainerDef,
) -> Result<ContainerSpec, String> {
    let r = |s: &str| scope.render(s);
    let image = r(&def.image)?;
    if image.trim().is_empty() {
        return Err("image is empty".into());
    }
    let mut spec = ContainerSpec::new(kind, name, image);
    for (k, v) in &def.env {
        spec.env.insert(k.clone(), r(v)?);
    }
    for p in &def.ports {
        spec.ports.push(parse_port(&r(p)?)?);
    }
    for v in &def.volumes {
        spec.volumes.push(r(v)?);
    }
    spec.options = def.options.as_deref().map(r).transpose()?;
    if let Some((u, p)) = &def.credentials {
        spec.credentials = Some((r(u)?, r(p)?));
    }
    if kind == ContainerKind::Service {
        spec.aliases.push(name.to_string());
    }
    Ok(spec)
}

/// Parses `8080`, `8080:80`, `127.0.0.1:8080:80` or `53/udp`.
fn parse_port(text: &str) -> Result<PortMapping, String> {
    let (body, protocol) = match text.split_once('/') {
        Some((b, p)) => (b, p.to_string()),
        None => (text, "tcp".to_string()),
    };
    let parts: Vec<&str> = body.split(':').collect();
    let num = |s: &str| {
        s.trim()
            .parse::<u16>()
            .map_err(|_| format!("port `{text}`: `{s}` is not a port number"))
    };
    match parts.as_slice() {
        [c] => Ok(PortMapping {
            container: num(c)?,
            host: None,
            protocol,
        }),
        [h, c] | [_, h, c] => Ok(PortMapping {
            container: num(c)?,
            host: Some(num(h)?),
            protocol,
        }),
        _ => Err(format!(
            "port `{text}`: expected `CONTAINER`, `HOST:CONTAINER` or `IP:HOST:CONTAINER`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(parse_port("80").unwrap().container, 80);
        let p = parse_port("8080:80/udp").unwrap();
        assert_eq!(
            (p.host, p.container, p.protocol.as_str()),
            (Some(8080), 80, "udp")
        );
        assert!(parse_port("x:80").is_err());
        assert!(parse_port("1:2:3:4").is_err());
    }
}
