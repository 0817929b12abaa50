//! `gantry pack create` and `gantry pack verify`: release packs of a run's artifacts. Both
//! print the pack digest remotes know the pack by (docs/remote-protocol.md) beside the
//! file's sha256.

use crate::console::{errln, outln};
use std::path::PathBuf;

use gantry_artifact::pack;
use gantry_state::{Ledger, StateDir};

use crate::args::PackCommand;
use crate::config::Config;
use crate::exit::{CliError, Outcome};

pub(crate) async fn pack(
    cmd: &PackCommand,
    config: &Config,
    state: &StateDir,
) -> Result<Outcome, CliError> {
    match cmd {
        PackCommand::Create(a) => {
            let ledger = Ledger::open(state)?;
            let store = crate::wiring::artifact_store(config, state, &ledger)?;
            let out = a
                .output
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("gantry-{}.pack", a.run)));
            let summary = pack::create(&ledger, store, &a.run, &out)
                .await
                .map_err(CliError::Other)?;
            outln!(
                "{}: {} artifact(s), {} file(s), {} bytes, sha256 {} (also in {}), pack digest {}",
                summary.path.display(),
                summary.artifacts,
                summary.files,
                summary.size,
                summary.sha256,
                pack::sidecar(&summary.path).display(),
                summary.pack_digest
            );
            Ok(Outcome::Success)
        }
        PackCommand::Verify(a) => match pack::verify(&a.file) {
            Ok(m) => {
                let files: usize = m.artifacts.iter().map(|a| a.files.len()).sum();
                outln!(
                    "{}: ok, run {} ({}), {} artifact(s), {} file(s), every digest matches, pack digest {}",
                    a.file.display(),
                    m.run.id,
                    m.run.workflow,
                    m.artifacts.len(),
                    files,
                    pack::pack_digest(&m)
                );
                Ok(Outcome::Success)
            }
            Err(problems) => {
                for p in &problems {
                    errln!("error: {}: {p}", a.file.display());
                }
                Ok(Outcome::Failed)
            }
        },
    }
}
