//! The bucket: object operations under the configured prefix, presigned URLs, and the
//! mapping of S3 failures to protocol error codes.
//!
//! Everything goes through `object_store`'s `AmazonS3` (path-style requests, so a local
//! endpoint such as s3s-fs or MinIO works without DNS tricks). Retries inside
//! `object_store` are kept short: gantry retries `retryable` errors itself.

use std::time::Duration;

use futures_util::StreamExt;
use gantry_remote_protocol::ErrorCode;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::signer::Signer;
use object_store::{
    BackoffConfig, ClientOptions, ObjectMeta, ObjectStore, PutMode, PutOptions, PutPayload,
    RetryConfig,
};
use sha2::{Digest, Sha256};

use crate::config::S3Config;

/// An S3 operation that failed, with the key it was about.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The client could not be configured from the settings.
    #[error("configuring the S3 client for bucket `{bucket}`: {source}")]
    Configure {
        bucket: String,
        #[source]
        source: object_store::Error,
    },
    /// A request to the bucket failed.
    #[error("S3 {op} `{key}`: {source}")]
    Request {
        op: &'static str,
        key: String,
        #[source]
        source: object_store::Error,
    },
}

impl BucketError {
    /// The protocol error code for this failure.
    ///
    /// 404 is `not_found`, 409/412 (an object that already exists) `conflict`, bad or
    /// unknown credentials `auth_required`, other 403s `forbidden`; a request that never
    /// got an answer is `network_error` and any other failure `server_error` (both
    /// retryable).
    pub fn code(&self) -> ErrorCode {
        let source = match self {
            BucketError::Configure { .. } => return ErrorCode::InvalidRequest,
            BucketError::Request { source, .. } => source,
        };
        match source {
            object_store::Error::NotFound { .. } => ErrorCode::NotFound,
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. } => ErrorCode::Conflict,
            object_store::Error::Unauthenticated { .. } => ErrorCode::AuthRequired,
            object_store::Error::PermissionDenied { .. } => {
                let text = chain(source);
                if [
                    "InvalidAccessKeyId",
                    "SignatureDoesNotMatch",
                    "NotSignedUp",
                    "ExpiredToken",
                ]
                .iter()
                .any(|s| text.contains(s))
                {
                    ErrorCode::AuthRequired
                } else {
                    ErrorCode::Forbidden
                }
            }
            other => {
                let text = chain(other).to_ascii_lowercase();
                if ["error sending request", "connect", "timed out", "timeout"]
                    .iter()
                    .any(|s| text.contains(s))
                {
                    ErrorCode::NetworkError
                } else {
                    ErrorCode::ServerError
                }
            }
        }
    }

    /// Whether S3 said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            BucketError::Request {
                source: object_store::Error::NotFound { .. },
                ..
            }
        )
    }

    /// Whether a create-only write found the object already there.
    pub fn is_already_exists(&self) -> bool {
        matches!(
            self,
            BucketError::Request {
                source: object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ..
            }
        )
    }
}

/// An error and its sources on one line (S3's own error code is usually in a source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        text.push_str(": ");
        text.push_str(&s.to_string());
        next = s.source();
    }
    text
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The configured bucket, addressed by keys relative to the prefix.
pub(crate) struct Bucket {
    store: AmazonS3,
    prefix: String,
}

impl Bucket {
    /// A client for the bucket `cfg` names (no request is made yet).
    pub(crate) fn new(cfg: &S3Config) -> Result<Bucket, BucketError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 2,
                retry_timeout: Duration::from_secs(20),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(120)),
            );
        if let Some(endpoint) = &cfg.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|source| BucketError::Configure {
            bucket: cfg.bucket.clone(),
            source,
        })?;
        Ok(Bucket {
            store,
            prefix: cfg.prefix.clone(),
        })
    }

    /// The full object path of `key` (relative to the prefix).
    pub(crate) fn path(&self, key: &str) -> StorePath {
        if self.prefix.is_empty() {
            StorePath::from(key)
        } else {
            StorePath::from(format!("{}/{key}", self.prefix))
        }
    }

    fn fail(op: &'static str, key: &str) -> impl FnOnce(object_store::Error) -> BucketError {
        let key = key.to_string();
        move |source| BucketError::Request { op, key, source }
    }

    /// A URL that lets its holder `method` (PUT or GET) the object `key` for `valid_for`.
    pub(crate) async fn presign(
        &self,
        method: http::Method,
        key: &str,
        valid_for: Duration,
    ) -> Result<String, BucketError> {
        let url = self
            .store
            .signed_url(method, &self.path(key), valid_for)
            .await
            .map_err(Self::fail("presign", key))?;
        Ok(url.to_string())
    }

    /// The object's size and ETag.
    pub(crate) async fn head(&self, key: &str) -> Result<ObjectMeta, BucketError> {
        self.store
            .head(&self.path(key))
            .await
            .map_err(Self::fail("head", key))
    }

    /// The whole object (for small JSON records).
    pub(crate) async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, BucketError> {
        let fail = Self::fail("get", key);
        let result = self.store.get(&self.path(key)).await;
        match result {
            Ok(got) => got.bytes().await.map(|b| b.to_vec()).map_err(fail),
            Err(e) => Err(fail(e)),
        }
    }

    /// `sha256:<hex>` and size of the object, streamed (the object is never held whole).
    pub(crate) async fn sha256(&self, key: &str) -> Result<(String, u64), BucketError> {
        let got = self
            .store
            .get(&self.path(key))
            .await
            .map_err(Self::fail("get", key))?;
        let mut stream = got.into_stream();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(Self::fail("get", key))?;
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok((format!("sha256:{}", hex(&hasher.finalize())), size))
    }

    /// Writes `bytes` to `key`; with `create_only`, fails with a conflict when it exists.
    pub(crate) async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        create_only: bool,
    ) -> Result<(), BucketError> {
        let mode = if create_only {
            PutMode::Create
        } else {
            PutMode::Overwrite
        };
        self.store
            .put_opts(
                &self.path(key),
                PutPayload::from(bytes),
                PutOptions::from(mode),
            )
            .await
            .map(|_| ())
            .map_err(Self::fail("put", key))
    }

    /// Moves `from` to `to` inside the bucket (server-side copy, then delete).
    pub(crate) async fn rename(&self, from: &str, to: &str) -> Result<(), BucketError> {
        self.store
            .rename(&self.path(from), &self.path(to))
            .await
            .map_err(Self::fail("rename", from))
    }

    /// Deletes `key`; a missing object is not an error.
    pub(crate) async fn delete(&self, key: &str) -> Result<(), BucketError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::fail("delete", key)(e)),
        }
    }

    /// The folder names directly under the folder `dir`.
    pub(crate) async fn list_dirs(&self, dir: &str) -> Result<Vec<String>, BucketError> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.path(dir)))
            .await
            .map_err(Self::fail("list", dir))?;
        Ok(listed
            .common_prefixes
            .into_iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    /// The file names directly under the folder `dir` (not recursive).
    pub(crate) async fn list_names(&self, dir: &str) -> Result<Vec<String>, BucketError> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.path(dir)))
            .await
            .map_err(Self::fail("list", dir))?;
        Ok(listed
            .objects
            .into_iter()
            .filter_map(|o| o.location.filename().map(str::to_string))
            .collect())
    }
}
