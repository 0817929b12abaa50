//! `pull.prepare` and `pull.finalize`: resolve a reference (pack or file digest through
//! the index, release id, version or latest, narrowed by gantry's `name`), hand out a
//! presigned GET with the file's sha256 as `pack.digest` (what epack's CLI checks the
//! download against) and the release's name and version (what gantry checks the
//! resolution against), and confirm only tokens pull.prepare issued.

use std::time::Duration;

use gantry_remote_protocol::{
    Download, Failure, Handled, PackMetadata, PackRef, PullFinalize, PullFinalized, PullPrepare,
    PullPrepared,
};
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339_after;
use crate::store::{
    digest_hex, now_nanos, pack_key, record_key, safe_segment, to_json, DigestIndex, Record, Store,
};

/// How long the presigned GET URL of pull.prepare works.
const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);

/// A download pull.prepare handed out (`pulls/<token>.json`).
#[derive(Serialize, Deserialize)]
struct Issued {
    release_id: String,
    file_digest: String,
    pack_digest: String,
}

impl Store {
    async fn resolve(&self, r: &PackRef) -> Handled<Option<Record>> {
        if let Some(d) = &r.digest {
            let key = format!("digests/{}.json", digest_hex(d)?);
            let Some(index) = self.read::<DigestIndex>(&key).await? else {
                return Ok(None);
            };
            return Ok(self
                .read::<Record>(&record_key(&index.name, &index.version))
                .await?
                .filter(|rec| rec.release.pack_digest == *d || rec.file_digest == *d));
        }
        if let Some(id) = &r.release_id {
            let Some((name, version)) = id.split_once('/') else {
                return Ok(None);
            };
            let (name, version) = (
                safe_segment("release id", name)?,
                safe_segment("release id", version)?,
            );
            return self.read::<Record>(&record_key(&name, &version)).await;
        }
        let name = match &r.name {
            Some(n) => Some(safe_segment("release name", n)?),
            None => None,
        };
        let records = self.records(name.as_deref()).await?;
        let found = match &r.version {
            Some(v) => records.into_iter().rev().find(|rec| rec.version == *v),
            None => records.into_iter().next_back(),
        };
        Ok(found)
    }

    pub(crate) async fn pull_prepare(&self, req: PullPrepare) -> Handled<PullPrepared> {
        let Some(record) = self.resolve(&req.pack_ref).await? else {
            return Err(Failure::not_found(format!(
                "no release matches {}",
                serde_json::to_string(&req.pack_ref).unwrap_or_default()
            )));
        };
        let pack = pack_key(&record.name, &record.version);
        if !self.exists(&pack).await? {
            return Err(Failure::not_found(format!(
                "release {} has a record but no pack (its push.finalize is unfinished)",
                record.release.release_id
            )));
        }
        let token = format!("{:x}-{}", now_nanos(), std::process::id());
        let issued = Issued {
            release_id: record.release.release_id.clone(),
            file_digest: record.file_digest.clone(),
            pack_digest: record.release.pack_digest.clone(),
        };
        self.bucket
            .put(&format!("pulls/{token}.json"), to_json(&issued)?, true)
            .await?;
        let url = self
            .bucket
            .presign(http::Method::GET, &pack, DOWNLOAD_URL_TTL)
            .await?;
        let mut download = Download::get(url);
        download.expires_at = Some(rfc3339_after(DOWNLOAD_URL_TTL));
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
        meta.file_digest = Some(record.file_digest);
        Ok(PullPrepared::new(download, meta, token))
    }

    pub(crate) async fn pull_finalize(&self, req: PullFinalize) -> Handled<PullFinalized> {
        let token = safe_segment("finalize token", &req.finalize_token)?;
        let key = format!("pulls/{token}.json");
        let Some(issued) = self.read::<Issued>(&key).await? else {
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
        let _ = self.bucket.delete(&key).await;
        Ok(PullFinalized::confirmed())
    }
}
