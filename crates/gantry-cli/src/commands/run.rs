//! `gantry run`: validate, plan, run on the configured backends, record and render.

use crate::console::{err, errln};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gantry_backend::{BackendRegistry, WorkspaceSource};
use gantry_engine::{CancelLevel, CancelReason, CancelSignal, Conclusion, Engine, RunConfig};
use gantry_secret::SecretSet;
use gantry_state::{Ledger, LogStore, NewRun, RunStatus, StateDir};
use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use crate::args::RunArgs;
use crate::commands::validate::check_file;
use crate::config::Config;
use crate::discover::workflow_files;
use crate::exit::{CliError, Outcome};
use crate::record::Recorder;
use crate::render::{JsonRenderer, LineRenderer, ProgressRenderer, Renderer, Style};
use crate::wiring;

/// The longest `--grace` taken: a step that ignores SIGTERM for a day is not coming back.
const MAX_GRACE_SECONDS: f64 = 86_400.0;

/// Events in flight between the engine and the recorder; bounded for back-pressure.
const EVENT_BUFFER: usize = 256;

pub(crate) async fn run(
    args: &RunArgs,
    config: &Config,
    state: &StateDir,
) -> Result<Outcome, CliError> {
    if !(args.grace.is_finite() && (0.0..=MAX_GRACE_SECONDS).contains(&args.grace)) {
        return Err(CliError::Usage(format!(
            "--grace {:?}: expected a number of seconds from 0 to {MAX_GRACE_SECONDS} (one day)",
            args.grace
        )));
    }
    if args.max_jobs == Some(0) {
        return Err(CliError::Usage(
            "--jobs 0: at least one job must be able to run".into(),
        ));
    }
    let files = workflow_files(args.path.as_deref())?;
    let secrets = load_secrets(args)?;
    let vars = parse_vars(&args.vars)?;
    let needs = super::validate::job_needs(&files, &args.jobs);
    let registry =
        Arc::new(wiring::registry(config, state, &args.platforms, needs.as_deref()).await?);
    let engine = Engine::new(registry.clone(), crate::wiring::builtins(config, state)?);

    // Validate every file before running any.
    let color_err = Style::detect(std::io::stderr().is_terminal()).color;
    let mut plans = Vec::new();
    let mut problems = 0;
    for path in &files {
        let (source, diagnostics) = check_file(path, &engine, &args.jobs);
        if !diagnostics.is_empty() {
            problems += diagnostics.len();
            err!(
                "{}",
                crate::render::diagnostics::render(&source, &diagnostics, color_err)
            );
            continue;
        }
        match gantry_workflow::load(&source) {
            Ok(mut plan) => {
                if !args.jobs.is_empty() {
                    gantry_engine::select_jobs(&mut plan, &args.jobs)
                        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
                }
                plans.push((path.clone(), plan));
            }
            Err(d) => {
                problems += d.len();
                err!(
                    "{}",
                    crate::render::diagnostics::render(&source, &d, color_err)
                );
            }
        }
    }
    if problems > 0 {
        let path = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(CliError::Invalid {
            path,
            count: problems,
        });
    }

    let ledger = Ledger::open(state)?;
    reap_leftovers(&ledger, &registry).await;

    let cancel = CancelSignal::new();
    let signals = spawn_signal_handler(cancel.clone(), args.json);
    let mut worst = Outcome::Success;
    for (path, plan) in plans {
        if cancel.is_cancelled() {
            worst = Outcome::Cancelled;
            break;
        }
        let outcome = run_plan(
            args,
            state,
            &ledger,
            &engine,
            &path,
            plan,
            &secrets,
            &vars,
            cancel.clone(),
        )
        .await?;
        worst = match (worst, outcome) {
            (Outcome::Cancelled, _) | (_, Outcome::Cancelled) => Outcome::Cancelled,
            (Outcome::Failed, _) | (_, Outcome::Failed) => Outcome::Failed,
            _ => Outcome::Success,
        };
    }
    signals.abort();
    for backend in registry.backends() {
        backend.shutdown().await;
    }
    Ok(worst)
}

