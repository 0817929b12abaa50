//! `pull.prepare` and `pull.finalize`: resolve a pack reference, download, confirm.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::push::{AuthHints, Target};
use crate::serde_util::{empty_as_none, is_false, null_as_empty};

/// Which pack to pull. epack sets exactly one of `digest`, `release_id`, `version` and
/// `latest` (latest when none is set); gantry may add `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PackRef {
    /// `sha256:<hex>`: the pack digest (immutable).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub digest: Option<String>,
    /// The remote's release id.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub release_id: Option<String>,
    /// A version string (`v1.2.3`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub version: Option<String>,
    /// The most recent release.
    #[serde(skip_serializing_if = "is_false")]
    pub latest: bool,
    /// Release name, narrowing `version` or `latest` (*gantry addition*; epack adapters
    /// ignore it, and gantry then refuses what they resolve, see docs/remote-protocol.md).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub name: Option<String>,
}

impl PackRef {
    /// By pack digest.
    pub fn digest(digest: impl Into<String>) -> Self {
        PackRef {
            digest: Some(digest.into()),
            ..PackRef::default()
        }
    }

    /// By release id.
    pub fn release_id(id: impl Into<String>) -> Self {
        PackRef {
            release_id: Some(id.into()),
            ..PackRef::default()
        }
    }

    /// By version.
    pub fn version(version: impl Into<String>) -> Self {
        PackRef {
            version: Some(version.into()),
            ..PackRef::default()
        }
    }

    /// The latest release.
    pub fn latest() -> Self {
        PackRef {
            latest: true,
            ..PackRef::default()
        }
    }

    /// Whether this asks for the latest release (explicitly, or by setting nothing).
    pub fn is_latest(&self) -> bool {
        self.latest
            || (self.digest.is_none() && self.release_id.is_none() && self.version.is_none())
    }
}

/// `pull.prepare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PullPrepare {
    /// The remote's name.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub remote: String,
    /// Where to look.
    #[serde(default)]
    pub target: Target,
    /// Which pack.
    #[serde(rename = "ref", default)]
    pub pack_ref: PackRef,
    /// Authentication hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<AuthHints>,
}

impl PullPrepare {
    /// A request.
    pub fn new(remote: String, target: Target, pack_ref: PackRef) -> Self {
        PullPrepare {
            remote,
            target,
            pack_ref,
            identity: None,
        }
    }
}

/// Where the caller downloads the pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Download {
    /// `GET` (the default when absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub method: Option<String>,
    /// `file:///abs/path` or `https://...`.
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

impl Download {
    /// A GET of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Download {
            method: Some("GET".into()),
            url: url.into(),
            headers: BTreeMap::new(),
            expires_at: None,
        }
    }
}

/// What the adapter resolved: the pack and its release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PackMetadata {
    /// The digest the downloaded bytes are checked against. epack's CLI compares it with
    /// the sha256 of the downloaded file, so adapters meant for epack put the file's
    /// sha256 here; gantry also accepts the pack digest (it recomputes both).
    #[serde(deserialize_with = "null_as_empty")]
    pub digest: String,
    /// The file's size (epack's SDK may leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// The pack's stream.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub stream: Option<String>,
    /// When the release was created.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub created_at: Option<String>,
    /// The release resolved.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub release_id: Option<String>,
    /// Its version.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub version: Option<String>,
    /// Its labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Its name (*gantry addition*; gantry needs it to pull by name).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub name: Option<String>,
    /// The pack digest it was pushed with (*gantry addition*).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub pack_digest: Option<String>,
    /// `sha256:<hex>` of the file (*gantry addition*).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub file_digest: Option<String>,
}

/// The answer to `pull.prepare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PullPrepared {
    /// Where the bytes are.
    pub download: Download,
    /// What was resolved.
    #[serde(default)]
    pub pack: PackMetadata,
    /// Opaque; passed back in `pull.finalize`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub finalize_token: String,
}

impl PullPrepared {
    /// An answer.
    pub fn new(download: Download, pack: PackMetadata, finalize_token: String) -> Self {
        PullPrepared {
            download,
            pack,
            finalize_token,
        }
    }
}

/// `pull.finalize`, after the download was verified. epack's CLI sends the digest as
/// `digest`, epack's spec and SDK name it `pack_digest`: gantry sends both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PullFinalize {
    /// The remote's name.
    #[serde(deserialize_with = "null_as_empty")]
    pub remote: String,
    /// Where the pack was.
    pub target: Target,
    /// `pack.digest` from `pull.prepare` (what epack's CLI sends).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub digest: Option<String>,
    /// The same digest under the spec's name.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub pack_digest: Option<String>,
    /// The token `pull.prepare` returned.
    #[serde(deserialize_with = "null_as_empty")]
    pub finalize_token: String,
}

impl PullFinalize {
    /// A request confirming `digest` with `finalize_token`; `both_names` also sends it as
    /// `pack_digest`.
    pub fn new(
        remote: String,
        target: Target,
        digest: String,
        finalize_token: String,
        both_names: bool,
    ) -> Self {
        PullFinalize {
            remote,
            target,
            pack_digest: both_names.then(|| digest.clone()),
            digest: Some(digest),
            finalize_token,
        }
    }

    /// The confirmed digest under either name.
    pub fn confirmed_digest(&self) -> Option<&str> {
        self.digest.as_deref().or(self.pack_digest.as_deref())
    }
}

/// The answer to `pull.finalize`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PullFinalized {
    /// `true` when the remote recorded the download (absent from older epack adapters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<bool>,
}

impl PullFinalized {
    /// `{confirmed: true}`.
    pub fn confirmed() -> Self {
        PullFinalized {
            confirmed: Some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epacks_pull_prepare_example_is_read() {
        // The spec's example sends every ref field, empty ones as "".
        let req: PullPrepare = serde_json::from_str(
            r#"{"type":"pull.prepare","protocol_version":1,"request_id":"r","remote":"l",
                "target":{"workspace":"acme","environment":"prod"},
                "ref":{"digest":"","release_id":"","version":"","latest":true}}"#,
        )
        .expect("pull.prepare");
        assert_eq!(req.pack_ref, PackRef::latest());
        assert!(PackRef::default().is_latest());
        let res: PullPrepared = serde_json::from_str(
            r#"{"ok":true,"download":{"url":"https://x","headers":{"Accept":"application/zip"},"expires_at":"2024-01-15T13:00:00Z"},
                "pack":{"digest":"sha256:abc","size_bytes":1048576,"stream":"acme/evidence","release_id":"rel_123","version":"v1.2.3","created_at":"2024-01-15T12:00:00Z"},
                "finalize_token":"tok"}"#,
        )
        .expect("pull.prepare result");
        assert_eq!(res.download.method, None);
        assert_eq!(res.pack.version.as_deref(), Some("v1.2.3"));
        assert_eq!(res.pack.name, None);
    }

    #[test]
    fn finalize_reads_either_digest_name() {
        let f: PullFinalize =
            serde_json::from_str(r#"{"finalize_token":"t","pack_digest":"sha256:1"}"#)
                .expect("spec spelling");
        assert_eq!(f.confirmed_digest(), Some("sha256:1"));
        let v = serde_json::to_value(PullFinalize::new(
            "r".into(),
            Target::default(),
            "sha256:2".into(),
            "t".into(),
            true,
        ))
        .expect("json");
        assert_eq!(
            (v["digest"].as_str(), v["pack_digest"].as_str()),
            (Some("sha256:2"), Some("sha256:2"))
        );
    }
}
