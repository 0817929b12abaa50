//! Plugin pins: the `[plugins.NAME]` tables of `gantry.lock` (the file itself is
//! `gantry-pin`'s). A launched plugin runs only when the bytes gantry is about to execute
//! hash to the pinned digest; a plugin without a pin does not run at all.

use std::collections::BTreeMap;
use std::path::Path;

pub use gantry_pin::{sha256_hex, Pin};

use crate::error::PluginError;

/// The table of gantry.lock that plugins pin into.
const KIND: &str = "plugins";

fn lock_error(e: gantry_pin::PinError) -> PluginError {
    PluginError::Lock {
        path: e.path,
        reason: e.reason,
    }
}

/// Every plugin pin in the lock file at `path` (a missing file has none).
pub fn load(path: &Path) -> Result<BTreeMap<String, Pin>, PluginError> {
    gantry_pin::load(path, KIND).map_err(lock_error)
}

/// Pins plugin `name` in the lock file at `path`, keeping every other table; returns the
/// pin it replaced.
pub fn pin(path: &Path, name: &str, pin: Pin) -> Result<Option<Pin>, PluginError> {
    gantry_pin::pin(path, KIND, name, pin).map_err(lock_error)
}

/// The sha256 of the file at `path`.
pub fn digest_file(path: &Path) -> Result<String, PluginError> {
    gantry_pin::digest_file(path).map_err(|e| PluginError::Launch {
        plugin: path.display().to_string(),
        reason: format!("reading {}: {e}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_round_trip_and_bad_pins_name_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gantry.lock");
        assert!(load(&path).expect("missing is empty").is_empty());
        let p = Pin {
            command: "/bin/true".into(),
            sha256: sha256_hex(&b"abc"[..]).expect("hash"),
        };
        assert_eq!(pin(&path, "ref", p.clone()).expect("pin"), None);
        assert_eq!(load(&path).expect("load").get("ref"), Some(&p));
        assert_eq!(pin(&path, "ref", p.clone()).expect("again"), Some(p));
        std::fs::write(&path, "[plugins.x]\nsha256 = 3\n").expect("write");
        let err = load(&path).expect_err("bad lock");
        assert!(err.to_string().contains("gantry.lock"), "{err}");
    }
}
