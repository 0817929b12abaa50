//! `gantry gc`: remove what killed runs left behind on every backend.

use crate::console::{errln, outln};
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
    // Held until the end: no run registers while its leftovers are judged and removed.
    let guard = ledger
        .reap_guard(true)?
        .ok_or_else(|| CliError::Other("the state dir's reap lock could not be taken".into()))?;
    let live = guard.ids.clone();
    if args.dry_run {
        return dry_run(&ledger, registry, &live).await;
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
                Ok(()) => outln!(
                    "artifacts: removed `{}` of run {} (expired {})",
                    a.name,
                    a.run_id,
                    a.expires_at.unwrap_or_default()
                ),
                Err(e) => {
                    errln!(
                        "artifacts: could not remove `{}` of run {}: {e}",
                        a.name,
                        a.run_id
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
                    outln!("{}: removed {r}", backend.id());
                }
                for f in &report.failed {
                    errln!("{}: could not remove {f}", backend.id());
                    failed = true;
                }
                if report.removed.is_empty() && report.failed.is_empty() {
                    outln!("{}: nothing to remove", backend.id());
                }
            }
            Err(e) => {
                errln!("{}: {e}", backend.id());
                failed = true;
            }
        }
    }
    drop(guard);
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

/// Lists what `gc` would remove, removing nothing.
async fn dry_run(
    ledger: &Ledger,
    registry: &BackendRegistry,
    live: &[String],
) -> Result<Outcome, CliError> {
    outln!(
        "live runs: {}",
        if live.is_empty() {
            "none".to_string()
        } else {
            live.join(", ")
        }
    );
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    for a in ledger.expired_artifacts(&now)? {
        outln!(
            "artifacts: would remove `{}` of run {} (expired {})",
            a.name,
            a.run_id,
            a.expires_at.unwrap_or_default()
        );
    }
    let mut failed = false;
    for backend in registry.backends() {
        match backend.leftovers(live).await {
            Ok(Some(items)) if items.is_empty() => outln!("{}: nothing to remove", backend.id()),
            Ok(Some(items)) => {
                for item in items {
                    outln!("{}: would remove {item}", backend.id());
                }
            }
            Ok(None) => outln!(
                "{}: cannot list its leftovers without removing them; `gantry gc` reaps them",
                backend.id()
            ),
            Err(e) => {
                errln!("{}: {e}", backend.id());
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
