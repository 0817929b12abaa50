//! `gantry.lock`: the sha256 of every plugin binary gantry may launch.
//!
//! ```toml
//! # Written by `gantry plugin pin`; commit it next to gantry.toml.
//! [plugins.ref]
//! command = "/usr/local/bin/gantry-plugin-host"
//! sha256 = "9f2c…"
//! ```
//!
//! A launched plugin runs only when the bytes gantry is about to execute hash to the
//! pinned digest; a plugin without a pin does not run at all.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::PluginError;

/// One pinned plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The binary the digest was taken from (informational).
    pub command: PathBuf,
    /// Lowercase hex sha256 of the binary.
    pub sha256: String,
}

/// The whole lock file. Tables other than `[plugins]` (remote adapters pin theirs in the
/// same file) are kept as they are when the file is rewritten.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockFile {
    #[serde(default)]
    pub plugins: BTreeMap<String, Pin>,
    #[serde(flatten)]
    pub other: toml::Table,
}

impl LockFile {
    /// Reads `path`; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<LockFile, PluginError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| PluginError::Lock {
                path: path.to_path_buf(),
                reason: e.to_string().trim_end().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LockFile::default()),
            Err(e) => Err(PluginError::Lock {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    /// Writes the lock to `path` (atomically: a temp file renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), PluginError> {
        let text = format!(
            "# gantry.lock: digests of the plugin binaries gantry may launch.\n\
             # Written by `gantry plugin pin NAME`; commit it next to gantry.toml.\n\n{}",
            toml::to_string_pretty(self).map_err(|e| PluginError::Lock {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?
        );
        let tmp = path.with_extension("lock.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| PluginError::Lock {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
    }
}

/// The sha256 of everything `reader` yields, as lowercase hex.
pub fn sha256_hex(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The sha256 of the file at `path`.
pub fn digest_file(path: &Path) -> Result<String, PluginError> {
    std::fs::File::open(path)
        .and_then(sha256_hex)
        .map_err(|e| PluginError::Launch {
            plugin: path.display().to_string(),
            reason: format!("reading {}: {e}", path.display()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_hashes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gantry.lock");
        assert_eq!(
            LockFile::load(&path).expect("missing is empty"),
            LockFile::default()
        );
        let mut lock = LockFile::default();
        lock.plugins.insert(
            "ref".into(),
            Pin {
                command: "/bin/true".into(),
                sha256: sha256_hex(&b"abc"[..]).expect("hash"),
            },
        );
        lock.save(&path).expect("save");
        assert_eq!(LockFile::load(&path).expect("load"), lock);
        assert_eq!(
            lock.plugins["ref"].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::write(&path, "[plugins.x]\nsha256 = 3\n").expect("write");
        let err = LockFile::load(&path).expect_err("bad lock");
        assert!(err.to_string().contains("gantry.lock"), "{err}");
    }
}
