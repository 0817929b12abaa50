//! `pull.prepare` and `pull.finalize`.
//!
//! A reference resolves by pack digest (or file digest), release id, version or latest;
//! `name` (gantry's addition) narrows version and latest. The answer's `pack.digest` is
//! the sha256 of the file, because epack's CLI compares the download with it; the pack
//! digest travels as `pack.pack_digest`. Every answer carries the resolved name and
//! version so the caller can check them. pull.finalize confirms only tokens pull.prepare
//! issued.

use gantry_remote_protocol::{
    Download, Failure, Handled, PackMetadata, PackRef, PullFinalize, PullFinalized, PullPrepare,
    PullPrepared,
};
use serde::{Deserialize, Serialize};

use crate::store::{file_url, new_token, read_json, safe_segment, write_json, Record, Store};

/// A download pull.prepare handed out, until pull.finalize confirms it.
#[derive(Serialize, Deserialize)]
struct Issued {
    release_id: String,
    file_digest: String,
    pack_digest: String,
}

fn describe(r: &PackRef) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &r.digest {
        parts.push(format!("digest {d}"));
    }
    if let Some(id) = &r.release_id {
        parts.push(format!("release {id}"));
    }
    if let Some(v) = &r.version {
        parts.push(format!("version {v}"));
    }
    if let Some(n) = &r.name {
        parts.push(format!("name {n}"));
    }
    if r.is_latest() {
        parts.push("latest".into());
    }
    parts.join(", ")
}

impl Store {
    fn resolve(&self, r: &PackRef) -> Handled<Option<Record>> {
        let records = self.records()?;
        let named = |rec: &&Record| r.name.as_ref().is_none_or(|n| *n == rec.name);
        let found = if let Some(d) = &r.digest {
            records
                .iter()
                .rev()
                .find(|rec| rec.release.pack_digest == *d || rec.file_digest == *d)
        } else if let Some(id) = &r.release_id {
            records.iter().find(|rec| rec.release.release_id == *id)
        } else if let Some(v) = &r.version {
            records
                .iter()
                .rev()
                .filter(named)
                .find(|rec| rec.version == *v)
        } else {
            records.iter().rev().find(named)
        };
        Ok(found.cloned())
    }

    pub(crate) fn pull_prepare(&self, req: PullPrepare) -> Handled<PullPrepared> {
        let r = &req.pack_ref;
        let Some(record) = self.resolve(r)? else {
            return Err(Failure::not_found(format!(
                "no release matches {}",
                describe(r)
            )));
        };
        let pack = self.release_dir(&record.name, &record.version).join("pack");
        if !pack.is_file() {
            return Err(Failure::not_found(format!(
                "release {} has a record but no pack",
                record.release.release_id
            )));
        }
        let token = new_token();
        write_json(
            &self.root.join("pulls").join(format!("{token}.json")),
            &Issued {
                release_id: record.release.release_id.clone(),
                file_digest: record.file_digest.clone(),
                pack_digest: record.release.pack_digest.clone(),
            },
        )?;
        let mut meta = PackMetadata::default();
        meta.digest = record.file_digest.clone();
        meta.size_bytes = Some(record.size_bytes);
        meta.stream = Some(record.name.clone());
        meta.created_at = record.release.created_at.clone();
        meta.release_id = Some(record.release.release_id.clone());
        meta.version = Some(record.version.clone());
        meta.labels = record.labels.clone();
        meta.name = Some(record.name.clone());
        meta.pack_digest = Some(record.release.pack_digest.clone());
        meta.file_digest = Some(record.file_digest.clone());
        Ok(PullPrepared::new(
            Download::get(file_url(&pack)),
            meta,
            token,
        ))
    }

    pub(crate) fn pull_finalize(&self, req: PullFinalize) -> Handled<PullFinalized> {
        let token = safe_segment("finalize token", &req.finalize_token)?;
        let path = self.root.join("pulls").join(format!("{token}.json"));
        let Some(issued) = read_json::<Issued>(&path)? else {
            return Err(Failure::not_found(format!(
                "pull.prepare issued no token `{token}` (or it was confirmed already)"
            )));
        };
        if let Some(d) = req.confirmed_digest() {
            if d != issued.file_digest && d != issued.pack_digest {
                return Err(Failure::invalid(format!(
                    "token `{token}` was issued for {} of release {}, not {d}",
                    issued.file_digest, issued.release_id
                )));
            }
        }
        let _ = std::fs::remove_file(&path);
        Ok(PullFinalized::confirmed())
    }
}
