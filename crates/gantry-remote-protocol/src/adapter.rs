//! The adapter side: implement [`RemoteAdapter`], call [`serve`] from `main`.
//!
//! `ADAPTER --capabilities` prints [`RemoteAdapter::capabilities`]. `ADAPTER <command>`
//! reads one JSON request from stdin (to EOF: epack writes it without a trailing newline,
//! gantry with one), checks it (a JSON object, protocol v1, `type` matching the command),
//! decodes it into the command's request type and calls the handler; the answer goes to
//! stdout as one result (`{ok: true, type: "<command>.result", request_id, ...}`) or one
//! error object echoing the request id. Commands the adapter does not implement answer
//! `invalid_request`.

use std::io::{Read, Write};
use std::process::ExitCode;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{AuthRequest, LoggedIn, WhoAmI};
use crate::capabilities::Capabilities;
use crate::envelope::{
    command, ActionHint, ErrorBody, ErrorCode, ErrorReply, Reply, CAPABILITIES, PROTOCOL_VERSION,
};
use crate::pull::{PullFinalize, PullFinalized, PullPrepare, PullPrepared};
use crate::push::{PushFinalize, PushFinalized, PushPrepare, PushPrepared};
use crate::runs::{RunsSync, RunsSynced};

/// Why a command failed: becomes the response's `error` object.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The error code.
    pub code: ErrorCode,
    /// For the user.
    pub message: String,
    /// Whether the same request may succeed later.
    pub retryable: bool,
    /// What fixes it (boxed: failures travel in every `Result`).
    pub action: Option<Box<ActionHint>>,
}

impl Failure {
    /// A failure with `code`; retryable as [`ErrorCode::usually_retryable`] says.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Failure {
            retryable: code.usually_retryable(),
            code,
            message: message.into(),
            action: None,
        }
    }

    /// `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::new(ErrorCode::InvalidRequest, message)
    }

    /// `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Failure::new(ErrorCode::NotFound, message)
    }

    /// `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Failure::new(ErrorCode::Conflict, message)
    }

    /// `server_error` (retryable).
    pub fn server(message: impl Into<String>) -> Self {
        Failure::new(ErrorCode::ServerError, message)
    }

    /// The answer to a command the adapter does not implement.
    pub fn unsupported(command: &str) -> Self {
        Failure::invalid(format!("unknown or unsupported command `{command}`"))
    }

    /// The same failure with an action hint.
    pub fn with_action(mut self, action: ActionHint) -> Self {
        self.action = Some(Box::new(action));
        self
    }

    /// The same failure with `retryable` set.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }
}

