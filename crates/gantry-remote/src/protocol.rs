//! The wire types of the remote adapter protocol v1 (docs/remote-protocol.md).
//!
//! Adapter authors depend on these: every request and response is one JSON object,
//! requests carry `{type, protocol_version, request_id}`, responses echo `type`
//! (`<command>.result`) and `request_id`, and errors are `{ok: false, type: "error", ...}`.
//! Unknown fields are ignored on both sides so either side can grow compatibly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The argument that asks an adapter for its capabilities (no stdin).
pub const CAPABILITIES: &str = "--capabilities";

/// The commands of protocol v1 (passed as the adapter's first argument and as `type`).
pub mod command {
    pub const PUSH_PREPARE: &str = "push.prepare";
    pub const PUSH_FINALIZE: &str = "push.finalize";
    pub const PULL_PREPARE: &str = "pull.prepare";
    pub const PULL_FINALIZE: &str = "pull.finalize";
    pub const RUNS_SYNC: &str = "runs.sync";
    pub const AUTH_LOGIN: &str = "auth.login";
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

/// The `type` of a successful response to `command`.
pub fn result_type(command: &str) -> String {
    format!("{command}.result")
}

/// What `ADAPTER --capabilities` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// The adapter's name (`fs`, `s3`, ...).
    pub name: String,
    /// The protocol version the adapter speaks; gantry v1 requires 1.
    pub protocol_version: u32,
    /// What the adapter implements beyond capabilities.
    #[serde(default)]
    pub features: Features,
    /// How the adapter authenticates.
    #[serde(default)]
    pub auth: AuthCapabilities,
    /// Limits gantry must respect before calling.
    #[serde(default)]
    pub limits: Limits,
}

impl Capabilities {
    /// Capabilities of an adapter named `name` with no features.
    pub fn new(name: impl Into<String>) -> Self {
        Capabilities {
            name: name.into(),
            protocol_version: PROTOCOL_VERSION,
            features: Features::default(),
            auth: AuthCapabilities::default(),
            limits: Limits::default(),
        }
    }
}

/// Optional features; a missing key is `false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Features {
    /// `push.prepare` + `push.finalize` (required for `gantry push`).
    pub prepare_finalize: bool,
    /// `pull.prepare` + `pull.finalize`.
    pub pull: bool,
    /// `runs.sync`.
    pub runs_sync: bool,
    /// `auth.login`.
    pub auth_login: bool,
    /// `auth.whoami`.
    pub whoami: bool,
}

/// Authentication modes (`none`, `api_key`, `device_code`, `oidc_token`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AuthCapabilities {
    pub modes: Vec<String>,
}

/// Limits the adapter announces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Limits {
    /// Largest pack the remote accepts, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pack_bytes: Option<u64>,
}

/// Where on the remote a push or pull goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Target {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// The deployment environment (`gantry push --env`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// The pack being pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackInfo {
    /// Absolute path of the pack on gantry's machine (informational: gantry uploads it).
    pub path: String,
    /// `sha256:<lowercase hex>`.
    pub digest: String,
    pub size_bytes: u64,
}

/// Release metadata for a push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReleaseInfo {
    /// Release name (default chosen by the adapter, e.g. the pack's file stem).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Release version (default chosen by the adapter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// `push.prepare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPrepare {
    pub remote: String,
    #[serde(default)]
    pub target: Target,
    pub pack: PackInfo,
    #[serde(default)]
    pub release: ReleaseInfo,
}

/// Where and how gantry uploads the pack bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// `PUT` (the only method of v1).
    pub method: String,
    /// `file:///abs/path` or `https://...` (e.g. a presigned URL).
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The answer to `push.prepare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPrepared {
    pub upload: Upload,
    /// Opaque; gantry passes it back in `push.finalize`.
    pub finalize_token: String,
}

/// `push.finalize`, after a successful upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushFinalize {
    pub remote: String,
    #[serde(default)]
    pub target: Target,
    pub pack: PackInfo,
    pub finalize_token: String,
}

/// A release created by a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub release_id: String,
    pub pack_digest: String,
    #[serde(default)]
    pub created_at: String,
    /// What `gantry pull` accepts to get this release back.
    pub canonical_ref: String,
}

/// The answer to `push.finalize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushFinalized {
    pub release: Release,
    #[serde(default)]
    pub links: BTreeMap<String, String>,
}

/// Which pack to pull; gantry fills the fields the user's REF names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PackRef {
    /// The REF exactly as the user gave it.
    pub raw: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `sha256:<hex>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub latest: bool,
}

impl PackRef {
    /// Parses `sha256:HEX`, `NAME@VERSION` or `NAME` (the latest release of NAME).
    pub fn parse(raw: &str) -> PackRef {
        let mut r = PackRef {
            raw: raw.to_string(),
            ..PackRef::default()
        };
        if raw.starts_with("sha256:") {
            r.digest = Some(raw.to_string());
        } else if let Some((name, version)) = raw.split_once('@') {
            r.name = Some(name.to_string());
            r.version = Some(version.to_string());
        } else {
            r.name = Some(raw.to_string());
            r.latest = true;
        }
        r
    }
}

/// `pull.prepare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullPrepare {
    pub remote: String,
    #[serde(default)]
    pub target: Target,
    #[serde(rename = "ref")]
    pub pack_ref: PackRef,
}

