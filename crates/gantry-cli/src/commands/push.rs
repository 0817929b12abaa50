//! `gantry push PACK --remote NAME [--sync-runs]`: push a pack through its remote's
//! adapter, then (with `--sync-runs` or `sync-runs = true`) send the results of the runs
//! the pack was made from with `runs.sync`, as epack does after a push.

use crate::console::outln;
use std::path::{Path, PathBuf};

use gantry_remote::protocol::{ReleaseInfo, SyncStatus};
use gantry_remote::runs::{sync_runs, RunFile};
use gantry_remote::{Dialect, PushOptions, RemoteError};
use gantry_state::{Ledger, StateDir};

use super::remote::{cli_error, open, section, target, GantryPacks};
use crate::args::PushArgs;
use crate::config::Config;
use crate::exit::{CliError, Outcome};

/// The format tag of the run results gantry syncs.
const RESULT_FORMAT: &str = "gantry.run-result/v1";

/// `gantry push PACK --remote NAME`.
pub(crate) async fn push(
    args: &PushArgs,
    config: &Config,
    state: &StateDir,
) -> Result<Outcome, CliError> {
    let sync = args.sync_runs || section(config, &args.remote)?.sync_runs;
    let adapter = open(config, &args.remote, args.flags.frozen, Dialect::Gantry)?;
    // Everything a sync needs is checked before anything is pushed.
    let results = if sync {
        let caps = adapter.capabilities().await.map_err(cli_error)?;
        if !caps.features.runs_sync {
            return Err(CliError::Usage(format!(
                "remote `{}`: its adapter does not support runs.sync, so the pack's runs \
                 cannot be synced; push without --sync-runs (or set `sync-runs = false`)",
                args.remote
            )));
        }
        Some(run_results(&args.pack, state)?)
    } else {
        None
    };
    let target = target(config, &args.remote, args.environment.as_ref());
    let mut release = ReleaseInfo::default();
    release.name = args.name.clone();
    release.version = args.release_version.clone();
    release.labels = args.labels.clone();
    release.notes = args.notes.clone();
    let pushed = gantry_remote::push(
        &adapter,
        &args.pack,
        &GantryPacks,
        &PushOptions::new(target.clone(), release),
    )
    .await
    .map_err(cli_error)?;
    let r = &pushed.release;
    outln!(
        "pushed {} to `{}`: {} (release {}{}, pack digest {}, file {}{})",
        args.pack.display(),
        args.remote,
        r.canonical_ref.as_deref().unwrap_or(&pushed.digests.digest),
        r.release_id,
        r.version
            .as_deref()
            .map(|v| format!(", version {v}"))
            .unwrap_or_default(),
        pushed.digests.digest,
        pushed.digests.file_digest,
        if pushed.uploaded {
            ""
        } else {
            "; the remote had the bytes already"
        }
    );
    let Some((_dir, runs)) = results else {
        return Ok(Outcome::Success);
    };
    let done = sync_runs(&adapter, &target, &pushed.digests, &runs)
        .await
        .map_err(|e: RemoteError| {
            CliError::Other(format!(
                "the pack was pushed, but syncing its runs failed: {e}"
            ))
        })?;
    let mut failed = false;
    for run in &runs {
        let status = done
            .items
            .iter()
            .find(|i| i.run_id == run.run_id)
            .map(|i| &i.status);
        let shown = match status {
            Some(SyncStatus::Accepted) => "accepted",
            Some(SyncStatus::Duplicate) => "already there",
            Some(SyncStatus::Rejected) => "REJECTED",
            Some(_) => "in an unknown state",
            None => "not reported",
        };
        failed |= !matches!(status, Some(SyncStatus::Accepted | SyncStatus::Duplicate));
        outln!("synced run {} to `{}`: {shown}", run.run_id, args.remote);
    }
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

/// The result file of each run the pack at `pack` was made from, written into a temp dir
/// (kept alive by the returned guard): the run's ledger record with its jobs and steps
/// when this machine recorded it, else what the pack's manifest says about it.
fn run_results(
    pack: &Path,
    state: &StateDir,
) -> Result<(tempfile::TempDir, Vec<RunFile>), CliError> {
    let manifest = gantry_artifact::pack::read_manifest(pack)
        .map_err(CliError::Other)?
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{} is not a gantry pack (`gantry pack create` makes one), so it names no runs \
                 to sync; push without --sync-runs",
                pack.display()
            ))
        })?;
    let run_id = manifest.run.id.clone();
    let ledger = Ledger::open(state)?;
    let result = match ledger.run(&run_id)? {
        Some(run) if run.id == run_id => {
            let mut jobs = Vec::new();
            for job in ledger.jobs(&run.id)? {
                let steps = ledger.steps(&run.id, &job.key)?;
                jobs.push(serde_json::json!({"job": job, "steps": steps}));
            }
            serde_json::json!({"format": RESULT_FORMAT, "source": "ledger", "run": run, "jobs": jobs})
        }
        _ => serde_json::json!({
            "format": RESULT_FORMAT,
            "source": "pack manifest",
            "run": manifest.run,
            "artifacts": manifest.artifacts.iter().map(|a| &a.name).collect::<Vec<_>>(),
        }),
    };
    let dir = tempfile::Builder::new()
        .prefix("gantry-runs-sync-")
        .tempdir()
        .map_err(|e| CliError::io("temp dir", e))?;
    let path: PathBuf = dir.path().join(&run_id).join("result.json");
    let parent = path.parent().unwrap_or(dir.path());
    std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent.display(), e))?;
    let text = serde_json::to_vec_pretty(&result)
        .map_err(|e| CliError::Other(format!("encoding the result of run {run_id}: {e}")))?;
    std::fs::write(&path, text).map_err(|e| CliError::io(path.display(), e))?;
    Ok((dir, vec![RunFile::new(run_id, path)]))
}
