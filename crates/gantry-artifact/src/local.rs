//! The local store: content-addressed blobs under `<root>/blobs/<2 hex>/<sha256>`, written
//! through a temp file and renamed into place (identical content is stored once), with
//! the key-to-blob index in the SQLite ledger.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use gantry_backend::BoxedReader;
use gantry_state::Ledger;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::key::ObjectKey;
use crate::store::{ArtifactStore, ObjectInfo, StoreError};

/// Read and write granularity: large enough that hashing and the syscalls run at disk speed.
const BUF: usize = 1 << 20;

/// Content-addressed storage on this machine.
pub struct LocalStore {
    root: PathBuf,
    ledger: Ledger,
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl LocalStore {
    /// A store in `root` (created on first put) indexed in `ledger`.
    pub fn new(root: impl Into<PathBuf>, ledger: Ledger) -> Self {
        LocalStore {
            root: root.into(),
            ledger,
        }
    }

    fn blob(&self, sha256: &str) -> PathBuf {
        self.root.join("blobs").join(&sha256[..2]).join(sha256)
    }

    fn info(key: &str, sha256: String, size: u64) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size,
            sha256,
        }
    }
}

#[async_trait]
impl ArtifactStore for LocalStore {
    fn describe(&self) -> String {
        format!("local {}", self.root.display())
    }

    async fn put(&self, key: &ObjectKey, mut data: BoxedReader) -> Result<ObjectInfo, StoreError> {
        let tmp_dir = self.root.join("tmp");
        tokio::fs::create_dir_all(&tmp_dir)
            .await
            .map_err(|e| io(&tmp_dir, e))?;
        // Dropped (and so deleted) on every early return: no partial blob survives.
        let tmp = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&tmp_dir)
            .map_err(|e| io(&tmp_dir, e))?;
        let (std_file, tmp_path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; BUF];
        loop {
            let mut filled = 0;
            // Fill the buffer so each write (a hop to the blocking pool) moves 1 MiB.
            while filled < BUF {
                let n = data
                    .read(&mut buf[filled..])
                    .await
                    .map_err(|e| io(Path::new(key.as_str()), e))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            hasher.update(&buf[..filled]);
            file.write_all(&buf[..filled])
                .await
                .map_err(|e| io(&tmp_path, e))?;
            size += filled as u64;
        }
        file.flush().await.map_err(|e| io(&tmp_path, e))?;
        drop(file);
        let sha256 = hex(&hasher.finalize());
        let blob = self.blob(&sha256);
        if let Some(dir) = blob.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| io(dir, e))?;
        }
        if tokio::fs::metadata(&blob).await.is_ok() {
            // Already stored: the temp file goes, the blob is shared.
            drop(tmp_path);
        } else {
            tmp_path.persist(&blob).map_err(|e| io(&blob, e.error))?;
        }
        let previous = self.ledger.object(key.as_str())?;
        self.ledger.put_object(key.as_str(), &sha256, size)?;
        if let Some(old) = previous.filter(|o| o.sha256 != sha256) {
            if self
                .ledger
                .objects("")?
                .iter()
                .all(|o| o.sha256 != old.sha256)
            {
                let _ = tokio::fs::remove_file(self.blob(&old.sha256)).await;
            }
        }
        Ok(Self::info(key.as_str(), sha256, size))
    }

    async fn get(&self, key: &ObjectKey) -> Result<BoxedReader, StoreError> {
        let obj = self
            .ledger
            .object(key.as_str())?
            .ok_or_else(|| StoreError::NotFound(key.to_string()))?;
        let path = self.blob(&obj.sha256);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| io(&path, e))?;
        Ok(Box::new(tokio::io::BufReader::with_capacity(BUF, file)))
    }

    async fn stat(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StoreError> {
        Ok(self
            .ledger
            .object(key.as_str())?
            .map(|o| Self::info(&o.key, o.sha256, o.size)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        Ok(self
            .ledger
            .objects(prefix)?
            .into_iter()
            .map(|o| Self::info(&o.key, o.sha256, o.size))
            .collect())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let Some(obj) = self.ledger.object(key.as_str())? else {
            return Ok(());
        };
        if self.ledger.delete_object(key.as_str())? == Some(false) {
            let _ = tokio::fs::remove_file(self.blob(&obj.sha256)).await;
        }
        Ok(())
    }
}
