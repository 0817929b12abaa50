//! Adapter pins: the `[adapters.NAME]` tables of `gantry.lock` (the file itself is
//! `gantry-pin`'s). A pinned adapter runs from a sealed copy whose digest matches.

use std::collections::BTreeMap;
use std::path::Path;

pub(crate) use gantry_pin::hex;
pub use gantry_pin::{sha256_hex, Pin as AdapterPin};

use crate::error::RemoteError;

/// The table of gantry.lock that remote adapters pin into.
const KIND: &str = "adapters";

fn lock_error(e: gantry_pin::PinError) -> RemoteError {
    RemoteError::Lock {
        path: e.path,
        reason: e.reason,
    }
}

/// Every adapter pin in the lock file at `path`, by remote name (a missing file has none).
pub fn load(path: &Path) -> Result<BTreeMap<String, AdapterPin>, RemoteError> {
    gantry_pin::load(path, KIND).map_err(lock_error)
}

/// Pins remote `name`'s adapter in the lock file at `path`, keeping every other table;
/// returns the pin it replaced.
pub fn pin(path: &Path, name: &str, pin: AdapterPin) -> Result<Option<AdapterPin>, RemoteError> {
    gantry_pin::pin(path, KIND, name, pin).map_err(lock_error)
}

/// The sha256 of the file at `path`.
pub fn digest_file(path: &Path) -> Result<String, RemoteError> {
    gantry_pin::digest_file(path).map_err(|e| RemoteError::io(path, e))
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
        let p = AdapterPin {
            command: "/bin/true".into(),
            sha256: sha256_hex(&b"abc"[..]).expect("hash"),
        };
        assert_eq!(pin(&path, "origin", p.clone()).expect("pin"), None);
        let text = std::fs::read_to_string(&path).expect("read");
        let value: toml::Table = toml::from_str(&text).expect("toml");
        assert_eq!(value["plugins"]["ref"]["sha256"].as_str(), Some("aa"));
        assert_eq!(value["future"]["x"].as_integer(), Some(1));
        assert_eq!(
            value["adapters"]["origin"]["sha256"].as_str(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(load(&path).expect("reload").get("origin"), Some(&p));
    }
}
