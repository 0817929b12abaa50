//! The S3 remote: the bucket, the release records and indexes every command shares, and
//! the commands that are not push or pull (runs.sync, auth.whoami).

use std::path::Path;

use gantry_remote_protocol::digest::is_sha256;
use gantry_remote_protocol::{
    ErrorCode, Failure, Handled, Identity, Release, RunSyncItem, RunsSync, RunsSynced, SyncStatus,
    Target, WhoAmI,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bucket::{Bucket, BucketError};
use crate::config::S3Config;

impl From<BucketError> for Failure {
    fn from(e: BucketError) -> Self {
        Failure::new(e.code(), e.to_string())
    }
}

/// The remote: a bucket and the settings it was opened with.
pub(crate) struct Store {
    pub(crate) bucket: Bucket,
    pub(crate) config: S3Config,
}

/// The record of a release (`releases/<name>/<version>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) release: Release,
    pub(crate) name: String,
    pub(crate) version: String,
    /// `sha256:<hex>` of the pack file.
    pub(crate) file_digest: String,
    pub(crate) size_bytes: u64,
    #[serde(default)]
    pub(crate) labels: Vec<String>,
    #[serde(default)]
    pub(crate) notes: Option<String>,
    #[serde(default)]
    pub(crate) target: Target,
    /// Creation order (nanoseconds since the epoch): what `latest` means.
    pub(crate) created_nanos: u128,
}

/// Which release holds a digest (`digests/<hex>.json`), for pack digest and file digest
/// references.
#[derive(Serialize, Deserialize)]
pub(crate) struct DigestIndex {
    pub(crate) name: String,
    pub(crate) version: String,
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Handled<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| Failure::server(e.to_string()))
}

pub(crate) fn from_json<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Handled<T> {
    serde_json::from_slice(bytes).map_err(|e| Failure::server(format!("{key}: {e}")))
}

/// Names, versions and ids become key segments: only `[A-Za-z0-9._-]`, no leading dot.
pub(crate) fn safe_segment(what: &str, s: &str) -> Handled<String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(Failure::invalid(format!(
            "{what} `{s}` must be 1-128 of [A-Za-z0-9._-] and not start with `.`"
        )))
    }
}

/// The hex of a `sha256:<64 hex>` digest.
pub(crate) fn digest_hex(digest: &str) -> Handled<String> {
    if !is_sha256(digest) {
        return Err(Failure::invalid(format!(
            "digest `{digest}` is not sha256:<64 lowercase hex>"
        )));
    }
    Ok(digest["sha256:".len()..].to_string())
}

pub(crate) fn record_key(name: &str, version: &str) -> String {
    format!("releases/{name}/{version}.json")
}

pub(crate) fn pack_key(name: &str, version: &str) -> String {
    format!("releases/{name}/{version}.pack")
}

/// Nanoseconds since the epoch.
pub(crate) fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The name of a pack file at `path`, when it makes a safe release name.
pub(crate) fn stem(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| safe_segment("", s).is_ok())
        .unwrap_or_else(|| "pack".into())
}

impl Store {
    /// Opens the bucket the environment names.
    pub(crate) fn open() -> Handled<Store> {
        let config = S3Config::from_env().map_err(|e| {
            let code = if e.is_credentials() {
                ErrorCode::AuthRequired
            } else {
                ErrorCode::InvalidRequest
            };
            Failure::new(code, e.to_string())
        })?;
        Ok(Store {
            bucket: Bucket::new(&config)?,
            config,
        })
    }

    pub(crate) async fn exists(&self, key: &str) -> Handled<bool> {
        match self.bucket.head(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The object at `key` as JSON; `None` when it does not exist.
    pub(crate) async fn read<T: DeserializeOwned>(&self, key: &str) -> Handled<Option<T>> {
        match self.bucket.get_bytes(key).await {
            Ok(bytes) => from_json(key, &bytes).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The versions of release `name`.
    pub(crate) async fn versions(&self, name: &str) -> Handled<Vec<String>> {
        Ok(self
            .bucket
            .list_names(&format!("releases/{name}"))
            .await?
            .into_iter()
            .filter_map(|f| f.strip_suffix(".json").map(str::to_string))
            .collect())
    }

    /// The records of release `name`, or of every release when `name` is `None`, oldest
    /// first.
    pub(crate) async fn records(&self, name: Option<&str>) -> Handled<Vec<Record>> {
        let names = match name {
            Some(n) => vec![n.to_string()],
            None => self.bucket.list_dirs("releases").await?,
        };
        let mut out = Vec::new();
        for name in names {
            for version in self.versions(&name).await? {
                if let Some(r) = self.read::<Record>(&record_key(&name, &version)).await? {
                    out.push(r);
                }
            }
        }
        out.sort_by_key(|r| r.created_nanos);
        Ok(out)
    }

    pub(crate) async fn runs_sync(&self, req: RunsSync) -> Handled<RunsSynced> {
        let mut out = RunsSynced::default();
        for run in &req.runs {
            let status = match safe_segment("run id", &run.run_id) {
                Err(_) => SyncStatus::Rejected,
                Ok(id) => match read_result(&run.result_path, &run.result_digest) {
                    None => SyncStatus::Rejected,
                    Some(bytes) => {
                        match self
                            .bucket
                            .put(&format!("runs/{id}.json"), bytes, true)
                            .await
                        {
                            Ok(()) => SyncStatus::Accepted,
                            Err(e) if e.is_already_exists() => SyncStatus::Duplicate,
                            Err(e) => return Err(e.into()),
                        }
                    }
                },
            };
            out.push(RunSyncItem::new(run.run_id.clone(), status));
        }
        Ok(out)
    }

    /// The access key id (never the secret), checked with one GET of a key that does not
    /// exist: a 404 means S3 accepted the signature, an auth failure (S3 names it in the
    /// error body, which a HEAD would not have) means the credentials are not valid.
    pub(crate) async fn whoami(&self) -> Handled<WhoAmI> {
        let authenticated = match self.bucket.get_bytes(".gantry-whoami").await {
            Ok(_) => true,
            Err(e) if e.is_not_found() => true,
            Err(e) if e.code() == ErrorCode::AuthRequired => false,
            Err(e) => return Err(e.into()),
        };
        let c = &self.config;
        let mut identity = Identity::anonymous();
        identity.authenticated = authenticated;
        identity.subject = Some(c.access_key_id.clone());
        identity.issuer = Some(format!(
            "s3:{}/{}{}",
            c.endpoint.as_deref().unwrap_or("aws"),
            c.bucket,
            if c.prefix.is_empty() {
                String::new()
            } else {
                format!("/{}", c.prefix)
            }
        ));
        Ok(WhoAmI::new(identity))
    }
}

/// The result file at `path` when it is absolute, readable and hashes to `digest`.
fn read_result(path: &str, digest: &str) -> Option<Vec<u8>> {
    use sha2::{Digest, Sha256};
    if !Path::new(path).is_absolute() {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (format!("sha256:{hex}") == digest).then_some(bytes)
}
