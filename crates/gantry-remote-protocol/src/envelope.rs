//! The envelope of every exchange: requests carry `{type, protocol_version, request_id}`,
//! results echo `{ok: true, type: "<command>.result", request_id}`, and errors are
//! `{ok: false, type: "error", request_id, error: {code, message, retryable, action?}}`.
//! Unknown fields are ignored on both sides so either side can grow compatibly.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The protocol version this crate speaks (epack's Remote Adapter Protocol v1).
pub const PROTOCOL_VERSION: u32 = 1;

/// The argument that asks an adapter for its capabilities (no stdin).
pub const CAPABILITIES: &str = "--capabilities";

/// The variable epack's executor sets for every adapter process; gantry sets it too.
pub const VERSION_ENV: &str = "EPACK_REMOTE_PROTOCOL_VERSION";

/// The commands of protocol v1 (passed as the adapter's first argument and as `type`).
pub mod command {
    /// Get an upload URL for a pack.
    pub const PUSH_PREPARE: &str = "push.prepare";
    /// Create the release after the upload.
    pub const PUSH_FINALIZE: &str = "push.finalize";
    /// Resolve a pack reference and get a download URL.
    pub const PULL_PREPARE: &str = "pull.prepare";
    /// Confirm the download.
    pub const PULL_FINALIZE: &str = "pull.finalize";
    /// Send run results to the remote.
    pub const RUNS_SYNC: &str = "runs.sync";
    /// Authenticate (the adapter keeps the credentials).
    pub const AUTH_LOGIN: &str = "auth.login";
    /// Who the adapter is authenticated as.
    pub const AUTH_WHOAMI: &str = "auth.whoami";
    /// Every command of v1.
    pub const ALL: [&str; 7] = [
        PUSH_PREPARE,
        PUSH_FINALIZE,
        PULL_PREPARE,
        PULL_FINALIZE,
        RUNS_SYNC,
        AUTH_LOGIN,
        AUTH_WHOAMI,
    ];
}

/// The `type` of a successful response to `command` (`push.prepare.result`).
pub fn result_type(command: &str) -> String {
    format!("{command}.result")
}

/// Error codes of v1. Unknown codes from newer adapters are kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request's `protocol_version` is not one the adapter speaks.
    UnsupportedProtocol,
    /// Malformed request, unknown command, bad field.
    InvalidRequest,
    /// Not logged in, or the credentials expired.
    AuthRequired,
    /// Authenticated, but not allowed.
    Forbidden,
    /// No such release or token.
    NotFound,
    /// The release already exists.
    Conflict,
    /// Slow down.
    RateLimited,
    /// The remote failed.
    ServerError,
    /// The remote could not be reached.
    NetworkError,
    /// A code this version does not know, kept as sent.
    Other(String),
}

impl ErrorCode {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::UnsupportedProtocol => "unsupported_protocol",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::AuthRequired => "auth_required",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServerError => "server_error",
            ErrorCode::NetworkError => "network_error",
            ErrorCode::Other(s) => s,
        }
    }

    /// Reads the wire spelling.
    pub fn parse(s: &str) -> ErrorCode {
        match s {
            "unsupported_protocol" => ErrorCode::UnsupportedProtocol,
            "invalid_request" => ErrorCode::InvalidRequest,
            "auth_required" => ErrorCode::AuthRequired,
            "forbidden" => ErrorCode::Forbidden,
            "not_found" => ErrorCode::NotFound,
            "conflict" => ErrorCode::Conflict,
            "rate_limited" => ErrorCode::RateLimited,
            "server_error" => ErrorCode::ServerError,
            "network_error" => ErrorCode::NetworkError,
            other => ErrorCode::Other(other.to_string()),
        }
    }

    /// Whether errors with this code are usually worth retrying (epack's SDK marks
    /// `rate_limited`, `server_error` and `network_error` retryable).
    pub fn usually_retryable(&self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited | ErrorCode::ServerError | ErrorCode::NetworkError
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ErrorCode::parse(&String::deserialize(d)?))
    }
}

/// How the user can resolve an error: `run_command` with `command`, `open_url` with `url`.
/// epack's Go SDK sends `action` as a plain string; gantry reads that as `{type: "text",
/// text}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ActionHint {
    /// `run_command`, `open_url`, or `text` (a string action).
    #[serde(rename = "type")]
    pub kind: String,
    /// The command to run (`run_command`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The page to open (`open_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Free text (an action sent as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl ActionHint {
    /// `{type: "run_command", command}`.
    pub fn run_command(command: impl Into<String>) -> Self {
        ActionHint {
            kind: "run_command".into(),
            command: Some(command.into()),
            url: None,
            text: None,
        }
    }

    /// `{type: "open_url", url}`.
    pub fn open_url(url: impl Into<String>) -> Self {
        ActionHint {
            kind: "open_url".into(),
            command: None,
            url: Some(url.into()),
            text: None,
        }
    }
}

