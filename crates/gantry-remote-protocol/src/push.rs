//! `push.prepare` and `push.finalize`: where the pack bytes go, then the release.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::serde_util::{empty_as_none, null_as_empty};

/// `upload.method` of an adapter that already has the bytes (epack's CLI then skips the
/// upload and goes straight to `push.finalize`).
pub const UPLOAD_SKIP: &str = "skip";

/// Where on the remote a push or pull goes (epack sends `{}` when nothing is configured).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Target {
    /// The remote's workspace (tenant, organisation).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub workspace: Option<String>,
    /// The deployment environment (`gantry push --env`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub environment: Option<String>,
    /// The pack stream (recent epack).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub stream: Option<String>,
}

impl Target {
    /// A target with `workspace` and `environment`.
    pub fn new(workspace: Option<String>, environment: Option<String>) -> Self {
        Target {
            workspace,
            environment,
            stream: None,
        }
    }
}

/// The pack being pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PackInfo {
    /// Absolute path of the pack on the pushing machine (informational: the caller
    /// uploads it).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub path: String,
    /// The pack digest, `sha256:<hex>` of the pack's canonical artifact list (see
    /// [`crate::digest`]): the pack's identity, not a hash of the file's bytes.
    pub digest: String,
    /// The pack file's size.
    pub size_bytes: u64,
    /// `sha256:<hex>` of the pack file's bytes (recent epack).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub file_digest: Option<String>,
    /// `sha256:<hex>` of the canonical manifest (recent epack; gantry does not send it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub manifest_digest: Option<String>,
    /// Base64 MD5 of the file for upload checks (recent epack; gantry does not send it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub checksum: Option<String>,
}

impl PackInfo {
    /// A pack at `path` with pack digest `digest`, file digest `file_digest` and `size_bytes`.
    pub fn new(path: String, digest: String, file_digest: Option<String>, size_bytes: u64) -> Self {
        PackInfo {
            path,
            digest,
            size_bytes,
            file_digest,
            manifest_digest: None,
            checksum: None,
        }
    }
}

/// Source control metadata of a release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SourceInfo {
    /// The commit the pack was built from.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub git_sha: Option<String>,
    /// The CI run that built it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub ci_run_url: Option<String>,
}

/// Release metadata for a push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ReleaseInfo {
    /// Labels of the release.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Release notes.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub notes: Option<String>,
    /// Where the pack was built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    /// Release name (*gantry addition*; epack releases have none).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub name: Option<String>,
    /// Release version wanted (*gantry addition*; epack adapters choose versions).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub version: Option<String>,
}

/// Authentication hints for the adapter (epack passes an OIDC token in CI).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AuthHints {
    /// `oidc_token`, `api_key`, ...
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub mode: Option<String>,
    /// The token (OIDC mode).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub token: Option<String>,
}

/// `push.prepare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushPrepare {
    /// The remote's name in the caller's configuration.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub remote: String,
    /// Where the release goes.
    #[serde(default)]
    pub target: Target,
    /// The pack.
    pub pack: PackInfo,
    /// Release metadata.
    #[serde(default)]
    pub release: ReleaseInfo,
    /// Authentication hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<AuthHints>,
}

impl PushPrepare {
    /// A request for remote `remote`.
    pub fn new(remote: String, target: Target, pack: PackInfo, release: ReleaseInfo) -> Self {
        PushPrepare {
            remote,
            target,
            pack,
            release,
            identity: None,
        }
    }
}

/// Where and how the caller uploads the pack bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Upload {
    /// `PUT` (or `POST`) for an HTTP(S) URL; ignored for `file://`; [`UPLOAD_SKIP`] when
    /// the adapter already has the bytes (no upload, `url` may be empty).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub method: String,
    /// `file:///abs/path` (the caller copies the pack there, creating directories) or
    /// `https://...` (e.g. a presigned URL).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub url: String,
    /// Headers for the HTTP request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// When the URL stops working (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub expires_at: Option<String>,
}

impl Upload {
    /// An upload of `method` to `url` with no headers.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Upload {
            method: method.into(),
            url: url.into(),
            headers: BTreeMap::new(),
            expires_at: None,
        }
    }

    /// The answer of an adapter that already has the bytes.
    pub fn skip() -> Self {
        Upload::new(UPLOAD_SKIP, "")
    }

    /// Whether the caller must not upload.
    pub fn is_skip(&self) -> bool {
        self.method.eq_ignore_ascii_case(UPLOAD_SKIP)
    }
}