/// Where gantry downloads the pack and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Download {
    /// `file:///abs/path` or `https://...`.
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `sha256:<hex>`; gantry refuses bytes that hash otherwise.
    pub digest: String,
    pub size_bytes: u64,
}

/// The answer to `pull.prepare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullPrepared {
    pub download: Download,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
    #[serde(default)]
    pub finalize_token: String,
}

/// `pull.finalize`, after the download was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullFinalize {
    pub remote: String,
    #[serde(default)]
    pub target: Target,
    pub digest: String,
    pub finalize_token: String,
}

/// The answer to `pull.finalize` (nothing but the envelope).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullFinalized {}

/// One run's ledger for `runs.sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    /// The run ledger as gantry records it (JSON).
    pub ledger: serde_json::Value,
}

/// `runs.sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunsSync {
    pub remote: String,
    #[serde(default)]
    pub target: Target,
    pub runs: Vec<RunRecord>,
}

/// What happened to one synced run: `accepted`, `duplicate` or `rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSyncItem {
    pub run_id: String,
    pub status: String,
}

/// The answer to `runs.sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunsSynced {
    pub accepted: u64,
    pub rejected: u64,
    pub items: Vec<RunSyncItem>,
}

/// `auth.login` and `auth.whoami` (the adapter manages credentials itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub remote: String,
}

/// Who the adapter is authenticated as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Identity {
    pub authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// Device-code instructions an adapter may return from `auth.login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginInstructions {
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default)]
    pub expires_in_seconds: u64,
}

/// The answer to `auth.login`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedIn {
    pub identity: Identity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<LoginInstructions>,
}

/// The answer to `auth.whoami`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WhoAmI {
    pub identity: Identity,
}

/// Error codes of v1. Unknown codes from newer adapters are kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    UnsupportedProtocol,
    InvalidRequest,
    AuthRequired,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    ServerError,
    NetworkError,
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
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ErrorCode::parse(&String::deserialize(d)?))
    }
}

/// How the user can resolve an error (`run_command`, `open_url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionHint {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The `error` object of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// Whether the same request may succeed later; gantry retries only these.
    #[serde(default)]
    pub retryable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionHint>,
}

/// A request as it goes on the wire: the envelope plus the command's fields.
#[derive(Debug, Clone, Serialize)]
pub struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub protocol_version: u32,
    pub request_id: &'a str,
    #[serde(flatten)]
    pub body: &'a T,
}

/// A successful response: `{ok: true, type: "<command>.result", request_id, ...body}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply<T> {
    pub ok: bool,
    #[serde(rename = "type")]
    pub kind: String,
    pub request_id: String,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Reply<T> {
    /// The success response to `command` for `request_id` (for adapters written in Rust).
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
    pub ok: bool,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub request_id: String,
    pub error: ErrorBody,
}

impl ErrorReply {
    /// An error response (for adapters written in Rust).
    pub fn new(request_id: &str, code: ErrorCode, message: impl Into<String>) -> Self {
        let retryable = matches!(
            code,
            ErrorCode::RateLimited | ErrorCode::ServerError | ErrorCode::NetworkError
        );
        ErrorReply {
            ok: false,
            kind: "error".into(),
            request_id: request_id.to_string(),
            error: ErrorBody {
                code,
                message: message.into(),
                retryable,
                action: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_flattens_the_body() {
        let body = AuthRequest {
            remote: "origin".into(),
        };
        let v = serde_json::to_value(Envelope {
            kind: command::AUTH_WHOAMI,
            protocol_version: PROTOCOL_VERSION,
            request_id: "r1",
            body: &body,
        })
        .expect("json");
        assert_eq!(
            v,
            serde_json::json!({"type": "auth.whoami", "protocol_version": 1, "request_id": "r1", "remote": "origin"})
        );
    }

    #[test]
    fn refs_and_codes() {
        assert_eq!(
            PackRef::parse("sha256:ab").digest.as_deref(),
            Some("sha256:ab")
        );
        let r = PackRef::parse("app@3");
        assert_eq!(
            (r.name.as_deref(), r.version.as_deref()),
            (Some("app"), Some("3"))
        );
        assert!(PackRef::parse("app").latest);
        let e: ErrorBody =
            serde_json::from_str(r#"{"code":"teapot","message":"m"}"#).expect("error body");
        assert_eq!(e.code, ErrorCode::Other("teapot".into()));
        assert!(!e.retryable);
        let caps: Capabilities =
            serde_json::from_str(r#"{"name":"x","protocol_version":1}"#).expect("caps");
        assert!(!caps.features.pull);
    }
}
