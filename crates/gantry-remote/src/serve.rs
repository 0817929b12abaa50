//! The adapter side of the protocol: the envelope every adapter written in Rust needs.
//! `--capabilities` prints the capabilities; any other first argument is a command whose
//! one JSON request is read from stdin, checked (a JSON object, protocol v1, `type`
//! matching the command) and handed to the adapter; the answer is wrapped in a result or
//! an error reply that echoes the request id.

use std::io::Read;
use std::process::ExitCode;

use serde::Serialize;

use crate::protocol::{Capabilities, ErrorCode, ErrorReply, Reply, CAPABILITIES, PROTOCOL_VERSION};

/// What a command handler returns: a body to wrap in a result, or an error.
pub type Handled = Result<serde_json::Value, (ErrorCode, String)>;

/// The answer to a command the adapter does not implement.
pub fn unsupported(cmd: &str) -> (ErrorCode, String) {
    (
        ErrorCode::InvalidRequest,
        format!("unknown or unsupported command `{cmd}`"),
    )
}

/// An adapter's `main`: `name` is its program name (for usage and logs).
pub fn adapter_main(
    name: &str,
    capabilities: Capabilities,
    handle: impl FnOnce(&str, &serde_json::Value) -> Handled,
) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(CAPABILITIES) => print(name, &capabilities),
        Some(cmd) => serve(name, cmd, handle),
        None => {
            eprintln!("usage: {name} --capabilities | COMMAND < request.json");
            ExitCode::from(2)
        }
    }
}

fn print<T: Serialize>(name: &str, value: &T) -> ExitCode {
    match serde_json::to_string(value) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: encoding the response: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads one request for `cmd` from stdin and prints one response.
fn serve(
    name: &str,
    cmd: &str,
    handle: impl FnOnce(&str, &serde_json::Value) -> Handled,
) -> ExitCode {
    let fail = |id: &str, code, message: String| print(name, &ErrorReply::new(id, code, message));
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        return fail("", ErrorCode::InvalidRequest, format!("reading stdin: {e}"));
    }
    let request: serde_json::Value = match serde_json::from_str(&input) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => {
            return fail(
                "",
                ErrorCode::InvalidRequest,
                "the request is not a JSON object".into(),
            )
        }
        Err(e) => {
            return fail(
                "",
                ErrorCode::InvalidRequest,
                format!("the request is not JSON: {e}"),
            )
        }
    };
    let id = request
        .get("request_id")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let version = request.get("protocol_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(PROTOCOL_VERSION)) {
        return fail(
            &id,
            ErrorCode::UnsupportedProtocol,
            format!(
                "this adapter speaks protocol v{PROTOCOL_VERSION}, the request is v{}",
                version.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
            ),
        );
    }
    if request.get("type").and_then(|v| v.as_str()) != Some(cmd) {
        return fail(
            &id,
            ErrorCode::InvalidRequest,
            format!("the request's type does not match the command `{cmd}`"),
        );
    }
    eprintln!("{name}: {cmd} {id}");
    match handle(cmd, &request) {
        Ok(body) => print(name, &Reply::new(cmd, &id, body)),
        Err((code, message)) => {
            eprintln!("{name}: {cmd}: {code}: {message}");
            fail(&id, code, message)
        }
    }
}
