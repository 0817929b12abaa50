//! `gantry logs RUN [JOB [STEP]]`: streams recorded logs from their files.

use std::io::Write;

use gantry_state::{Ledger, LogStore, StateDir};

use crate::args::LogsArgs;
use crate::exit::{CliError, Outcome};

pub(crate) fn logs(args: &LogsArgs, state: &StateDir) -> Result<Outcome, CliError> {
    let ledger = Ledger::open(state)?;
    let store = LogStore::new(state);
    let run = if args.run == "last" {
        ledger.runs(1)?.into_iter().next()
    } else {
        ledger.run(&args.run)?
    }
    .ok_or_else(|| CliError::Usage(format!("no run `{}`; `gantry runs` lists them", args.run)))?;

    let jobs = ledger.jobs(&run.id)?;
    let jobs: Vec<_> = match &args.job {
        Some(key) => {
            let found: Vec<_> = jobs
                .iter()
                .filter(|j| &j.key == key || j.key.starts_with(&format!("{key} (")))
                .cloned()
                .collect();
            if found.is_empty() {
                let keys: Vec<String> = jobs.iter().map(|j| format!("`{}`", j.key)).collect();
                return Err(CliError::Usage(format!(
                    "run {} has no job `{key}`; its jobs: {}",
                    run.id,
                    if keys.is_empty() {
                        "none".into()
                    } else {
                        keys.join(", ")
                    }
                )));
            }
            found
        }
        None => jobs,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let many = jobs.len() > 1 || args.step.is_none();
    for job in &jobs {
        let steps = ledger.steps(&run.id, &job.key)?;
        let steps: Vec<_> = match &args.step {
            Some(sel) => {
                let found: Vec<_> = steps
                    .iter()
                    .filter(|s| {
                        s.id.as_deref() == Some(sel.as_str())
                            || sel.parse::<usize>().ok() == Some(s.index + 1)
                    })
                    .cloned()
                    .collect();
                if found.is_empty() {
                    return Err(CliError::Usage(format!(
                        "job `{}` has no step `{sel}`; give a step number from 1 to {} or a step id",
                        job.key,
                        steps.len()
                    )));
                }
                found
            }
            None => steps,
        };
        for step in steps {
            if many {
                let _ = writeln!(
                    out,
                    "==> {} / {}. {} <==",
                    job.key,
                    step.index + 1,
                    step.name
                );
            }
            match (step.log_offset, step.log_len) {
                (Some(offset), Some(len)) => {
                    let mut reader = store.open(&run.id, &job.key, offset, len)?;
                    match std::io::copy(&mut reader, &mut out) {
                        Ok(_) => {}
                        // The reader went away (`gantry logs ... | head`): stop quietly.
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                            return Ok(Outcome::Success)
                        }
                        Err(e) => return Err(CliError::io("stdout", e)),
                    }
                }
                _ => {
                    let _ = writeln!(out, "(no log: the step did not run)");
                }
            }
        }
    }
    Ok(Outcome::Success)
}
