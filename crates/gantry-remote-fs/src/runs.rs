//! `runs.sync`: each run's result file is read from the path the caller sent, checked
//! against its digest, and kept under `runs/<run_id>.json` with what it was synced for.

use std::path::Path;

use gantry_remote_protocol::{
    Handled, RunInfo, RunSyncItem, RunsSync, RunsSynced, SyncStatus, Target,
};
use serde::Serialize;

use crate::store::{io, safe_segment, sha256_file, write_json, Store};

/// What a synced run was synced for (`runs/<run_id>.meta.json`).
#[derive(Serialize)]
struct Synced<'a> {
    result_digest: &'a str,
    file_digest: Option<&'a str>,
    pack_digest: Option<&'a str>,
    target: &'a Target,
}

impl Store {
    pub(crate) fn runs_sync(&self, req: RunsSync) -> Handled<RunsSynced> {
        let mut out = RunsSynced::default();
        for run in &req.runs {
            let status = self.sync_one(&req, run)?;
            out.push(RunSyncItem::new(run.run_id.clone(), status));
        }
        Ok(out)
    }

    fn sync_one(&self, req: &RunsSync, run: &RunInfo) -> Handled<SyncStatus> {
        let Ok(id) = safe_segment("run id", &run.run_id) else {
            return Ok(SyncStatus::Rejected);
        };
        let source = Path::new(&run.result_path);
        if !source.is_absolute() {
            return Ok(SyncStatus::Rejected);
        }
        match sha256_file(source) {
            Ok((digest, _)) if digest == run.result_digest => {}
            _ => return Ok(SyncStatus::Rejected),
        }
        let path = self.root.join("runs").join(format!("{id}.json"));
        let copied = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut dest| {
                let mut src = std::fs::File::open(source)?;
                std::io::copy(&mut src, &mut dest).map(|_| ())
            });
        match copied {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(SyncStatus::Duplicate)
            }
            Err(e) => return Err(io(&path, e)),
        }
        write_json(
            &self.root.join("runs").join(format!("{id}.meta.json")),
            &Synced {
                result_digest: &run.result_digest,
                file_digest: req.file_digest.as_deref(),
                pack_digest: req.pack_digest.as_deref(),
                target: &req.target,
            },
        )?;
        Ok(SyncStatus::Accepted)
    }
}
