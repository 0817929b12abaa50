//! `gantry.lock`: the sha256 pins of the executables gantry runs on a user's behalf. It
//! sits below the crates that launch executables (`gantry-plugin` for backend plugins,
//! `gantry-remote` for remote adapters); each owns one table of the file and keeps the
//! others as they were when it rewrites it.
//!
//! ```toml
//! # Written by `gantry plugin pin` / `gantry remote lock`; commit it next to gantry.toml.
//! [plugins.ref]
//! command = "/usr/local/bin/gantry-plugin-host"
//! sha256 = "9f2c…"
//!
//! [adapters.origin]
//! command = "/usr/local/bin/gantry-remote-fs"
//! sha256 = "51ab…"
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One pinned executable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The binary the digest was taken from; a pin for another path does not apply.
    pub command: PathBuf,
    /// Lowercase hex sha256 of the binary.
    pub sha256: String,
}

/// Why the lock file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct PinError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// The whole lock file: a table of pins per kind of executable (`plugins`, `adapters`),
/// and whatever else it holds, written back untouched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PinFile {
    /// Where it was read from, for errors about its contents.
    path: PathBuf,
    tables: toml::Table,
}

impl PinFile {
    /// Reads `path`; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<PinFile, PinError> {
        let err = |reason: String| PinError {
            path: path.to_path_buf(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(PinFile {
                path: path.to_path_buf(),
                tables: toml::from_str(&text).map_err(|e| err(e.to_string().trim_end().into()))?,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PinFile {
                path: path.to_path_buf(),
                tables: toml::Table::new(),
            }),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// The pins of one kind (`[kind.NAME]` tables), by name.
    pub fn pins(&self, kind: &str) -> Result<BTreeMap<String, Pin>, PinError> {
        match self.tables.get(kind) {
            None => Ok(BTreeMap::new()),
            Some(v) => v.clone().try_into().map_err(|e: toml::de::Error| PinError {
                path: self.path.clone(),
                reason: format!("[{kind}]: {}", e.to_string().trim_end()),
            }),
        }
    }

    /// The pin of `name` among `kind`, if there is one.
    pub fn get(&self, kind: &str, name: &str) -> Result<Option<Pin>, PinError> {
        Ok(self.pins(kind)?.remove(name))
    }

    /// Pins `name` among `kind`, replacing an earlier pin.
    pub fn set(&mut self, kind: &str, name: &str, pin: Pin) {
        let table = self
            .tables
            .entry(kind.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !table.is_table() {
            *table = toml::Value::Table(toml::Table::new());
        }
        if let Some(t) = table.as_table_mut() {
            let mut entry = toml::Table::new();
            entry.insert(
                "command".into(),
                toml::Value::String(pin.command.display().to_string()),
            );
            entry.insert("sha256".into(), toml::Value::String(pin.sha256));
            t.insert(name.to_string(), toml::Value::Table(entry));
        }
    }

    /// Writes the lock to `path` atomically (a temp file renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), PinError> {
        let err = |reason: String| PinError {
            path: path.to_path_buf(),
            reason,
        };
        let body = toml::to_string_pretty(&self.tables).map_err(|e| err(e.to_string()))?;
        let text = format!(
            "# gantry.lock: digests of the executables gantry may run (plugins, remote adapters).\n\
             # Written by `gantry plugin pin` and `gantry remote lock`; commit it next to gantry.toml.\n\n{body}"
        );
        let tmp = path.with_extension("lock.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| err(e.to_string()))
    }
}

/// The pins of `kind` in the lock file at `path` (a missing file has none).
pub fn load(path: &Path, kind: &str) -> Result<BTreeMap<String, Pin>, PinError> {
    PinFile::load(path)?.pins(kind)
}

/// Pins `name` among `kind` in the lock file at `path`, keeping everything else in it;
/// returns the pin it replaced.
pub fn pin(path: &Path, kind: &str, name: &str, pin: Pin) -> Result<Option<Pin>, PinError> {
    let mut file = PinFile::load(path)?;
    let previous = file.get(kind, name)?;
    file.set(kind, name, pin);
    file.save(path)?;
    Ok(previous)
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

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The sha256 of the file at `path`, as lowercase hex.
pub fn digest_file(path: &Path) -> std::io::Result<String> {
    std::fs::File::open(path).and_then(sha256_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(sha: &str) -> Pin {
        Pin {
            command: "/bin/true".into(),
            sha256: sha.into(),
        }
    }

    #[test]
    fn kinds_share_the_file_and_keep_each_other() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gantry.lock");
        assert!(PinFile::load(&path)
            .expect("missing is empty")
            .pins("plugins")
            .expect("no pins")
            .is_empty());

        let mut lock = PinFile::default();
        lock.set(
            "plugins",
            "ref",
            pin(&sha256_hex(&b"abc"[..]).expect("hash")),
        );
        lock.save(&path).expect("save");
        let mut lock = PinFile::load(&path).expect("load");
        lock.set("adapters", "origin", pin("00"));
        lock.save(&path).expect("save again");

        let lock = PinFile::load(&path).expect("load again");
        assert_eq!(
            lock.get("plugins", "ref")
                .expect("plugins")
                .map(|p| p.sha256),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into())
        );
        assert_eq!(
            lock.get("adapters", "origin").expect("adapters"),
            Some(pin("00"))
        );
        assert_eq!(lock.get("adapters", "other").expect("adapters"), None);
    }

    #[test]
    fn malformed_pins_name_the_file_and_the_table() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gantry.lock");
        std::fs::write(&path, "[plugins.x]\nsha256 = 3\n").expect("write");
        let lock = PinFile::load(&path).expect("valid TOML");
        let err = lock.pins("plugins").expect_err("bad pin");
        let text = err.to_string();
        assert!(
            text.contains("gantry.lock") && text.contains("[plugins]"),
            "{text}"
        );
        std::fs::write(&path, "not toml [").expect("write");
        assert!(PinFile::load(&path).is_err());
    }
}
