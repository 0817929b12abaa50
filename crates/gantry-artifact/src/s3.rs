//! The S3 store: any S3-compatible service through `object_store`. Each object's sha256
//! is kept beside it (`KEY.sha256`), so stat and list need no download.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use gantry_backend::BoxedReader;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::key::ObjectKey;
use crate::store::{ArtifactStore, ObjectInfo, StoreError};

/// How to reach the service.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `http://127.0.0.1:9000`; `None` for AWS itself.
    pub endpoint: Option<String>,
    /// The bucket objects are stored in.
    pub bucket: String,
    /// The region signed for.
    pub region: String,
    /// The access key id (from the configuration or `AWS_ACCESS_KEY_ID`).
    pub access_key_id: String,
    /// The secret access key; never logged.
    pub secret_access_key: String,
    /// Key prefix inside the bucket (`gantry/`), may be empty.
    pub prefix: String,
}

/// Artifacts in an S3 bucket.
pub struct S3Store {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
}

const SIDECAR: &str = ".sha256";

fn s3err(op: &'static str, key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::S3 {
        op,
        key: key.into(),
        reason: e.to_string(),
    }
}

impl S3Store {
    /// A store for `cfg` (nothing is contacted yet).
    pub fn new(cfg: &S3Config) -> Result<S3Store, StoreError> {
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key);
        if let Some(ep) = &cfg.endpoint {
            b = b
                .with_endpoint(ep)
                .with_allow_http(ep.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = b.build().map_err(|e| s3err("configure", &cfg.bucket, e))?;
        Ok(S3Store {
            store: Arc::new(store),
            bucket: cfg.bucket.clone(),
            prefix: cfg.prefix.trim_matches('/').to_string(),
        })
    }

    fn path(&self, key: &str) -> StorePath {
        if self.prefix.is_empty() {
            StorePath::from(key)
        } else {
            StorePath::from(format!("{}/{key}", self.prefix))
        }
    }

    async fn digest_of(&self, key: &str) -> Result<String, StoreError> {
        let side = self.path(&format!("{key}{SIDECAR}"));
        let bytes = self
            .store
            .get(&side)
            .await
            .map_err(|e| s3err("get", key, e))?
            .bytes()
            .await
            .map_err(|e| s3err("get", key, e))?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_string())
    }
}

#[async_trait]
impl ArtifactStore for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    async fn put(&self, key: &ObjectKey, mut data: BoxedReader) -> Result<ObjectInfo, StoreError> {
        let path = self.path(key.as_str());
        // Multipart upload: completes atomically, aborted on any error.
        let mut writer = object_store::buffered::BufWriter::with_capacity(
            self.store.clone(),
            path.clone(),
            8 << 20,
        );
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        // Once `shutdown` ran, the writer can no longer be aborted (object_store panics).
        let mut shut_down = false;
        let result: Result<(), StoreError> = async {
            loop {
                let n = data
                    .read(&mut buf)
                    .await
                    .map_err(|e| s3err("put", key.as_str(), e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
                writer
                    .write_all(&buf[..n])
                    .await
                    .map_err(|e| s3err("put", key.as_str(), e))?;
            }
            shut_down = true;
            writer
                .shutdown()
                .await
                .map_err(|e| s3err("put", key.as_str(), e))
        }
        .await;
        if let Err(e) = result {
            // A failed completion leaves no object; the server expires the parts.
            if !shut_down {
                let _ = writer.abort().await;
            }
            return Err(e);
        }
        let sha256: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.store
            .put(
                &self.path(&format!("{}{SIDECAR}", key.as_str())),
                PutPayload::from(sha256.clone().into_bytes()),
            )
            .await
            .map_err(|e| s3err("put", key.as_str(), e))?;
        Ok(ObjectInfo {
            key: key.to_string(),
            size,
            sha256,
        })
    }

    async fn get(&self, key: &ObjectKey) -> Result<BoxedReader, StoreError> {
        let got = match self.store.get(&self.path(key.as_str())).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::NotFound(key.to_string()))
            }
            Err(e) => return Err(s3err("get", key.as_str(), e)),
        };
        let stream = got.into_stream().map_err(std::io::Error::other).boxed();
        Ok(Box::new(tokio_util::io::StreamReader::new(stream)))
    }

    async fn stat(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StoreError> {
        let meta = match self.store.head(&self.path(key.as_str())).await {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(s3err("head", key.as_str(), e)),
        };
        Ok(Some(ObjectInfo {
            key: key.to_string(),
            size: meta.size,
            sha256: self.digest_of(key.as_str()).await?,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let full = if self.prefix.is_empty() {
            prefix.to_string()
        } else {
            format!("{}/{prefix}", self.prefix)
        };
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        // `list` takes a directory prefix; filter to the string prefix afterwards.
        let dir = full.rsplit_once('/').map(|(d, _)| d.to_string());
        let metas: Vec<_> = self
            .store
            .list(dir.as_deref().map(StorePath::from).as_ref())
            .try_collect()
            .await
            .map_err(|e| s3err("list", prefix, e))?;
        let mut out = Vec::new();
        for m in metas {
            let k = m.location.to_string();
            let Some(key) = k.strip_prefix(&strip) else {
                continue;
            };
            if !k.starts_with(&full) || key.ends_with(SIDECAR) {
                continue;
            }
            out.push(ObjectInfo {
                key: key.to_string(),
                size: m.size,
                sha256: self.digest_of(key).await?,
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        for k in [key.to_string(), format!("{key}{SIDECAR}")] {
            match self.store.delete(&self.path(&k)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(s3err("delete", &k, e)),
            }
        }
        Ok(())
    }
}
