//! Sealed copies of pinned adapters.
//!
//! A pinned adapter never runs from its configured path: gantry copies the binary into a
//! private 0700 directory while hashing the bytes it copies, compares that digest with the
//! pin in constant time, and executes the copy. Replacing the original after the check
//! therefore changes nothing: what runs is what was hashed. The copy is removed when the
//! [`SealedBinary`] is dropped.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::RemoteError;
use crate::lock::hex;

/// A verified private copy of an adapter binary; removed on drop.
#[derive(Debug)]
pub struct SealedBinary {
    dir: PathBuf,
    path: PathBuf,
    sha256: String,
}

impl SealedBinary {
    /// Copies `source` into a fresh private directory under `parent` (default: the
    /// system temp dir), hashing while copying, and keeps the copy only when it hashes to
    /// `expected` (hex, case-insensitive).
    pub fn seal(
        adapter: &str,
        source: &Path,
        expected: &str,
        parent: Option<&Path>,
    ) -> Result<SealedBinary, RemoteError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let dir = parent.join(format!(
            "gantry-adapter-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| RemoteError::io(&dir, e))?;
        // From here on the directory is ours: remove it on every failure.
        let mut sealed = SealedBinary {
            path: dir.join(file_name(source)),
            dir,
            sha256: String::new(),
        };
        let actual = copy_hashing(source, &sealed.path)?;
        if !digests_equal(&actual, expected) {
            return Err(RemoteError::PinMismatch {
                adapter: adapter.to_string(),
                path: source.to_path_buf(),
                expected: expected.to_string(),
                actual,
            });
        }
        sealed.sha256 = actual;
        Ok(sealed)
    }

    /// The sealed copy gantry executes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The verified digest (lowercase hex).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

impl Drop for SealedBinary {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn file_name(source: &Path) -> std::ffi::OsString {
    source
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "adapter".into())
}

/// Copies `source` to `dest` (mode 0700, created exclusively) and returns the sha256 of
/// the bytes written.
fn copy_hashing(source: &Path, dest: &Path) -> Result<String, RemoteError> {
    let mut input = std::fs::File::open(source).map_err(|e| RemoteError::io(source, e))?;
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(dest)
        .map_err(|e| RemoteError::io(dest, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| RemoteError::io(source, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .map_err(|e| RemoteError::io(dest, e))?;
    }
    output.sync_all().map_err(|e| RemoteError::io(dest, e))?;
    Ok(hex(&hasher.finalize()))
}

/// Compares two hex digests in constant time (case-insensitive).
pub fn digests_equal(a: &str, b: &str) -> bool {
    let a = a.to_ascii_lowercase();
    let b = b.to_ascii_lowercase();
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::digest_file;

    #[test]
    fn seals_a_private_copy_and_removes_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = dir.path().join("adapter");
        std::fs::write(&original, b"#!/bin/sh\necho one\n").expect("write");
        let pin = digest_file(&original).expect("digest");
        let sealed = SealedBinary::seal("t", &original, &pin, Some(dir.path())).expect("seal");
        assert_ne!(sealed.path(), original);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sealed.path().parent().expect("dir"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(&original, b"#!/bin/sh\necho two\n").expect("rewrite");
        assert_eq!(
            std::fs::read(sealed.path()).expect("read"),
            b"#!/bin/sh\necho one\n"
        );
        let copy = sealed.path().to_path_buf();
        drop(sealed);
        assert!(!copy.exists());
        let err = SealedBinary::seal("t", &original, &pin, Some(dir.path())).expect_err("tampered");
        assert!(matches!(err, RemoteError::PinMismatch { .. }), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn digest_comparison() {
        assert!(digests_equal("ABcd", "abcd"));
        assert!(!digests_equal("abcd", "abce"));
        assert!(!digests_equal("abc", "abcd"));
    }
}