#[allow(clippy::too_many_arguments)]
async fn run_plan(
    args: &RunArgs,
    state: &StateDir,
    ledger: &Ledger,
    engine: &Engine,
    path: &Path,
    plan: gantry_workflow::Plan,
    secrets: &IndexMap<String, String>,
    vars: &IndexMap<String, String>,
    cancel: CancelSignal,
) -> Result<Outcome, CliError> {
    let run_id = Ledger::new_run_id();
    let cwd = std::env::current_dir().map_err(|e| CliError::io(".", e))?;
    ledger.start_run(&NewRun {
        id: run_id.clone(),
        workflow_name: plan.name.clone(),
        workflow_path: path.display().to_string(),
    })?;

    let config = RunConfig {
        run_id: run_id.clone(),
        workspace: WorkspaceSource::new(cwd.clone(), args.bind),
        max_jobs: args.max_jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        grace: Duration::try_from_secs_f64(args.grace).unwrap_or(Duration::ZERO),
        secrets: secrets.clone(),
        vars: vars.clone(),
        inputs: Map::new(),
        github: github_context(&cwd, &args.event, &plan.name),
    };

    let is_tty = std::io::stdout().is_terminal();
    let style = Style::detect(is_tty);
    let mut renderer: Box<dyn Renderer> = if args.json {
        Box::new(JsonRenderer::new())
    } else if is_tty && !args.quiet {
        Box::new(ProgressRenderer::new(style, args.quiet))
    } else {
        Box::new(LineRenderer::new(style, args.quiet))
    };
    let mut recorder = Recorder::new(
        ledger.clone(),
        LogStore::new(state),
        run_id.clone(),
        cancel.clone(),
    );

    // Recording and rendering do blocking I/O (SQLite, log files, the terminal): they get a
    // thread of their own so the engine's tasks never wait on them.
    let (tx, mut rx) = tokio::sync::mpsc::channel(EVENT_BUFFER);
    let consumer = tokio::task::spawn_blocking(move || {
        while let Some(ev) = rx.blocking_recv() {
            let mut ev = ev;
            for notice in recorder.event(&mut ev) {
                renderer.event(&notice);
            }
            renderer.event(&ev);
        }
        renderer.finish();
        recorder
    });
    let outcome = engine.run(plan, config, tx, cancel.clone()).await;
    let mut recorder = consumer
        .await
        .map_err(|e| CliError::Other(format!("the event consumer failed: {e}")))?;

    // A run whose recording failed failed, whatever the engine concluded.
    let fault = recorder.error.take();
    let conclusion = match (&fault, outcome.conclusion) {
        (Some(_), Conclusion::Success | Conclusion::Skipped) => Conclusion::Failure,
        (_, c) => c,
    };
    let (status, result) = match conclusion {
        Conclusion::Success | Conclusion::Skipped => (RunStatus::Success, Outcome::Success),
        Conclusion::Failure => (RunStatus::Failure, Outcome::Failed),
        Conclusion::Cancelled => (RunStatus::Cancelled, Outcome::Cancelled),
    };
    let code = match result {
        Outcome::Success => 0,
        Outcome::Failed => 1,
        Outcome::Cancelled => 130,
    };
    let why = fault
        .as_ref()
        .map(|e| format!("recording the run failed: {e}"));
    let finished = ledger.finish_run(&run_id, status, code, why.as_deref());
    if let Some(why) = &why {
        errln!("error: run {run_id}: {why}");
    }
    finished?;
    Ok(result)
}

/// Removes what earlier, killed gantry runs left behind on every backend. Skipped when
/// another gantry is reaping or registering a run right now (it reaps, or will).
async fn reap_leftovers(ledger: &Ledger, registry: &BackendRegistry) {
    let live = match ledger.reap_guard(false) {
        Ok(Some(live)) => live,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("listing live runs: {e}");
            return;
        }
    };
    for backend in registry.backends() {
        if let Err(e) = backend.reap(&live.ids).await {
            tracing::warn!("reaping leftovers on backend {}: {e}", backend.id());
        }
    }
    drop(live);
}

/// First SIGINT/SIGTERM cancels gracefully, the next one forces.
fn spawn_signal_handler(cancel: CancelSignal, quiet_messages: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            let level = cancel.escalate(CancelReason::Interrupted);
            if !quiet_messages {
                match level {
                    CancelLevel::Graceful => errln!("\ngantry: cancelling; running steps get SIGTERM, always() steps still run (Ctrl-C again to force)"),
                    _ => errln!("\ngantry: forcing: killing running steps"),
                }
            }
        }
    })
}

fn load_secrets(args: &RunArgs) -> Result<IndexMap<String, String>, CliError> {
    let mut set = SecretSet::default();
    for file in &args.secret_files {
        set.load_file(file)
            .map_err(|e| CliError::Usage(e.to_string()))?;
    }
    for name in &args.secrets {
        set.add_from_env(name)
            .map_err(|e| CliError::Usage(e.to_string()))?;
    }
    Ok(set.into_map())
}

fn parse_vars(vars: &[String]) -> Result<IndexMap<String, String>, CliError> {
    let mut out = IndexMap::new();
    for v in vars {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--var {v}: expected NAME=VALUE")))?;
        out.insert(k.to_string(), val.to_string());
    }
    Ok(out)
}

/// The `github` context's base: what can be known locally.
fn github_context(cwd: &Path, event: &str, workflow: &str) -> Map<String, Value> {
    let git = |args: &[&str]| -> String {
        std::process::Command::new("git")
            .args(args)
            .current_dir(cwd)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let sha = git(&["rev-parse", "HEAD"]);
    let git_ref = git(&["symbolic-ref", "-q", "HEAD"]);
    let ref_name = git_ref.rsplit('/').next().unwrap_or("").to_string();
    let repository = cwd
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let actor = std::env::var("USER").unwrap_or_else(|_| "gantry".into());
    let mut m = Map::new();
    for (k, v) in [
        ("event_name", json!(event)),
        ("event", json!({})),
        ("sha", json!(sha)),
        ("ref", json!(git_ref)),
        ("ref_name", json!(ref_name)),
        ("repository", json!(repository)),
        ("actor", json!(actor)),
        ("workflow", json!(workflow)),
        ("run_number", json!("1")),
        ("run_attempt", json!("1")),
        ("server_url", json!("")),
        ("workspace", json!(PathBuf::from(cwd).display().to_string())),
    ] {
        m.insert(k.into(), v);
    }
    m
}
