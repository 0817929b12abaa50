//! The store contract: named byte streams in and out, with their sha256.

use async_trait::async_trait;
use gantry_backend::BoxedReader;

use crate::key::ObjectKey;

/// What the store knows of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Lowercase hex sha256 of the bytes.
    pub sha256: String,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A key that cannot name an object.
    #[error("object key `{key}` {reason}")]
    BadKey {
        /// The key as given.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// No object has this key.
    #[error("no object `{0}` in the store")]
    NotFound(String),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The ledger of artifacts failed.
    #[error("the artifact ledger: {0}")]
    Ledger(#[from] gantry_state::StateError),
    /// An S3 call failed.
    #[error("S3 {op} `{key}`: {reason}")]
    S3 {
        /// The call (`put`, `get`, ...).
        op: &'static str,
        /// The object's key.
        key: String,
        /// What S3 said.
        reason: String,
    },
}

/// Where artifacts live: local content-addressed storage or an S3-compatible service.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Short description for messages (`local /var/lib/gantry/artifacts`, `s3://bucket`).
    fn describe(&self) -> String;

    /// Stores everything `data` yields under `key`, replacing what was there. Atomic: a
    /// failed or interrupted put leaves the previous object (or none), never a partial one.
    async fn put(&self, key: &ObjectKey, data: BoxedReader) -> Result<ObjectInfo, StoreError>;

    /// Streams the object out.
    async fn get(&self, key: &ObjectKey) -> Result<BoxedReader, StoreError>;

    /// The object's size and digest, `None` when absent.
    async fn stat(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StoreError>;

    /// Objects whose keys start with `prefix` (a plain string prefix), sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;

    /// Removes the object; absent is fine.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError>;
}
