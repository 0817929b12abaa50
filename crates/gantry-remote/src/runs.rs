//! `runs.sync`: after a push, send the results of the runs the pack came from, as epack
//! does (`runs.sync: true`): one result file per run, its path and digest, linked to the
//! pushed pack by its digests. Runs go in batches of `limits.max_runs_per_sync`.

use std::path::PathBuf;

use crate::adapter::Adapter;
use crate::error::RemoteError;
use crate::pack::{file_digest, PackDigests};
use crate::protocol::{RunInfo, RunsSync, RunsSynced, Target};

/// One run's result file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunFile {
    /// The run's id.
    pub run_id: String,
    /// Its result (JSON), absolute; the adapter reads it during the call.
    pub path: PathBuf,
}

impl RunFile {
    /// Run `run_id`, whose result is at `path`.
    pub fn new(run_id: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        RunFile {
            run_id: run_id.into(),
            path: path.into(),
        }
    }
}

/// Sends `runs` of the pushed pack `pack` to `target`; returns every run's outcome.
pub async fn sync_runs(
    adapter: &Adapter,
    target: &Target,
    pack: &PackDigests,
    runs: &[RunFile],
) -> Result<RunsSynced, RemoteError> {
    let caps = adapter.capabilities().await?;
    if !caps.features.runs_sync {
        return Err(RemoteError::Unsupported {
            adapter: adapter.name().to_string(),
            feature: "runs.sync (features.runs_sync)".into(),
        });
    }
    let mut infos = Vec::with_capacity(runs.len());
    for run in runs {
        let path = std::path::absolute(&run.path).map_err(|e| RemoteError::io(&run.path, e))?;
        let (digest, _) = file_digest(&path)?;
        infos.push(RunInfo::new(
            run.run_id.clone(),
            path.display().to_string(),
            digest,
        ));
    }
    let batch = caps
        .limits
        .runs_per_sync()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(usize::MAX)
        .max(1);
    let mut all = RunsSynced::default();
    for chunk in infos.chunks(batch) {
        // Recent epack sends `file_digest`, older epack (and its spec) `pack_digest`:
        // gantry sends both, and its `remote`; the epack dialect only what epack sends.
        let gantry = adapter.dialect().sends_gantry_fields();
        let mut req = RunsSync::new(
            target.clone(),
            Some(pack.file_digest.clone()),
            gantry.then(|| pack.digest.clone()),
            chunk.to_vec(),
        );
        if gantry {
            req.remote = Some(adapter.name().to_string());
        }
        let done = adapter.runs_sync(&req).await?;
        for item in done.items {
            all.push(item);
        }
    }
    Ok(all)
}
