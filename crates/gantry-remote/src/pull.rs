//! `gantry pull`: resolve a reference through the adapter, check that what it resolved is
//! what was asked for, download, verify the bytes, rename into place, confirm.
//!
//! ```text
//! pull.prepare -> resolved == asked? -> download to a temp file + sha256
//!   -> bytes match the announced digests (and the asked digest)? -> rename -> pull.finalize
//! ```
//!
//! The resolution check is what keeps a remote that ignores a field from handing back the
//! wrong release: epack adapters have no release names, so asked for `app-b` they answer
//! with whatever is latest. gantry compares the answer's `pack` with the request (name,
//! version, release id, digest) and refuses before downloading anything.

use std::path::{Path, PathBuf};

use crate::adapter::Adapter;
use crate::config::Dialect;
use crate::error::RemoteError;
use crate::pack::{single_file_digest, PackFormat};
use crate::protocol::digest::is_sha256;
use crate::protocol::{command, PackMetadata, PackRef, PullFinalize, PullPrepare, Target};
use crate::transfer::{self, TransferContext};

/// What to pull, as the user named it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PullRef {
    /// A pack digest (`sha256:<hex>`), from `sha256:…` or a canonical ref.
    pub digest: Option<String>,
    /// A release id.
    pub release_id: Option<String>,
    /// A version.
    pub version: Option<String>,
    /// A release name (gantry's).
    pub name: Option<String>,
    /// The latest release (of `name`, when given).
    pub latest: bool,
    /// The location part of a canonical ref (`locktivity.com/acme/prod`): informational.
    pub location: Option<String>,
}

impl PullRef {
    /// Parses a REF: `sha256:<hex>` (a pack digest), a canonical ref in epack's form
    /// `<location>@sha256:<hex>` (its digest), `NAME@VERSION`, or `NAME` (the latest
    /// release of NAME).
    pub fn parse(raw: &str) -> Result<PullRef, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("the reference is empty".into());
        }
        if raw.starts_with("sha256:") {
            return Ok(PullRef::digest(checked_digest(raw)?));
        }
        match raw.rsplit_once('@') {
            Some((location, digest)) if digest.starts_with("sha256:") => Ok(PullRef {
                location: Some(location.to_string()).filter(|l| !l.is_empty()),
                ..PullRef::digest(checked_digest(digest)?)
            }),
            Some((name, version)) => {
                if name.is_empty() || version.is_empty() {
                    return Err(format!(
                        "`{raw}` is not NAME@VERSION (both parts are needed)"
                    ));
                }
                Ok(PullRef {
                    name: Some(name.to_string()),
                    version: Some(version.to_string()),
                    ..PullRef::default()
                })
            }
            None => Ok(PullRef {
                name: Some(raw.to_string()),
                latest: true,
                ..PullRef::default()
            }),
        }
    }

    /// By pack digest.
    pub fn digest(digest: impl Into<String>) -> Self {
        PullRef {
            digest: Some(digest.into()),
            ..PullRef::default()
        }
    }

    /// By release id.
    pub fn release_id(id: impl Into<String>) -> Self {
        PullRef {
            release_id: Some(id.into()),
            ..PullRef::default()
        }
    }

    /// By version.
    pub fn version(version: impl Into<String>) -> Self {
        PullRef {
            version: Some(version.into()),
            ..PullRef::default()
        }
    }

    /// The latest release.
    pub fn latest() -> Self {
        PullRef {
            latest: true,
            ..PullRef::default()
        }
    }

    /// The same reference narrowed to release `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The `ref` object of `pull.prepare`: epack's one field (latest when nothing else is
    /// set), plus `name` in the gantry dialect.
    pub fn wire(&self, dialect: Dialect) -> PackRef {
        let mut r = if let Some(d) = &self.digest {
            PackRef::digest(d.clone())
        } else if let Some(id) = &self.release_id {
            PackRef::release_id(id.clone())
        } else if let Some(v) = &self.version {
            PackRef::version(v.clone())
        } else {
            PackRef::latest()
        };
        if dialect.sends_gantry_fields() {
            r.name = self.name.clone();
        }
        r
    }

    /// What was asked for, for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = &self.name {
            parts.push(format!("name `{n}`"));
        }
        if let Some(v) = &self.version {
            parts.push(format!("version `{v}`"));
        }
        if let Some(id) = &self.release_id {
            parts.push(format!("release `{id}`"));
        }
        if let Some(d) = &self.digest {
            parts.push(format!("pack {d}"));
        }
        if parts.is_empty() || (self.latest && self.version.is_none()) {
            parts.push("the latest release".into());
        }
        parts.join(", ")
    }
}

