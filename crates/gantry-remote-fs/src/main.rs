//! `gantry-remote-fs`: a remote adapter whose remote is a directory
//! (`GANTRY_REMOTE_FS_ROOT`), and the reference implementation of the remote adapter
//! protocol v1 (docs/remote-protocol.md).
//!
//! Layout under the root:
//!
//! ```text
//! staging/<token>.pack   uploads in flight (gantry copies the pack here)
//! staging/<token>.json   what push.prepare promised (name, version, digest, size)
//! releases/<name>/<version>/pack          the released pack
//! releases/<name>/<version>/release.json  its release record
//! runs/<run_id>.json     ledgers posted with runs.sync
//! ```

mod store;

use gantry_remote::protocol::{command, Capabilities};
use gantry_remote::serve::{adapter_main, unsupported};

fn main() -> std::process::ExitCode {
    let mut caps = Capabilities::new("fs");
    caps.features.prepare_finalize = true;
    caps.features.pull = true;
    caps.features.runs_sync = true;
    caps.features.whoami = true;
    caps.auth.modes = vec!["none".into()];
    caps.limits.max_pack_bytes = Some(4 * 1024 * 1024 * 1024);
    adapter_main("gantry-remote-fs", caps, |cmd, request| match cmd {
        command::PUSH_PREPARE => store::with_root(|s| s.push_prepare(request)),
        command::PUSH_FINALIZE => store::with_root(|s| s.push_finalize(request)),
        command::PULL_PREPARE => store::with_root(|s| s.pull_prepare(request)),
        command::PULL_FINALIZE => store::with_root(|s| s.pull_finalize(request)),
        command::RUNS_SYNC => store::with_root(|s| s.runs_sync(request)),
        command::AUTH_WHOAMI => store::with_root(|s| s.whoami()),
        other => Err(unsupported(other)),
    })
}
