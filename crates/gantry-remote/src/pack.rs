//! Pack identity on the wire: the *pack digest* (epack's, of the canonical artifact list;
//! see [`crate::protocol::digest`]) and the *file digest* (sha256 of the file's bytes).
//!
//! Reading a pack's artifact list is the pack format's business, not this crate's: the
//! caller hands in a [`PackFormat`] (the `gantry` binary passes gantry-artifact's packs).
//! A file no format recognises is read as a pack holding one artifact, the file itself,
//! at path `pack`, so every file has a pack digest that differs from its file digest.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::RemoteError;
use crate::lock::hex;
use crate::protocol::digest::{canonical_artifact_list, SINGLE_FILE_PATH};

/// The digests of a pack file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackDigests {
    /// The pack digest: `pack.digest` on the wire.
    pub digest: String,
    /// `sha256:<hex>` of the file: `pack.file_digest`.
    pub file_digest: String,
    /// The file's size.
    pub size_bytes: u64,
}

/// A pack format gantry can compute the pack digest of.
pub trait PackFormat: Send + Sync {
    /// The pack digest of the file at `path`, after checking that its contents match what
    /// its manifest lists; `Ok(None)` when the file is not in this format; `Err` (naming
    /// what is wrong) when it is but is damaged.
    fn pack_digest(&self, path: &Path) -> Result<Option<String>, String>;
}

/// No format: every file is a single-artifact pack.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyFile;

impl PackFormat for AnyFile {
    fn pack_digest(&self, _path: &Path) -> Result<Option<String>, String> {
        Ok(None)
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// The pack digest of a file a format does not recognise, from its file digest.
pub fn single_file_digest(file_digest: &str) -> String {
    sha256(canonical_artifact_list([(SINGLE_FILE_PATH, file_digest)]).as_bytes())
}

/// `sha256:<hex>` of the file at `path`, and its size.
pub fn file_digest(path: &Path) -> Result<(String, u64), RemoteError> {
    let mut file = std::fs::File::open(path).map_err(|e| RemoteError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| RemoteError::io(path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((format!("sha256:{}", hex(&hasher.finalize())), size))
}

/// The pack digest of the file at `path` with file digest `file_digest`, as `format`
/// reads it (or as a single-artifact pack).
pub fn pack_digest(
    path: &Path,
    file_digest: &str,
    format: &dyn PackFormat,
) -> Result<String, RemoteError> {
    match format.pack_digest(path) {
        Ok(Some(digest)) => Ok(digest),
        Ok(None) => Ok(single_file_digest(file_digest)),
        Err(reason) => Err(RemoteError::Pack {
            path: path.to_path_buf(),
            reason,
        }),
    }
}

/// Both digests and the size of the pack at `path`.
pub fn digests(path: &Path, format: &dyn PackFormat) -> Result<PackDigests, RemoteError> {
    let (file_digest, size_bytes) = file_digest(path)?;
    let digest = pack_digest(path, &file_digest, format)?;
    Ok(PackDigests {
        digest,
        file_digest,
        size_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_file_is_a_single_artifact_pack() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("blob");
        std::fs::write(&path, b"abc").expect("write");
        let d = digests(&path, &AnyFile).expect("digests");
        assert_eq!(
            d.file_digest,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            d.digest,
            sha256(format!("pack\t{}\n", d.file_digest).as_bytes())
        );
        assert_ne!(d.digest, d.file_digest);
        assert_eq!(d.size_bytes, 3);
    }
}