fn checked_digest(raw: &str) -> Result<String, String> {
    let d = raw.to_ascii_lowercase();
    if is_sha256(&d) {
        Ok(d)
    } else {
        Err(format!(
            "`{raw}` is not `sha256:` followed by 64 hex digits"
        ))
    }
}

/// Checks that `pack` (what `pull.prepare` resolved) is what `asked` names; returns why
/// not.
pub fn check_resolved(asked: &PullRef, pack: &PackMetadata) -> Result<(), String> {
    let say = |field: &str, got: Option<&String>, what: &str| match got {
        Some(got) => format!("the adapter resolved {what} `{got}`"),
        None => format!(
            "the adapter did not say which {what} it resolved (`pack.{field}` is missing), so \
             gantry cannot check it"
        ),
    };
    if let Some(d) = &asked.digest {
        let known = [
            Some(&pack.digest),
            pack.pack_digest.as_ref(),
            pack.file_digest.as_ref(),
        ];
        if !known.iter().flatten().any(|k| *k == d) {
            return Err(format!("the adapter resolved pack `{}`", pack.digest));
        }
    }
    if let Some(id) = &asked.release_id {
        if pack.release_id.as_ref() != Some(id) {
            return Err(say("release_id", pack.release_id.as_ref(), "release"));
        }
    }
    if let Some(v) = &asked.version {
        if pack.version.as_ref() != Some(v) {
            return Err(say("version", pack.version.as_ref(), "version"));
        }
    }
    if let Some(n) = &asked.name {
        match &pack.name {
            Some(got) if got == n => {}
            Some(got) => return Err(format!("the adapter resolved name `{got}`")),
            None => {
                return Err(
                    "the adapter did not report a release name (`pack.name`, a gantry addition: \
                     epack adapters have none), so gantry cannot check it; pull by version, \
                     release id, digest, canonical ref or latest instead"
                        .into(),
                )
            }
        }
    }
    Ok(())
}

/// What a pull produced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Pulled {
    /// Where the pack is now.
    pub path: PathBuf,
    /// What the adapter resolved.
    pub pack: PackMetadata,
    /// `sha256:<hex>` of the bytes.
    pub file_digest: String,
    /// The bytes' size.
    pub size_bytes: u64,
    /// Why `pull.finalize` failed, when it did: the pack is in place and verified, the
    /// remote just did not record the download (epack's CLI warns about it too).
    pub finalize_warning: Option<String>,
}

