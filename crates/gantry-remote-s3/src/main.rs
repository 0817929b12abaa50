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

use std::io::Read;

use gantry_remote::protocol::{
    command, Capabilities, ErrorCode, ErrorReply, Reply, CAPABILITIES, PROTOCOL_VERSION,
};
use serde::Serialize;

/// What a command handler returns: a body to wrap in a result, or an error.
type Handled = Result<serde_json::Value, (ErrorCode, String)>;

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
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(CAPABILITIES) => {
            let mut caps = Capabilities::new("s3");
            caps.features.prepare_finalize = true;
            caps.features.pull = true;
            caps.features.runs_sync = true;
            caps.features.whoami = true;
            caps.auth.modes = vec!["api_key".into()];
            // The largest object one S3 PUT may create.
            caps.limits.max_pack_bytes = Some(5 * 1024 * 1024 * 1024);
            print(&caps)
        }
        Some(cmd) => serve(cmd),
        None => {
            eprintln!("usage: gantry-remote-s3 --capabilities | COMMAND < request.json");
            std::process::ExitCode::from(2)
        }
    }
}

fn print<T: Serialize>(value: &T) -> std::process::ExitCode {
    match serde_json::to_string(value) {
        Ok(text) => {
            println!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gantry-remote-s3: encoding the response: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Reads one request for `cmd` from stdin and prints one response.
fn serve(cmd: &str) -> std::process::ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        return print(&ErrorReply::new(
            "",
            ErrorCode::InvalidRequest,
            format!("reading stdin: {e}"),
        ));
    }
    let request: serde_json::Value = match serde_json::from_str(&input) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => {
            return print(&ErrorReply::new(
                "",
                ErrorCode::InvalidRequest,
                "the request is not a JSON object",
            ))
        }
        Err(e) => {
            return print(&ErrorReply::new(
                "",
                ErrorCode::InvalidRequest,
                format!("the request is not JSON: {e}"),
            ))
        }
    };
    let id = request
        .get("request_id")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let version = request.get("protocol_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(PROTOCOL_VERSION)) {
        return print(&ErrorReply::new(
            &id,
            ErrorCode::UnsupportedProtocol,
            format!(
                "this adapter speaks protocol v{PROTOCOL_VERSION}, the request is v{}",
                version.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
            ),
        ));
    }
    if request.get("type").and_then(|v| v.as_str()) != Some(cmd) {
        return print(&ErrorReply::new(
            &id,
            ErrorCode::InvalidRequest,
            format!("the request's type does not match the command `{cmd}`"),
        ));
    }
    eprintln!("gantry-remote-s3: {cmd} {id}");
    let handled: Handled = if SERVED.contains(&cmd) {
        run(cmd, &request)
    } else {
        Err((
            ErrorCode::InvalidRequest,
            format!("unknown or unsupported command `{cmd}`"),
        ))
    };
    match handled {
        Ok(body) => print(&Reply::new(cmd, &id, body)),
        Err((code, message)) => {
            eprintln!("gantry-remote-s3: {cmd}: {code}: {message}");
            print(&ErrorReply::new(&id, code, message))
        }
    }
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
