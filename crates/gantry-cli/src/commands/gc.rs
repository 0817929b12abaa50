//! `gantry gc`: remove what killed runs left behind on every backend.

use gantry_backend::BackendRegistry;
use gantry_state::{Ledger, StateDir};

use crate::args::GcArgs;
use crate::exit::{CliError, Outcome};

pub async fn gc(
    args: &GcArgs,
    registry: &BackendRegistry,
    state: &StateDir,
) -> Result<Outcome, CliError> {
    let ledger = Ledger::open(state)?;
    let live = ledger.live_run_ids()?;
    if args.dry_run {
        println!(
            "live runs: {}",
            if live.is_empty() {
                "none".to_string()
            } else {
                live.join(", ")
            }
        );
        println!(
            "would reap on: {}",
            registry
                .backends()
                .map(|b| b.id().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(Outcome::Success);
    }
    let mut failed = false;
    for backend in registry.backends() {
        match backend.reap(&live).await {
            Ok(report) => {
                for r in &report.removed {
                    println!("{}: removed {r}", backend.id());
                }
                for f in &report.failed {
                    eprintln!("{}: could not remove {f}", backend.id());
                    failed = true;
                }
                if report.removed.is_empty() && report.failed.is_empty() {
                    println!("{}: nothing to remove", backend.id());
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", backend.id());
                failed = true;
            }
        }
    }
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}
