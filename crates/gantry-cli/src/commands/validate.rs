//! `gantry validate`: every problem at once, with its place; exit 1 when there are any.

use crate::console::{err, errln, outln};
use std::io::IsTerminal;
use std::sync::Arc;

use gantry_engine::Engine;
use gantry_workflow::SourceFile;

use crate::args::ValidateArgs;
use crate::config::Config;
use crate::discover::workflow_files;
use crate::exit::{CliError, Outcome};
use crate::render::Style;
use crate::wiring::{self, JobNeeds};

pub(crate) async fn validate(
    args: &ValidateArgs,
    config: &Config,
    state: &gantry_state::StateDir,
) -> Result<Outcome, CliError> {
    let files = workflow_files(args.path.as_deref())?;
    let needs = job_needs(&files, &[]);
    let registry =
        Arc::new(wiring::registry(config, state, &args.platforms, needs.as_deref()).await?);
    let engine = Engine::new(registry, crate::wiring::builtins(config, state)?);
    let color = Style::detect(std::io::stderr().is_terminal()).color;
    let mut problems = 0;
    for path in files {
        let (source, diagnostics) = check_file(&path, &engine, &[]);
        if diagnostics.is_empty() {
            outln!("{}: ok", path.display());
        } else {
            problems += diagnostics.len();
            err!(
                "{}",
                crate::render::diagnostics::render(&source, &diagnostics, color)
            );
            errln!(
                "{}: {} problem{}",
                path.display(),
                diagnostics.len(),
                if diagnostics.len() == 1 { "" } else { "s" }
            );
        }
    }
    Ok(if problems == 0 {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// What every job in `files` that will run needs (`selected` and the jobs they need, or
/// all jobs when `selected` is empty), so only the engines and plugins they use are
/// connected; `None` when some job's labels are only known at run time. Files that do
/// not load are left to the full check, which reports them.
pub(crate) fn job_needs(
    files: &[std::path::PathBuf],
    selected: &[String],
) -> Option<Vec<JobNeeds>> {
    let mut out = Vec::new();
    for path in files {
        let Ok(source) = SourceFile::read(path) else {
            continue;
        };
        let Ok(mut plan) = gantry_workflow::load(&source) else {
            continue;
        };
        if !selected.is_empty() {
            // An unknown job id is reported by the run itself.
            let _ = gantry_engine::select_jobs(&mut plan, selected);
        }
        for job in &plan.jobs {
            out.push(JobNeeds {
                labels: gantry_engine::preflight::static_labels(job)?,
                containers: gantry_engine::preflight::uses_containers(job),
            });
        }
    }
    Some(out)
}

/// Loads, validates and preflights one file. With `selected` job ids, backend checks
/// cover only those jobs and what they need: the others do not run.
pub(crate) fn check_file(
    path: &std::path::Path,
    engine: &Engine,
    selected: &[String],
) -> (SourceFile, Vec<gantry_workflow::Diagnostic>) {
    let source = match SourceFile::read(path) {
        Ok(s) => s,
        Err(d) => {
            let source = SourceFile::new(path.display().to_string(), String::new());
            return (source, vec![d]);
        }
    };
    match gantry_workflow::load(&source) {
        Ok(mut plan) => {
            if !selected.is_empty() {
                let _ = gantry_engine::select_jobs(&mut plan, selected);
            }
            let d = engine.preflight(&plan);
            (source, d)
        }
        Err(d) => (source, d),
    }
}
