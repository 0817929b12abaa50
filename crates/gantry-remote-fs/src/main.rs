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

use std::io::Read;

use gantry_remote::protocol::{
    command, Capabilities, ErrorCode, ErrorReply, Reply, CAPABILITIES, PROTOCOL_VERSION,
};
use serde::Serialize;

/// What a command handler returns: a body to wrap in a result, or an error.
type Handled = Result<serde_json::Value, (ErrorCode, String)>;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(CAPABILITIES) => {
            let mut caps = Capabilities::new("fs");
            caps.features.prepare_finalize = true;
            caps.features.pull = true;
            caps.features.runs_sync = true;
            caps.features.whoami = true;
            caps.auth.modes = vec!["none".into()];
            caps.limits.max_pack_bytes = Some(4 * 1024 * 1024 * 1024);
            print(&caps)
        }
        Some(cmd) => serve(cmd),
        None => {
            eprintln!("usage: gantry-remote-fs --capabilities | COMMAND < request.json");
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
            eprintln!("gantry-remote-fs: encoding the response: {e}");
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
    eprintln!("gantry-remote-fs: {cmd} {id}");
    let handled: Handled = match cmd {
        command::PUSH_PREPARE => store::with_root(|s| s.push_prepare(&request)),
        command::PUSH_FINALIZE => store::with_root(|s| s.push_finalize(&request)),
        command::PULL_PREPARE => store::with_root(|s| s.pull_prepare(&request)),
        command::PULL_FINALIZE => store::with_root(|s| s.pull_finalize(&request)),
        command::RUNS_SYNC => store::with_root(|s| s.runs_sync(&request)),
        command::AUTH_WHOAMI => store::with_root(|s| s.whoami()),
        other => Err((
            ErrorCode::InvalidRequest,
            format!("unknown or unsupported command `{other}`"),
        )),
    };
    match handled {
        Ok(body) => print(&Reply::new(cmd, &id, body)),
        Err((code, message)) => {
            eprintln!("gantry-remote-fs: {cmd}: {code}: {message}");
            print(&ErrorReply::new(&id, code, message))
        }
    }
}
