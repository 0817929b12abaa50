//! The S3 remote: staging, releases and run ledgers under the bucket's prefix, one
//! handler per protocol command (the same behaviour as `gantry-remote-fs`'s store).

use std::path::Path;
use std::time::Duration;

use gantry_remote::protocol::{
    command, Download, ErrorCode, Identity, PullFinalize, PullPrepare, PullPrepared, PushFinalize,
    PushFinalized, PushPrepare, PushPrepared, Release, RunSyncItem, RunsSync, RunsSynced, Upload,
    WhoAmI,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bucket::{Bucket, BucketError};
use crate::clock::{now_rfc3339, rfc3339_after};
use crate::config::S3Config;
use gantry_remote::serve::Handled;

type Failure = (ErrorCode, String);

/// How long the presigned PUT URL of push.prepare works (S3 checks it when a request starts).
const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// How long the presigned GET URL of pull.prepare works.
const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);

impl From<BucketError> for (ErrorCode, String) {
    fn from(e: BucketError) -> Self {
        (e.code(), e.to_string())
    }
}

/// The remote: a bucket and the settings it was opened with.
pub(crate) struct Store {
    bucket: Bucket,
    config: S3Config,
}

/// What push.prepare promised, kept at `staging/<token>.json` until push.finalize.
#[derive(Serialize, Deserialize)]
struct Staged {
    name: String,
    version: String,
    digest: String,
    size_bytes: u64,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    notes: Option<String>,
}

/// The metadata object of a release (`releases/<name>/<version>.json`).
#[derive(Serialize, Deserialize)]
struct ReleaseRecord {
    release: Release,
    name: String,
    version: String,
    size_bytes: u64,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    notes: Option<String>,
}

/// Where a digest was released (`digests/<hex>.json`), for `sha256:` refs.
#[derive(Serialize, Deserialize)]
struct DigestIndex {
    name: String,
    version: String,
}

fn body<T: DeserializeOwned>(request: &serde_json::Value) -> Result<T, Failure> {
    serde_json::from_value(request.clone())
        .map_err(|e| (ErrorCode::InvalidRequest, format!("bad request: {e}")))
}

fn to_value<T: Serialize>(value: &T) -> Handled {
    serde_json::to_value(value).map_err(|e| (ErrorCode::ServerError, e.to_string()))
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec_pretty(value).map_err(|e| (ErrorCode::ServerError, e.to_string()))
}

fn from_json<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(bytes).map_err(|e| (ErrorCode::ServerError, format!("{key}: {e}")))
}

/// Names and versions become key segments: only `[A-Za-z0-9._-]`, no leading dot.
fn safe_segment(what: &str, s: &str) -> Result<String, Failure> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err((
            ErrorCode::InvalidRequest,
            format!("{what} `{s}` must be 1-128 of [A-Za-z0-9._-] and not start with `.`"),
        ))
    }
}

