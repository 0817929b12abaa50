//! `gantry-remote-fs`: a remote adapter whose remote is a directory
//! (`GANTRY_REMOTE_FS_ROOT`), and the reference implementation of the remote adapter
//! protocol (epack's Remote Adapter Protocol v1 with gantry's additions,
//! docs/remote-protocol.md). It works under gantry and under epack (`gantry remote test
//! NAME --as-epack` proves the latter), and depends on the serde-only wire crate only.
//!
//! Layout under the root:
//!
//! ```text
//! staging/<token>.json        what push.prepare promised (name, version, digests, size)
//! staging/<token>/pack        the upload (the uploader creates the directory)
//! releases/<name>/<version>/pack          the released pack
//! releases/<name>/<version>/release.json  its record
//! pulls/<token>.json          downloads pull.finalize may confirm
//! runs/<run_id>.json          run results posted with runs.sync (+ .meta.json)
//! ```

mod pull;
mod push;
mod runs;
mod store;

use gantry_remote_protocol::{
    serve, AuthRequest, Capabilities, Handled, PullFinalize, PullFinalized, PullPrepare,
    PullPrepared, PushFinalize, PushFinalized, PushPrepare, PushPrepared, RemoteAdapter, RunsSync,
    RunsSynced, WhoAmI,
};

use crate::store::Store;

/// The adapter: every command opens the store at `$GANTRY_REMOTE_FS_ROOT`.
struct FsAdapter;

impl RemoteAdapter for FsAdapter {
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::new("fs");
        caps.version = Some(env!("CARGO_PKG_VERSION").into());
        caps.description = Some("a directory is the remote (GANTRY_REMOTE_FS_ROOT)".into());
        caps.features.prepare_finalize = true;
        caps.features.pull = true;
        caps.features.runs_sync = true;
        caps.features.whoami = true;
        caps.auth.modes = vec!["none".into()];
        caps.limits.max_pack_bytes = Some(4 * 1024 * 1024 * 1024);
        caps.limits.max_runs_per_sync = Some(100);
        caps
    }

    fn push_prepare(&self, request: PushPrepare) -> Handled<PushPrepared> {
        Store::open()?.push_prepare(request)
    }

    fn push_finalize(&self, request: PushFinalize) -> Handled<PushFinalized> {
        Store::open()?.push_finalize(request)
    }

    fn pull_prepare(&self, request: PullPrepare) -> Handled<PullPrepared> {
        Store::open()?.pull_prepare(request)
    }

    fn pull_finalize(&self, request: PullFinalize) -> Handled<PullFinalized> {
        Store::open()?.pull_finalize(request)
    }

    fn runs_sync(&self, request: RunsSync) -> Handled<RunsSynced> {
        Store::open()?.runs_sync(request)
    }

    fn auth_whoami(&self, _request: AuthRequest) -> Handled<WhoAmI> {
        Ok(Store::open()?.whoami())
    }
}

fn main() -> std::process::ExitCode {
    serve("gantry-remote-fs", &FsAdapter)
}