/// The answer to `push.prepare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushPrepared {
    /// Where the bytes go.
    pub upload: Upload,
    /// Opaque; passed back in `push.finalize`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub finalize_token: String,
}

impl PushPrepared {
    /// An answer.
    pub fn new(upload: Upload, finalize_token: String) -> Self {
        PushPrepared {
            upload,
            finalize_token,
        }
    }
}

/// `push.finalize`, after the upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushFinalize {
    /// The remote's name.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub remote: String,
    /// Where the release goes.
    #[serde(default)]
    pub target: Target,
    /// The pack, as in `push.prepare`.
    pub pack: PackInfo,
    /// Release metadata, as in `push.prepare` (recent epack sends it again).
    #[serde(default)]
    pub release: ReleaseInfo,
    /// The token `push.prepare` returned.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub finalize_token: String,
}

impl PushFinalize {
    /// A request.
    pub fn new(
        remote: String,
        target: Target,
        pack: PackInfo,
        release: ReleaseInfo,
        finalize_token: String,
    ) -> Self {
        PushFinalize {
            remote,
            target,
            pack,
            release,
            finalize_token,
        }
    }
}

/// A release created by a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Release {
    /// The remote's id of the release (`rel_123`); `pull` accepts it as `release_id`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub release_id: String,
    /// The pushed pack digest.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub pack_digest: String,
    /// When (RFC 3339); epack's SDK may leave it out.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub created_at: Option<String>,
    /// Where the release can be found again, in epack's form
    /// `<registry>/<workspace>/<environment>@sha256:<hex>`; epack's SDK may leave it out.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub canonical_ref: Option<String>,
    /// The version the remote gave the release (epack's SDK sends it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub version: Option<String>,
    /// The release name (*gantry addition*).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub name: Option<String>,
}

impl Release {
    /// A release `release_id` of pack digest `pack_digest`.
    pub fn new(release_id: String, pack_digest: String) -> Self {
        Release {
            release_id,
            pack_digest,
            created_at: None,
            canonical_ref: None,
            version: None,
            name: None,
        }
    }
}

/// The answer to `push.finalize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushFinalized {
    /// The release.
    pub release: Release,
    /// Pages about it (`release`, `pack`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
    /// Adapter-specific data.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl PushFinalized {
    /// An answer with no links.
    pub fn new(release: Release) -> Self {
        PushFinalized {
            release,
            links: BTreeMap::new(),
            extensions: serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epacks_push_prepare_request_is_read() {
        let req: PushPrepare = serde_json::from_str(
            r#"{"type":"push.prepare","protocol_version":1,"request_id":"req_abc123","remote":"locktivity",
                "target":{"workspace":"acme","environment":"prod"},
                "pack":{"path":"packs/evidence.pack","digest":"sha256:abc","size_bytes":1048576,"file_digest":"sha256:def"},
                "release":{"labels":["monthly"],"notes":"n","source":{"git_sha":"abc123","ci_run_url":"https://ci"}},
                "identity":{"mode":"oidc_token","token":"t","claims":{"sub":"x"}}}"#,
        )
        .expect("epack push.prepare");
        assert_eq!(req.pack.file_digest.as_deref(), Some("sha256:def"));
        assert_eq!(req.release.name, None);
        assert_eq!(req.target.workspace.as_deref(), Some("acme"));
    }

    #[test]
    fn releases_may_lack_canonical_ref_and_created_at() {
        // epack's Go SDK (componentsdk.ReleaseResult) has neither.
        let r: PushFinalized = serde_json::from_str(
            r#"{"release":{"release_id":"rel_1","pack_digest":"sha256:abc","version":"v1"}}"#,
        )
        .expect("sdk release");
        assert_eq!(r.release.canonical_ref, None);
        assert_eq!(r.release.created_at, None);
        assert_eq!(r.release.version.as_deref(), Some("v1"));
    }

    #[test]
    fn skip_uploads_need_no_url() {
        let p: PushPrepared =
            serde_json::from_str(r#"{"upload":{"method":"skip"},"finalize_token":"t"}"#)
                .expect("skip");
        assert!(p.upload.is_skip());
        assert_eq!(p.upload.url, "");
    }
}