/// The hex of a `sha256:<64 hex>` digest, lower-cased.
fn digest_hex(digest: &str) -> Result<String, Failure> {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err((
            ErrorCode::InvalidRequest,
            format!("digest `{digest}` is not sha256:<64 hex>"),
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

fn record_key(name: &str, version: &str) -> String {
    format!("releases/{name}/{version}.json")
}

fn pack_key(name: &str, version: &str) -> String {
    format!("releases/{name}/{version}.pack")
}

/// Opens the bucket the environment names and runs the handler of `cmd`.
pub(crate) async fn serve(cmd: &str, request: &serde_json::Value) -> Handled {
    let config = S3Config::from_env().map_err(|e| {
        let code = if e.is_credentials() {
            ErrorCode::AuthRequired
        } else {
            ErrorCode::InvalidRequest
        };
        (code, e.to_string())
    })?;
    let store = Store {
        bucket: Bucket::new(&config)?,
        config,
    };
    match cmd {
        command::PUSH_PREPARE => store.push_prepare(request).await,
        command::PUSH_FINALIZE => store.push_finalize(request).await,
        command::PULL_PREPARE => store.pull_prepare(request).await,
        command::PULL_FINALIZE => store.pull_finalize(request),
        command::RUNS_SYNC => store.runs_sync(request).await,
        command::AUTH_WHOAMI => store.whoami().await,
        other => Err((
            ErrorCode::InvalidRequest,
            format!("unknown or unsupported command `{other}`"),
        )),
    }
}

impl Store {
    /// Versions of release `name`, oldest first (numeric versions in numeric order).
    async fn versions(&self, name: &str) -> Result<Vec<String>, Failure> {
        let mut v: Vec<String> = self
            .bucket
            .list_names(&format!("releases/{name}"))
            .await?
            .into_iter()
            .filter_map(|f| f.strip_suffix(".json").map(str::to_string))
            .collect();
        v.sort_by_key(|s| (s.parse::<u64>().unwrap_or(u64::MAX), s.clone()));
        Ok(v)
    }

    async fn exists(&self, key: &str) -> Result<bool, Failure> {
        match self.bucket.head(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn push_prepare(&self, request: &serde_json::Value) -> Handled {
        let req: PushPrepare = body(request)?;
        let hex = digest_hex(&req.pack.digest)?;
        let stem = Path::new(&req.pack.path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pack".into());
        let name = safe_segment("release name", req.release.name.as_deref().unwrap_or(&stem))?;
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
            return Err((
                ErrorCode::Conflict,
                format!("release {name}@{version} already exists"),
            ));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let token = format!("{}-{nanos:x}-{}", &hex[..16], std::process::id());
        let staged = Staged {
            name,
            version,
            digest: format!("sha256:{hex}"),
            size_bytes: req.pack.size_bytes,
            labels: req.release.labels,
            notes: req.release.notes,
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
        to_value(&PushPrepared {
            upload: Upload {
                method: "PUT".into(),
                url,
                // The URL is signed for the host header and an unsigned payload: gantry's
                // own Content-Length is all S3 needs.
                headers: Default::default(),
                expires_at: Some(rfc3339_after(UPLOAD_URL_TTL)),
            },
            finalize_token: token,
        })
    }

    pub(crate) async fn push_finalize(&self, request: &serde_json::Value) -> Handled {
        let req: PushFinalize = body(request)?;
        let token = safe_segment("finalize token", &req.finalize_token)?;
        let meta_key = format!("staging/{token}.json");
        let upload_key = format!("staging/{token}.pack");
        let checking_key = format!("staging/{token}.checking");
        let meta = match self.bucket.get_bytes(&meta_key).await {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => {
                return Err((
                    ErrorCode::NotFound,
                    format!("no upload in progress for token `{token}`"),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let staged: Staged = from_json(&meta_key, &meta)?;
        let head = match self.bucket.head(&upload_key).await {
            Ok(head) => head,
            Err(e) if e.is_not_found() => {
                return Err((
                    ErrorCode::InvalidRequest,
                    "the pack was not uploaded".to_string(),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        if head.size != staged.size_bytes {
            return Err((
                ErrorCode::InvalidRequest,
                format!(
                    "the upload is {} bytes, push.prepare announced {}",
                    head.size, staged.size_bytes
                ),
            ));
        }
        // Move the upload out of the presigned URL's reach before hashing it, so the bytes
        // checked are the bytes released.
        self.bucket.rename(&upload_key, &checking_key).await?;
        let (digest, size) = self.bucket.sha256(&checking_key).await?;
        if digest != staged.digest || size != staged.size_bytes {
            let _ = self.bucket.delete(&checking_key).await;
            return Err((
                ErrorCode::InvalidRequest,
                format!(
                    "the upload is {size} bytes {digest}, push.prepare announced {} bytes {}",
                    staged.size_bytes, staged.digest
                ),
            ));
        }
        let (name, version) = (staged.name, staged.version);
        let release = Release {
            release_id: format!("{name}/{version}"),
            pack_digest: digest,
            created_at: now_rfc3339(),
            canonical_ref: format!("{name}@{version}"),
        };
        let record = ReleaseRecord {
            release: release.clone(),
            name: name.clone(),
            version: version.clone(),
            size_bytes: size,
            labels: staged.labels,
            notes: staged.notes,
        };
        // The create-only record is the lock: two finalizes of one version cannot both win.
        let record_key = record_key(&name, &version);
        if let Err(e) = self.bucket.put(&record_key, to_json(&record)?, true).await {
            if e.is_already_exists() {
                let _ = self.bucket.delete(&checking_key).await;
                return Err((
                    ErrorCode::Conflict,
                    format!("release {name}@{version} already exists"),
                ));
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
        let hex = digest_hex(&release.pack_digest)?;
        let index = DigestIndex {
            name: name.clone(),
            version: version.clone(),
        };
        self.bucket
            .put(&format!("digests/{hex}.json"), to_json(&index)?, false)
            .await?;
        let _ = self.bucket.delete(&meta_key).await;
        to_value(&PushFinalized {
            release,
            links: Default::default(),
        })
    }

    async fn read_record(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<ReleaseRecord>, Failure> {
        let key = record_key(name, version);
        match self.bucket.get_bytes(&key).await {
            Ok(bytes) => from_json(&key, &bytes).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn pull_prepare(&self, request: &serde_json::Value) -> Handled {
        let req: PullPrepare = body(request)?;
        let r = &req.pack_ref;
        let record = if let Some(digest) = &r.digest {
            let key = format!("digests/{}.json", digest_hex(digest)?);
            match self.bucket.get_bytes(&key).await {
                Ok(bytes) => {
                    let index: DigestIndex = from_json(&key, &bytes)?;
                    self.read_record(&index.name, &index.version)
                        .await?
                        .filter(|rec| rec.release.pack_digest == *digest)
                }
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            }
        } else {
            let name = safe_segment("release name", r.name.as_deref().unwrap_or(""))?;
            let version = match &r.version {
                Some(v) => Some(safe_segment("release version", v)?),
                None => self.versions(&name).await?.pop(),
            };
            match version {
                Some(v) => self.read_record(&name, &v).await?,
                None => None,
            }
        };
        let Some(record) = record else {
            return Err((
                ErrorCode::NotFound,
                format!("no release matches `{}`", r.raw),
            ));
        };
        let pack = pack_key(&record.name, &record.version);
        if !self.exists(&pack).await? {
            return Err((
                ErrorCode::NotFound,
                format!(
                    "release {} has a record but no pack (its push.finalize is unfinished)",
                    record.release.canonical_ref
                ),
            ));
        }
        let url = self
            .bucket
            .presign(http::Method::GET, &pack, DOWNLOAD_URL_TTL)
            .await?;
        to_value(&PullPrepared {
            download: Download {
                url,
                headers: Default::default(),
                // What was verified at push time; gantry refuses anything else.
                digest: record.release.pack_digest.clone(),
                size_bytes: record.size_bytes,
            },
            finalize_token: record.release.release_id.clone(),
            release: Some(record.release),
        })
    }

    pub(crate) fn pull_finalize(&self, request: &serde_json::Value) -> Handled {
        let _: PullFinalize = body(request)?;
        Ok(serde_json::json!({}))
    }

    pub(crate) async fn runs_sync(&self, request: &serde_json::Value) -> Handled {
        let req: RunsSync = body(request)?;
        let mut out = RunsSynced::default();
        for run in &req.runs {
            let status = match safe_segment("run id", &run.run_id) {
                Err(_) => "rejected",
                Ok(id) => {
                    let key = format!("runs/{id}.json");
                    match self.bucket.put(&key, to_json(&run.ledger)?, true).await {
                        Ok(()) => "accepted",
                        Err(e) if e.is_already_exists() => "duplicate",
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            match status {
                "accepted" => out.accepted += 1,
                "rejected" => out.rejected += 1,
                _ => {}
            }
            out.items.push(RunSyncItem {
                run_id: run.run_id.clone(),
                status: status.into(),
            });
        }
        to_value(&out)
    }

    /// The access key id (never the secret), checked with one GET of a key that does not
    /// exist: a 404 means S3 accepted the signature, an auth failure (S3 names it in the
    /// error body, which a HEAD would not have) means the credentials are not valid.
    pub(crate) async fn whoami(&self) -> Handled {
        let authenticated = match self.bucket.get_bytes(".gantry-whoami").await {
            Ok(_) => true,
            Err(e) if e.is_not_found() => true,
            Err(e) if e.code() == ErrorCode::AuthRequired => false,
            Err(e) => return Err(e.into()),
        };
        let c = &self.config;
        to_value(&WhoAmI {
            identity: Identity {
                authenticated,
                subject: Some(c.access_key_id.clone()),
                issuer: Some(format!(
                    "s3:{}/{}{}",
                    c.endpoint.as_deref().unwrap_or("aws"),
                    c.bucket,
                    if c.prefix.is_empty() {
                        String::new()
                    } else {
                        format!("/{}", c.prefix)
                    }
                )),
                expires_at: None,
            },
        })
    }
}
