//! `gantry gc`: remove what killed runs left behind on every backend.

use gantry_backend::BackendRegistry;
use gantry_state::{Ledger, StateDir};

use crate::args::GcArgs;
use crate::config::Config;
use crate::exit::{CliError, Outcome};

pub(crate) async fn gc(
    args: &GcArgs,
    registry: &BackendRegistry,
    config: &Config,
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
    // Artifacts past their retention-days.
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let expired = ledger.expired_artifacts(&now)?;
    if !expired.is_empty() {
        let store = crate::wiring::artifact_store(config, state, &ledger)?;
        for a in expired {
            let removed = match gantry_artifact::ObjectKey::new(&a.object_key) {
                Ok(key) => store.delete(&key).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match removed.and_then(|()| {
                ledger
                    .delete_artifact(&a.run_id, &a.name)
                    .map_err(|e| e.to_string())
            }) {
                Ok(()) => println!(
                    "artifacts: removed `{}` of run {} (expired {})",
                    a.name,
                    a.run_id,
                    a.expires_at.unwrap_or_default()
                ),
                Err(e) => {
                    eprintln!(
                        "artifacts: could not remove `{}` of run {}: {e}",
                        a.name, a.run_id
                    );
                    failed = true;
                }
            }
        }
    }
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
