//! `push.prepare` and `push.finalize`.
//!
//! `pack.digest` is the pack's identity (epack's artifact-list digest): recorded, never
//! compared with the bytes. What is checked is the file: its size, and its sha256 against
//! `pack.file_digest` when the pusher sent one. A pack whose bytes are already in a
//! release is not uploaded again (`upload.method: "skip"`).

use std::path::Path;

use gantry_remote_protocol::digest::is_sha256;
use gantry_remote_protocol::{
    Failure, Handled, PushFinalize, PushFinalized, PushPrepare, PushPrepared, Release, Target,
    Upload,
};
use serde::{Deserialize, Serialize};

use crate::store::{
    file_url, io, new_token, now_nanos, now_rfc3339, read_json, safe_segment, sha256_file,
    write_json, Record, Store,
};

/// What push.prepare promised, kept until push.finalize.
#[derive(Serialize, Deserialize)]
struct Staged {
    name: String,
    version: String,
    digest: String,
    file_digest: Option<String>,
    size_bytes: u64,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    target: Target,
    /// The release whose pack has these bytes already (the upload was skipped).
    existing: Option<(String, String)>,
}

impl Store {
    pub(crate) fn push_prepare(&self, req: PushPrepare) -> Handled<PushPrepared> {
        if !is_sha256(&req.pack.digest) {
            return Err(Failure::invalid(format!(
                "pack.digest `{}` is not sha256:<64 lowercase hex>",
                req.pack.digest
            )));
        }
        if let Some(f) = req.pack.file_digest.as_deref().filter(|f| !is_sha256(f)) {
            return Err(Failure::invalid(format!(
                "pack.file_digest `{f}` is not sha256:<64 lowercase hex>"
            )));
        }
        let stem = Path::new(&req.pack.path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| safe_segment("", s).is_ok())
            .unwrap_or_else(|| "pack".into());
        let name = safe_segment("release name", req.release.name.as_deref().unwrap_or(&stem))?;
        let version = match &req.release.version {
            Some(v) => safe_segment("release version", v)?,
            None => {
                let next = self
                    .versions(&name)
                    .iter()
                    .filter_map(|v| v.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0)
                    + 1;
                next.to_string()
            }
        };
        if self.release_dir(&name, &version).exists() {
            return Err(Failure::conflict(format!(
                "release {name}@{version} already exists"
            )));
        }
        let existing = match &req.pack.file_digest {
            Some(f) => self
                .records()?
                .into_iter()
                .rev()
                .find(|r| r.file_digest == *f && r.size_bytes == req.pack.size_bytes)
                .map(|r| (r.name, r.version)),
            None => None,
        };
        let token = new_token();
        let staging = self.root.join("staging");
        let upload = if existing.is_some() {
            Upload::skip()
        } else {
            // A directory that does not exist yet: the uploader creates it (as epack's
            // CLI and gantry do).
            Upload::new("PUT", file_url(&staging.join(&token).join("pack")))
        };
        let staged = Staged {
            name,
            version,
            digest: req.pack.digest,
            file_digest: req.pack.file_digest,
            size_bytes: req.pack.size_bytes,
            labels: req.release.labels,
            notes: req.release.notes,
            target: req.target,
            existing,
        };
        write_json(&staging.join(format!("{token}.json")), &staged)?;
        Ok(PushPrepared::new(upload, token))
    }

    pub(crate) fn push_finalize(&self, req: PushFinalize) -> Handled<PushFinalized> {
        let token = safe_segment("finalize token", &req.finalize_token)?;
        let staging = self.root.join("staging");
        let meta = staging.join(format!("{token}.json"));
        let upload_dir = staging.join(&token);
        let Some(staged) = read_json::<Staged>(&meta)? else {
            return Err(Failure::not_found(format!(
                "no upload in progress for token `{token}`"
            )));
        };
        if req.pack.digest != staged.digest {
            return Err(Failure::invalid(format!(
                "push.finalize names pack {}, push.prepare announced {}",
                req.pack.digest, staged.digest
            )));
        }
        let source = match &staged.existing {
            Some((name, version)) => self.release_dir(name, version).join("pack"),
            None => upload_dir.join("pack"),
        };
        let (file_digest, size) = sha256_file(&source).map_err(|_| {
            Failure::invalid(format!(
                "the pack was not uploaded (nothing at {})",
                source.display()
            ))
        })?;
        if size != staged.size_bytes {
            return Err(Failure::invalid(format!(
                "the upload is {size} bytes, push.prepare announced {}",
                staged.size_bytes
            )));
        }
        if let Some(want) = staged.file_digest.as_ref().filter(|w| **w != file_digest) {
            return Err(Failure::invalid(format!(
                "the upload hashes to {file_digest}, push.prepare announced file_digest {want}"
            )));
        }
        let dir = self.release_dir(&staged.name, &staged.version);
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        // create_dir (not _all) is the lock: two finalizes of one version cannot both win.
        std::fs::create_dir(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Failure::conflict(format!(
                "release {}@{} already exists",
                staged.name, staged.version
            )),
            _ => io(&dir, e),
        })?;
        let target = dir.join("pack");
        if staged.existing.is_some() {
            std::fs::hard_link(&source, &target)
                .or_else(|_| std::fs::copy(&source, &target).map(|_| ()))
                .map_err(|e| io(&target, e))?;
        } else {
            std::fs::rename(&source, &target).map_err(|e| io(&source, e))?;
        }
        let mut release = Release::new(
            format!("{}/{}", staged.name, staged.version),
            staged.digest.clone(),
        );
        release.created_at = Some(now_rfc3339());
        release.canonical_ref = Some(format!("fs/{}@{}", staged.name, staged.digest));
        release.version = Some(staged.version.clone());
        release.name = Some(staged.name.clone());
        let record = Record {
            release: release.clone(),
            name: staged.name,
            version: staged.version,
            file_digest,
            size_bytes: size,
            labels: staged.labels,
            notes: staged.notes,
            target: staged.target,
            created_nanos: now_nanos(),
        };
        write_json(&dir.join("release.json"), &record)?;
        let _ = std::fs::remove_file(&meta);
        let _ = std::fs::remove_dir_all(&upload_dir);
        Ok(PushFinalized::new(release))
    }
}
