//! `gantry runs`: recorded runs, newest first.

use crate::console::outln;
use gantry_state::{Ledger, StateDir};

use crate::args::RunsArgs;
use crate::exit::{CliError, Outcome};

pub(crate) fn runs(args: &RunsArgs, state: &StateDir) -> Result<Outcome, CliError> {
    let ledger = Ledger::open(state)?;
    let _ = ledger.live_run_ids();
    let runs = ledger.runs(args.limit)?;
    if args.json {
        for r in &runs {
            outln!(
                "{}",
                serde_json::to_string(r).map_err(|e| CliError::Other(e.to_string()))?
            );
        }
        return Ok(Outcome::Success);
    }
    if runs.is_empty() {
        outln!("no runs recorded in {}", state.root.display());
        return Ok(Outcome::Success);
    }
    outln!("{:<28} {:<10} {:<25} WORKFLOW", "RUN", "STATUS", "STARTED");
    for r in runs {
        outln!(
            "{:<28} {:<10} {:<25} {} ({})",
            r.id,
            format!("{:?}", r.status).to_lowercase(),
            r.started_at,
            r.workflow_name,
            r.workflow_path
        );
    }
    Ok(Outcome::Success)
}