impl<'de> Deserialize<'de> for ActionHint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Object {
            #[serde(rename = "type", default)]
            kind: String,
            #[serde(default)]
            command: Option<String>,
            #[serde(default)]
            url: Option<String>,
            #[serde(default)]
            text: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Object(Object),
        }
        Ok(match Either::deserialize(d)? {
            Either::Text(text) => ActionHint {
                kind: "text".into(),
                command: None,
                url: None,
                text: Some(text),
            },
            Either::Object(o) => ActionHint {
                kind: o.kind,
                command: o.command,
                url: o.url,
                text: o.text,
            },
        })
    }
}

/// The `error` object of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// What kind of failure.
    pub code: ErrorCode,
    /// For the user.
    #[serde(default, deserialize_with = "crate::serde_util::null_as_empty")]
    pub message: String,
    /// Whether the same request may succeed later; gantry retries only these.
    #[serde(default)]
    pub retryable: bool,
    /// What fixes it, when the user can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionHint>,
}

impl ErrorBody {
    /// An error body; `retryable` follows [`ErrorCode::usually_retryable`].
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            retryable: code.usually_retryable(),
            code,
            message: message.into(),
            action: None,
        }
    }
}

/// A request as it goes on the wire: the envelope plus the command's fields.
#[derive(Debug, Clone, Serialize)]
pub struct Envelope<'a, T: Serialize> {
    /// The command.
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// Always [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// Unique per request; echoed in the response.
    pub request_id: &'a str,
    /// The command's fields.
    #[serde(flatten)]
    pub body: &'a T,
}

/// A successful response: `{ok: true, type: "<command>.result", request_id, ...body}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply<T> {
    /// Always `true`.
    pub ok: bool,
    /// `<command>.result`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request's id.
    pub request_id: String,
    /// The command's result fields.
    #[serde(flatten)]
    pub body: T,
}

impl<T> Reply<T> {
    /// The success response to `command` for `request_id`.
    pub fn new(command: &str, request_id: &str, body: T) -> Self {
        Reply {
            ok: true,
            kind: result_type(command),
            request_id: request_id.to_string(),
            body,
        }
    }
}

/// An error response: `{ok: false, type: "error", request_id, error: {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorReply {
    /// Always `false`.
    pub ok: bool,
    /// `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request's id (`""` when the request could not be read).
    #[serde(default)]
    pub request_id: String,
    /// What went wrong.
    pub error: ErrorBody,
}

impl ErrorReply {
    /// An error response for `request_id`.
    pub fn new(request_id: &str, error: ErrorBody) -> Self {
        ErrorReply {
            ok: false,
            kind: "error".into(),
            request_id: request_id.to_string(),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_kept() {
        for code in [
            "unsupported_protocol",
            "invalid_request",
            "auth_required",
            "forbidden",
            "not_found",
            "conflict",
            "rate_limited",
            "server_error",
            "network_error",
            "teapot",
        ] {
            assert_eq!(ErrorCode::parse(code).as_str(), code);
        }
        let e: ErrorBody =
            serde_json::from_str(r#"{"code":"teapot","message":"m"}"#).expect("error body");
        assert_eq!(e.code, ErrorCode::Other("teapot".into()));
        assert!(!e.retryable);
    }

    #[test]
    fn actions_may_be_objects_or_strings() {
        let e: ErrorBody = serde_json::from_str(
            r#"{"code":"auth_required","message":"m","action":{"type":"run_command","command":"epack remote whoami x"}}"#,
        )
        .expect("object action");
        assert_eq!(
            e.action.and_then(|a| a.command).as_deref(),
            Some("epack remote whoami x")
        );
        // epack's Go SDK (componentsdk) sends the action as a string.
        let e: ErrorBody =
            serde_json::from_str(r#"{"code":"forbidden","message":"m","action":"ask an admin"}"#)
                .expect("string action");
        let a = e.action.expect("action");
        assert_eq!(
            (a.kind.as_str(), a.text.as_deref()),
            ("text", Some("ask an admin"))
        );
    }

    #[test]
    fn envelope_flattens_the_body() {
        #[derive(Serialize)]
        struct Body {
            remote: &'static str,
        }
        let v = serde_json::to_value(Envelope {
            kind: command::AUTH_WHOAMI,
            protocol_version: PROTOCOL_VERSION,
            request_id: "r1",
            body: &Body { remote: "origin" },
        })
        .expect("json");
        assert_eq!(
            v,
            serde_json::json!({"type": "auth.whoami", "protocol_version": 1, "request_id": "r1", "remote": "origin"})
        );
    }
}
