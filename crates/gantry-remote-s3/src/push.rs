//! `push.prepare` and `push.finalize`: a presigned PUT into staging, then the checks (size,
//! and the sha256 against `pack.file_digest` when the pusher sent one) and a create-only
//! release record. `pack.digest`, the pack's identity, is recorded, never compared with
//! the bytes (it is a digest of the pack's artifact list, not of the file).

use std::time::Duration;

use gantry_remote_protocol::{
    Failure, Handled, PushFinalize, PushFinalized, PushPrepare, PushPrepared, Release, Target,
    Upload,
};
use serde::{Deserialize, Serialize};

use crate::clock::{now_rfc3339, rfc3339_after};
use crate::store::{
    digest_hex, from_json, now_nanos, pack_key, record_key, safe_segment, stem, to_json,
    DigestIndex, Record, Store,
};

/// How long the presigned PUT URL of push.prepare works (S3 checks it when a request starts).
const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);

/// What push.prepare promised, kept at `staging/<token>.json` until push.finalize.
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
}

impl Store {
    pub(crate) async fn push_prepare(&self, req: PushPrepare) -> Handled<PushPrepared> {
        let hex = digest_hex(&req.pack.digest)?;
        if let Some(f) = &req.pack.file_digest {
            digest_hex(f)?;
        }
        let name = safe_segment(
            "release name",
            req.release.name.as_deref().unwrap_or(&stem(&req.pack.path)),
        )?;
        let version = match &req.release.version {
            Some(v) => safe_segment("release version", v)?,
            None => {
                let next = self
                    .versions(&name)
                    .await?
                    .iter()
                    .filter_map(|v| v.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0)
                    + 1;
                next.to_string()
            }
        };
        if self.exists(&record_key(&name, &version)).await? {
            return Err(Failure::conflict(format!(
                "release {name}@{version} already exists"
            )));
        }
        let token = format!("{}-{:x}-{}", &hex[..16], now_nanos(), std::process::id());
        let staged = Staged {
            name,
            version,
            digest: req.pack.digest,
            file_digest: req.pack.file_digest,
            size_bytes: req.pack.size_bytes,
            labels: req.release.labels,
            notes: req.release.notes,
            target: req.target,
        };
        self.bucket
            .put(&format!("staging/{token}.json"), to_json(&staged)?, false)
            .await?;
        let url = self
            .bucket
            .presign(
                http::Method::PUT,
                &format!("staging/{token}.pack"),
                UPLOAD_URL_TTL,
            )
            .await?;
        // The URL is signed for the host header and an unsigned payload: the caller's own
        // Content-Length is all S3 needs, so no headers.
        let mut upload = Upload::new("PUT", url);
        upload.expires_at = Some(rfc3339_after(UPLOAD_URL_TTL));
        Ok(PushPrepared::new(upload, token))
    }

    pub(crate) async fn push_finalize(&self, req: PushFinalize) -> Handled<PushFinalized> {
        let token = safe_segment("finalize token", &req.finalize_token)?;
        let meta_key = format!("staging/{token}.json");
        let upload_key = format!("staging/{token}.pack");
        let checking_key = format!("staging/{token}.checking");
        let meta = match self.bucket.get_bytes(&meta_key).await {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => {
                return Err(Failure::not_found(format!(
                    "no upload in progress for token `{token}`"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let staged: Staged = from_json(&meta_key, &meta)?;
        if req.pack.digest != staged.digest {
            return Err(Failure::invalid(format!(
                "push.finalize names pack {}, push.prepare announced {}",
                req.pack.digest, staged.digest
            )));
        }
        let head = match self.bucket.head(&upload_key).await {
            Ok(head) => head,
            Err(e) if e.is_not_found() => {
                return Err(Failure::invalid("the pack was not uploaded"))
            }
            Err(e) => return Err(e.into()),
        };
        if head.size != staged.size_bytes {
            return Err(Failure::invalid(format!(
                "the upload is {} bytes, push.prepare announced {}",
                head.size, staged.size_bytes
            )));
        }
        // Move the upload out of the presigned URL's reach before hashing it, so the bytes
        // checked are the bytes released.
        self.bucket.rename(&upload_key, &checking_key).await?;
        let (file_digest, size) = self.bucket.sha256(&checking_key).await?;
        let wrong_digest = staged
            .file_digest
            .as_ref()
            .is_some_and(|w| *w != file_digest);
        if wrong_digest || size != staged.size_bytes {
            let _ = self.bucket.delete(&checking_key).await;
            return Err(Failure::invalid(format!(
                "the upload is {size} bytes {file_digest}, push.prepare announced {} bytes {}",
                staged.size_bytes,
                staged.file_digest.as_deref().unwrap_or("(no file_digest)")
            )));
        }
        let (name, version) = (staged.name, staged.version);
        let mut release = Release::new(format!("{name}/{version}"), staged.digest.clone());
        release.created_at = Some(now_rfc3339());
        release.canonical_ref = Some(format!("s3/{name}@{}", staged.digest));
        release.version = Some(version.clone());
        release.name = Some(name.clone());
        let record = Record {
            release: release.clone(),
            name: name.clone(),
            version: version.clone(),
            file_digest: file_digest.clone(),
            size_bytes: size,
            labels: staged.labels,
            notes: staged.notes,
            target: staged.target,
            created_nanos: now_nanos(),
        };
        // The create-only record is the lock: two finalizes of one version cannot both win.
        let record_key = record_key(&name, &version);
        if let Err(e) = self.bucket.put(&record_key, to_json(&record)?, true).await {
            let _ = self.bucket.delete(&checking_key).await;
            if e.is_already_exists() {
                return Err(Failure::conflict(format!(
                    "release {name}@{version} already exists"
                )));
            }
            return Err(e.into());
        }
        if let Err(e) = self
            .bucket
            .rename(&checking_key, &pack_key(&name, &version))
            .await
        {
            let _ = self.bucket.delete(&record_key).await;
            return Err(e.into());
        }
        let index = to_json(&DigestIndex {
            name: name.clone(),
            version: version.clone(),
        })?;
        for digest in [&release.pack_digest, &file_digest] {
            self.bucket
                .put(
                    &format!("digests/{}.json", digest_hex(digest)?),
                    index.clone(),
                    false,
                )
                .await?;
        }
        let _ = self.bucket.delete(&meta_key).await;
        Ok(PushFinalized::new(release))
    }
}