/// Pulls `asked` from `adapter` into `output`: resolved, checked, verified, atomic.
pub async fn pull(
    adapter: &Adapter,
    asked: &PullRef,
    target: &Target,
    output: &Path,
    format: &dyn PackFormat,
) -> Result<Pulled, RemoteError> {
    let caps = adapter.capabilities().await?;
    if !caps.features.pull {
        return Err(RemoteError::Unsupported {
            adapter: adapter.name().to_string(),
            feature: "pull (features.pull)".into(),
        });
    }
    let dialect = adapter.dialect();
    let prepared = adapter
        .pull_prepare(&PullPrepare::new(
            adapter.name().to_string(),
            target.clone(),
            asked.wire(dialect),
        ))
        .await?;
    let pack = prepared.pack;
    let mismatch = |reason: String| RemoteError::Mismatch {
        adapter: adapter.name().to_string(),
        asked: asked.describe(),
        reason,
    };
    check_resolved(asked, &pack).map_err(mismatch)?;
    if pack.digest.is_empty() {
        return Err(adapter.protocol(
            command::PULL_PREPARE,
            "the answer has no `pack.digest` to check the download against".into(),
        ));
    }
    let cx = TransferContext {
        adapter: adapter.name(),
        command: command::PULL_PREPARE,
        file_root: adapter.config().file_root.as_deref(),
    };
    let got = transfer::download(cx, &prepared.download, pack.size_bytes, output).await?;
    verify(adapter, asked, &pack, &got, format)?;
    got.file
        .persist(output)
        .map_err(|e| RemoteError::io(output, e.error))?;
    let finalize = PullFinalize::new(
        adapter.name().to_string(),
        target.clone(),
        pack.digest.clone(),
        prepared.finalize_token,
        dialect.sends_gantry_fields(),
    );
    let finalize_warning = match adapter.pull_finalize(&finalize).await {
        Ok(done) if done.confirmed == Some(false) => {
            Some("pull.finalize answered `confirmed: false`".to_string())
        }
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    Ok(Pulled {
        path: output.to_path_buf(),
        pack,
        file_digest: got.file_digest,
        size_bytes: got.size_bytes,
        finalize_warning,
    })
}

/// Checks the downloaded bytes against what the adapter announced and what was asked.
fn verify(
    adapter: &Adapter,
    asked: &PullRef,
    pack: &PackMetadata,
    got: &transfer::Downloaded,
    format: &dyn PackFormat,
) -> Result<(), RemoteError> {
    let fail = |reason: String| RemoteError::Transfer {
        adapter: adapter.name().to_string(),
        command: command::PULL_PREPARE.into(),
        url: "the download".into(),
        reason: format!("{reason}; nothing was written"),
    };
    if let Some(size) = pack.size_bytes {
        if size != got.size_bytes {
            return Err(fail(format!(
                "got {} bytes, the adapter announced {size}",
                got.size_bytes
            )));
        }
    }
    let file = &got.file_digest;
    if adapter.dialect() == Dialect::Epack && pack.digest != *file {
        // What epack's CLI checks, and all it checks.
        return Err(fail(format!(
            "the bytes hash to {file}, the adapter announced {} (epack compares pack.digest with \
             the sha256 of the downloaded file)",
            pack.digest
        )));
    }
    if let Some(announced) = &pack.file_digest {
        if announced != file {
            return Err(fail(format!(
                "the bytes hash to {file}, the adapter announced file_digest {announced}"
            )));
        }
    }
    let single = single_file_digest(file);
    let mut of_bytes = vec![file.clone(), single];
    let claims: Vec<&String> = [
        Some(&pack.digest),
        pack.pack_digest.as_ref(),
        asked.digest.as_ref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if claims.iter().any(|c| !of_bytes.contains(c)) {
        match format.pack_digest(&got.file) {
            Ok(Some(d)) => of_bytes.push(d),
            Ok(None) => {}
            Err(reason) => return Err(fail(format!("the pulled pack is damaged: {reason}"))),
        }
    }
    if let Some(bad) = claims.iter().find(|c| !of_bytes.contains(c)) {
        return Err(fail(format!(
            "the bytes hash to {file} (pack digest {}), which does not match {bad}",
            of_bytes.last().map(String::as_str).unwrap_or_default()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn references_parse() {
        assert_eq!(PullRef::parse(D), Ok(PullRef::digest(D)));
        let canonical =
            PullRef::parse(&format!("locktivity.com/acme/prod@{D}")).expect("canonical");
        assert_eq!(canonical.digest.as_deref(), Some(D));
        assert_eq!(
            canonical.location.as_deref(),
            Some("locktivity.com/acme/prod")
        );
        let nv = PullRef::parse("app@3").expect("name@version");
        assert_eq!(
            (nv.name.as_deref(), nv.version.as_deref()),
            (Some("app"), Some("3"))
        );
        let latest = PullRef::parse("app").expect("name");
        assert!(latest.latest && latest.name.as_deref() == Some("app"));
        assert!(PullRef::parse("app@").is_err());
        assert!(PullRef::parse("x@sha256:abc").is_err());
        assert!(PullRef::parse(" ").is_err());
    }

    #[test]
    fn the_wire_ref_carries_one_epack_field() {
        let r = PullRef::parse("app@3").expect("ref");
        let wire = serde_json::to_value(r.wire(Dialect::Gantry)).expect("json");
        assert_eq!(wire, serde_json::json!({"version": "3", "name": "app"}));
        let wire = serde_json::to_value(r.wire(Dialect::Epack)).expect("json");
        assert_eq!(wire, serde_json::json!({"version": "3"}));
        let wire = serde_json::to_value(PullRef::default().wire(Dialect::Epack)).expect("json");
        assert_eq!(wire, serde_json::json!({"latest": true}));
    }

    fn pack(name: Option<&str>, version: Option<&str>) -> PackMetadata {
        let mut p = PackMetadata::default();
        p.digest = D.into();
        p.name = name.map(str::to_string);
        p.version = version.map(str::to_string);
        p
    }

    #[test]
    fn a_different_release_is_refused() {
        let asked = PullRef::parse("app-b").expect("ref");
        let err = check_resolved(&asked, &pack(Some("app-a"), None)).expect_err("other name");
        assert!(err.contains("`app-a`"), "{err}");
        let err = check_resolved(&asked, &pack(None, Some("1"))).expect_err("no name");
        assert!(err.contains("epack adapters have none"), "{err}");
        assert!(check_resolved(&asked, &pack(Some("app-b"), None)).is_ok());
        let v = PullRef::version("2");
        assert!(check_resolved(&v, &pack(None, Some("1"))).is_err());
        assert!(check_resolved(&v, &pack(None, None)).is_err());
        assert!(check_resolved(&v, &pack(None, Some("2"))).is_ok());
        let other = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        assert!(check_resolved(&PullRef::digest(other), &pack(None, None)).is_err());
        assert!(check_resolved(&PullRef::digest(D), &pack(None, None)).is_ok());
        assert!(check_resolved(&PullRef::latest(), &pack(None, None)).is_ok());
    }
}
