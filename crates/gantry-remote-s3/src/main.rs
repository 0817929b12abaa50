//! `gantry-remote-s3`: a remote adapter whose remote is an S3 bucket (epack's Remote
//! Adapter Protocol v1 with gantry's additions, docs/remote-protocol.md). It hands the
//! caller presigned URLs, so gantry (or epack) uploads and downloads the pack bytes itself
//! over HTTP; the adapter only signs, checks and records.
//!
//! Configuration is the environment (see [`config`]): `GANTRY_REMOTE_S3_ENDPOINT`,
//! `_BUCKET`, `_REGION`, `_PREFIX`, `_ACCESS_KEY_ID`, `_SECRET_ACCESS_KEY`.
//!
//! Layout under the prefix:
//!
//! ```text
//! staging/<token>.pack      uploads in flight (the caller PUTs here through a presigned URL)
//! staging/<token>.json      what push.prepare promised (name, version, digests, size)
//! staging/<token>.checking  the upload, moved out of the URL's reach while it is hashed
//! releases/<name>/<version>.pack  the released pack
//! releases/<name>/<version>.json  its record (written create-only: the lock)
//! digests/<hex>.json        which release holds a pack digest or file digest
//! pulls/<token>.json        downloads pull.finalize may confirm
//! runs/<run_id>.json        run results posted with runs.sync
//! ```

mod bucket;
mod clock;
mod config;
mod pull;
mod push;
mod store;

use std::future::Future;

use gantry_remote_protocol::{
    serve, AuthRequest, Capabilities, Failure, Handled, PullFinalize, PullFinalized, PullPrepare,
    PullPrepared, PushFinalize, PushFinalized, PushPrepare, PushPrepared, RemoteAdapter, RunsSync,
    RunsSynced, WhoAmI,
};

use crate::store::Store;

/// The adapter: every command opens the bucket the environment names.
struct S3Adapter;

/// Runs `f` on the store, on a single-threaded runtime (one command per process).
fn on_store<T, F, Fut>(f: F) -> Handled<T>
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = Handled<T>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::server(format!("starting the async runtime: {e}")))?;
    runtime.block_on(async { f(Store::open()?).await })
}

impl RemoteAdapter for S3Adapter {
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::new("s3");
        caps.version = Some(env!("CARGO_PKG_VERSION").into());
        caps.description = Some("an S3 bucket is the remote; presigned URLs".into());
        caps.features.prepare_finalize = true;
        caps.features.pull = true;
        caps.features.runs_sync = true;
        caps.features.whoami = true;
        caps.auth.modes = vec!["api_key".into()];
        caps.auth.token_storage = Some("env_var".into());
        // The largest object one S3 PUT may create.
        caps.limits.max_pack_bytes = Some(5 * 1024 * 1024 * 1024);
        caps.limits.max_runs_per_sync = Some(100);
        caps
    }

    fn push_prepare(&self, request: PushPrepare) -> Handled<PushPrepared> {
        on_store(|s| async move { s.push_prepare(request).await })
    }

    fn push_finalize(&self, request: PushFinalize) -> Handled<PushFinalized> {
        on_store(|s| async move { s.push_finalize(request).await })
    }

    fn pull_prepare(&self, request: PullPrepare) -> Handled<PullPrepared> {
        on_store(|s| async move { s.pull_prepare(request).await })
    }

    fn pull_finalize(&self, request: PullFinalize) -> Handled<PullFinalized> {
        on_store(|s| async move { s.pull_finalize(request).await })
    }

    fn runs_sync(&self, request: RunsSync) -> Handled<RunsSynced> {
        on_store(|s| async move { s.runs_sync(request).await })
    }

    fn auth_whoami(&self, _request: AuthRequest) -> Handled<WhoAmI> {
        on_store(|s| async move { s.whoami().await })
    }
}

fn main() -> std::process::ExitCode {
    serve("gantry-remote-s3", &S3Adapter)
}
