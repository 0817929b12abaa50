//! The `[adapters.NAME]` tables of `gantry.lock`: the sha256 of every remote adapter
//! gantry may run pinned.
//!
//! ```toml
//! [adapters.origin]
//! command = "/usr/local/bin/gantry-remote-fs"
//! sha256 = "9f2c…"
//! ```
//!
//! The same file holds `[plugins.NAME]` tables written by gantry-plugin; this reader keeps
//! every table it does not own untouched when it rewrites the file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::RemoteError;

/// One pinned adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterPin {
    /// The binary the digest was taken from; a pin for another path does not apply.
    pub command: PathBuf,
    /// Lowercase hex sha256 of the binary.
    pub sha256: String,
}

/// The whole lock file, as far as remote adapters are concerned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdapterLock {
    #[serde(default)]
    pub adapters: BTreeMap<String, AdapterPin>,
    /// Every other table (`[plugins]`, ...), written back as it was read.
    #[serde(flatten)]
    pub other: toml::Table,
}

impl AdapterLock {
    /// Reads `path`; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<AdapterLock, RemoteError> {
        let err = |reason: String| RemoteError::Lock {
            path: path.to_path_buf(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| err(e.to_string().trim_end().into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AdapterLock::default()),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Writes the lock to `path` atomically (a temp file renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), RemoteError> {
        let err = |reason: String| RemoteError::Lock {
            path: path.to_path_buf(),
            reason,
        };
        let body = toml::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        let text = format!(
            "# gantry.lock: digests of the plugin and remote adapter binaries gantry may run.\n\
             # Written by `gantry plugin pin` and `gantry remote lock`; commit it next to gantry.toml.\n\n{body}"
        );
        let tmp = path.with_extension("lock.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| err(e.to_string()))
    }

    /// The pin of adapter `name` if it was taken from `command`.
    pub fn pin_for(&self, name: &str, command: &Path) -> Option<&AdapterPin> {
        self.adapters.get(name).filter(|p| p.command == command)
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
    Ok(hex(&hasher.finalize()))
}

/// The sha256 of the file at `path`.
pub fn digest_file(path: &Path) -> Result<String, RemoteError> {
    std::fs::File::open(path)
        .and_then(sha256_hex)
        .map_err(|e| RemoteError::io(path, e))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_tables_it_does_not_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gantry.lock");
        std::fs::write(
            &path,
            "[plugins.ref]\ncommand = \"/bin/p\"\nsha256 = \"aa\"\n\n[future]\nx = 1\n",
        )
        .expect("write");
        let mut lock = AdapterLock::load(&path).expect("load");
        lock.adapters.insert(
            "origin".into(),
            AdapterPin {
                command: "/bin/true".into(),
                sha256: sha256_hex(&b"abc"[..]).expect("hash"),
            },
        );
        lock.save(&path).expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        let value: toml::Table = toml::from_str(&text).expect("toml");
        assert_eq!(value["plugins"]["ref"]["sha256"].as_str(), Some("aa"));
        assert_eq!(value["future"]["x"].as_integer(), Some(1));
        assert_eq!(
            value["adapters"]["origin"]["sha256"].as_str(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        let again = AdapterLock::load(&path).expect("reload");
        assert!(again.pin_for("origin", Path::new("/bin/true")).is_some());
        assert!(again.pin_for("origin", Path::new("/bin/false")).is_none());
    }
}
