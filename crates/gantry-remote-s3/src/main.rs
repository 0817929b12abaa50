//! `gantry-remote-s3`: a remote adapter whose remote is an S3 bucket (protocol v1,
//! docs/remote-protocol.md). It hands gantry presigned URLs, so gantry uploads and
//! downloads the pack bytes itself over HTTP; the adapter only signs, checks and records.
//!
//! Configuration is the environment (see [`config`]): `GANTRY_REMOTE_S3_ENDPOINT`,
//! `_BUCKET`, `_REGION`, `_PREFIX`, `_ACCESS_KEY_ID`, `_SECRET_ACCESS_KEY`.
//!
//! Layout under the prefix:
//!
//! ```text
//! staging/<token>.pack      uploads in flight (gantry PUTs here through a presigned URL)
//! staging/<token>.json      what push.prepare promised (name, version, digest, size)
//! staging/<token>.checking  the upload, moved out of the URL's reach while it is hashed
//! releases/<name>/<version>.pack  the released pack
//! releases/<name>/<version>.json  its release record (written create-only: the lock)
//! digests/<hex>.json        which release holds a digest (for `sha256:` refs)
//! runs/<run_id>.json        ledgers posted with runs.sync
//! ```

mod bucket;
mod clock;
mod config;
mod store;

use gantry_remote::protocol::{command, Capabilities, ErrorCode};
use gantry_remote::serve::{adapter_main, unsupported, Handled};

/// The commands this adapter implements (anything else is `invalid_request`).
const SERVED: [&str; 6] = [
    command::PUSH_PREPARE,
    command::PUSH_FINALIZE,
    command::PULL_PREPARE,
    command::PULL_FINALIZE,
    command::RUNS_SYNC,
    command::AUTH_WHOAMI,
];

fn main() -> std::process::ExitCode {
    let mut caps = Capabilities::new("s3");
    caps.features.prepare_finalize = true;
    caps.features.pull = true;
    caps.features.runs_sync = true;
    caps.features.whoami = true;
    caps.auth.modes = vec!["api_key".into()];
    // The largest object one S3 PUT may create.
    caps.limits.max_pack_bytes = Some(5 * 1024 * 1024 * 1024);
    adapter_main("gantry-remote-s3", caps, |cmd, request| {
        if SERVED.contains(&cmd) {
            run(cmd, request)
        } else {
            Err(unsupported(cmd))
        }
    })
}

/// Runs the handler of `cmd` on a single-threaded runtime (one command per process).
fn run(cmd: &str, request: &serde_json::Value) -> Handled {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            (
                ErrorCode::ServerError,
                format!("starting the async runtime: {e}"),
            )
        })?;
    runtime.block_on(store::serve(cmd, request))
}