impl From<Failure> for ErrorBody {
    fn from(f: Failure) -> Self {
        let mut body = ErrorBody::new(f.code, f.message);
        body.retryable = f.retryable;
        body.action = f.action.map(|a| *a);
        body
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// What a handler returns.
pub type Handled<T> = Result<T, Failure>;

/// A remote adapter. Every command has a default that answers `invalid_request`; implement
/// those the capabilities advertise.
pub trait RemoteAdapter {
    /// What `--capabilities` prints.
    fn capabilities(&self) -> Capabilities;

    /// `push.prepare`: where the pack goes.
    fn push_prepare(&self, _request: PushPrepare) -> Handled<PushPrepared> {
        Err(Failure::unsupported(command::PUSH_PREPARE))
    }

    /// `push.finalize`: check the upload, create the release.
    fn push_finalize(&self, _request: PushFinalize) -> Handled<PushFinalized> {
        Err(Failure::unsupported(command::PUSH_FINALIZE))
    }

    /// `pull.prepare`: resolve the reference, hand out a download.
    fn pull_prepare(&self, _request: PullPrepare) -> Handled<PullPrepared> {
        Err(Failure::unsupported(command::PULL_PREPARE))
    }

    /// `pull.finalize`: record the download.
    fn pull_finalize(&self, _request: PullFinalize) -> Handled<PullFinalized> {
        Err(Failure::unsupported(command::PULL_FINALIZE))
    }

    /// `runs.sync`: store run results.
    fn runs_sync(&self, _request: RunsSync) -> Handled<RunsSynced> {
        Err(Failure::unsupported(command::RUNS_SYNC))
    }

    /// `auth.login`.
    fn auth_login(&self, _request: AuthRequest) -> Handled<LoggedIn> {
        Err(Failure::unsupported(command::AUTH_LOGIN))
    }

    /// `auth.whoami`.
    fn auth_whoami(&self, _request: AuthRequest) -> Handled<WhoAmI> {
        Err(Failure::unsupported(command::AUTH_WHOAMI))
    }
}

/// An adapter's `main`: serves the process's arguments, stdin and stdout. `program` names
/// the adapter in usage and logs.
pub fn serve(program: &str, adapter: &impl RemoteAdapter) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    serve_io(
        program,
        adapter,
        &args,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    )
}

/// [`serve`] on explicit arguments and streams (for tests).
pub fn serve_io(
    program: &str,
    adapter: &impl RemoteAdapter,
    args: &[String],
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> ExitCode {
    match args.first().map(String::as_str) {
        Some(CAPABILITIES) => emit(program, stdout, stderr, &adapter.capabilities()),
        Some(cmd) => {
            let (id, result) = answer(adapter, cmd, stdin);
            match result {
                Ok(value) => emit(program, stdout, stderr, &Reply::new(cmd, &id, value)),
                Err(failure) => {
                    let _ = writeln!(stderr, "{program}: {cmd}: {failure}");
                    emit(
                        program,
                        stdout,
                        stderr,
                        &ErrorReply::new(&id, failure.into()),
                    )
                }
            }
        }
        None => {
            let _ = writeln!(
                stderr,
                "usage: {program} --capabilities | COMMAND < request.json"
            );
            ExitCode::from(2)
        }
    }
}

fn emit<T: Serialize>(
    program: &str,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    value: &T,
) -> ExitCode {
    let written = serde_json::to_string(value)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            writeln!(stdout, "{text}")
                .and_then(|()| stdout.flush())
                .map_err(|e| e.to_string())
        });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(stderr, "{program}: writing the response: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads and checks the request, runs the handler; returns the request id (`""` when it
/// could not be read) and the result body or failure.
fn answer(
    adapter: &impl RemoteAdapter,
    cmd: &str,
    stdin: &mut dyn Read,
) -> (String, Result<serde_json::Value, Failure>) {
    let mut input = Vec::new();
    if let Err(e) = stdin.read_to_end(&mut input) {
        return (
            String::new(),
            Err(Failure::invalid(format!("reading stdin: {e}"))),
        );
    }
    let request: serde_json::Value = match serde_json::from_slice(&input) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => {
            return (
                String::new(),
                Err(Failure::invalid("the request is not a JSON object")),
            )
        }
        Err(e) => {
            return (
                String::new(),
                Err(Failure::invalid(format!("the request is not JSON: {e}"))),
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
        let got = version.map_or_else(|| "missing".to_string(), |v| format!("v{v}"));
        return (
            id,
            Err(Failure::new(
                ErrorCode::UnsupportedProtocol,
                format!("this adapter speaks protocol v{PROTOCOL_VERSION}, the request's protocol_version is {got}"),
            )),
        );
    }
    if request.get("type").and_then(|v| v.as_str()) != Some(cmd) {
        return (
            id,
            Err(Failure::invalid(format!(
                "the request's type does not match the command `{cmd}`"
            ))),
        );
    }
    let result = match cmd {
        command::PUSH_PREPARE => dispatch(request, |r| adapter.push_prepare(r)),
        command::PUSH_FINALIZE => dispatch(request, |r| adapter.push_finalize(r)),
        command::PULL_PREPARE => dispatch(request, |r| adapter.pull_prepare(r)),
        command::PULL_FINALIZE => dispatch(request, |r| adapter.pull_finalize(r)),
        command::RUNS_SYNC => dispatch(request, |r| adapter.runs_sync(r)),
        command::AUTH_LOGIN => dispatch(request, |r| adapter.auth_login(r)),
        command::AUTH_WHOAMI => dispatch(request, |r| adapter.auth_whoami(r)),
        other => Err(Failure::unsupported(other)),
    };
    (id, result)
}

fn dispatch<Req: DeserializeOwned, Res: Serialize>(
    request: serde_json::Value,
    handler: impl FnOnce(Req) -> Handled<Res>,
) -> Result<serde_json::Value, Failure> {
    let typed: Req = serde_json::from_value(request)
        .map_err(|e| Failure::invalid(format!("bad request: {e}")))?;
    let answer = handler(typed)?;
    serde_json::to_value(&answer).map_err(|e| Failure::server(format!("encoding the answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Identity;

    struct Whoami;

    impl RemoteAdapter for Whoami {
        fn capabilities(&self) -> Capabilities {
            Capabilities::new("t")
        }

        fn auth_whoami(&self, request: AuthRequest) -> Handled<WhoAmI> {
            Ok(WhoAmI::new(Identity::authenticated(
                request.remote.unwrap_or_else(|| "epack".into()),
                None,
            )))
        }
    }

    fn run(args: &[&str], stdin: &str) -> (ExitCode, serde_json::Value) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = serve_io(
            "t",
            &Whoami,
            &args,
            &mut stdin.as_bytes(),
            &mut out,
            &mut err,
        );
        let value = serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null);
        (code, value)
    }

    #[test]
    fn requests_without_a_trailing_newline_or_gantry_fields_are_served() {
        // What epack's executor writes: the marshalled request, no newline, no `remote`.
        let (code, v) = run(
            &["auth.whoami"],
            r#"{"type":"auth.whoami","protocol_version":1,"request_id":"r1"}"#,
        );
        assert_eq!(code, ExitCode::SUCCESS);
        assert_eq!(v["type"], "auth.whoami.result");
        assert_eq!(v["request_id"], "r1");
        assert_eq!(v["identity"]["subject"], "epack");
    }

    #[test]
    fn bad_requests_get_error_objects() {
        let (_, v) = run(&["auth.whoami"], "not json");
        assert_eq!(
            (v["ok"].as_bool(), v["error"]["code"].as_str()),
            (Some(false), Some("invalid_request"))
        );
        let (_, v) = run(
            &["auth.whoami"],
            r#"{"type":"auth.whoami","protocol_version":9,"request_id":"r2"}"#,
        );
        assert_eq!(v["error"]["code"], "unsupported_protocol");
        assert_eq!(v["request_id"], "r2");
        let (_, v) = run(
            &["push.prepare"],
            r#"{"type":"push.prepare","protocol_version":1,"request_id":"r3"}"#,
        );
        assert_eq!(v["error"]["code"], "invalid_request", "{v}");
        let (_, v) = run(
            &["auth.login"],
            r#"{"type":"auth.login","protocol_version":1,"request_id":"r4"}"#,
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("unsupported")),
            "{v}"
        );
        let (code, v) = run(&["--capabilities"], "");
        assert_eq!(
            (code, v["deploy_protocol_version"].as_u64()),
            (ExitCode::SUCCESS, Some(1))
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        /// Whatever arrives on stdin, an adapter answers with exactly one JSON object.
        #[test]
        fn any_stdin_gets_one_json_answer(
            cmd in proptest::sample::select(&["push.prepare", "pull.prepare", "pull.finalize",
                "runs.sync", "auth.whoami", "auth.login", "nope"][..]),
            stdin in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            id in ".{0,8}",
        ) {
            let args = vec![cmd.to_string()];
            let (mut out, mut err) = (Vec::new(), Vec::new());
            serve_io("t", &Whoami, &args, &mut &stdin[..], &mut out, &mut err);
            let v: serde_json::Value = serde_json::from_slice(&out).expect("one JSON object");
            proptest::prop_assert!(v.is_object());
            // The same bytes inside a well-formed envelope: still one answer, with the id.
            let junk = String::from_utf8_lossy(&stdin).into_owned();
            let request = serde_json::json!({"type": cmd, "protocol_version": 1, "request_id": id,
                "pack": junk, "ref": {"digest": junk}, "runs": [junk]});
            let (mut out, mut err) = (Vec::new(), Vec::new());
            serve_io("t", &Whoami, &args, &mut request.to_string().as_bytes(), &mut out, &mut err);
            let v: serde_json::Value = serde_json::from_slice(&out).expect("one JSON object");
            proptest::prop_assert_eq!(v["request_id"].as_str(), Some(id.as_str()));
        }
    }
}
