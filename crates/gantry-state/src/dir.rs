//! Where state lives.

use std::path::PathBuf;

use crate::error::StateError;

/// The state directory (see the crate docs for its layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    /// The directory.
    pub root: PathBuf,
}

impl StateDir {
    /// `$GANTRY_STATE_DIR`, else `$XDG_STATE_HOME/gantry`, else `~/.local/state/gantry`.
    pub fn resolve() -> Result<StateDir, StateError> {
        let nonempty = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(p) = nonempty("GANTRY_STATE_DIR") {
            return Ok(StateDir::at(p));
        }
        if let Some(p) = nonempty("XDG_STATE_HOME") {
            return Ok(StateDir::at(p.join("gantry")));
        }
        match nonempty("HOME") {
            Some(h) => Ok(StateDir::at(h.join(".local/state/gantry"))),
            None => Err(StateError::NoStateDir(
                "neither GANTRY_STATE_DIR, XDG_STATE_HOME nor HOME is set; pass --state-dir".into(),
            )),
        }
    }

    /// A state dir at `path` (nothing is created yet).
    pub fn at(path: impl Into<PathBuf>) -> StateDir {
        StateDir { root: path.into() }
    }

    /// The ledger: `gantry.db`.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("gantry.db")
    }

    /// The lock that orders run registration against reaping (see `Ledger::reap_guard`).
    pub fn reap_lock_path(&self) -> PathBuf {
        self.root.join("reap.lock")
    }

    /// Where job logs are written: `logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Creates the directory (0700) if missing.
    pub(crate) fn ensure(&self) -> Result<(), StateError> {
        use std::os::unix::fs::DirBuilderExt;
        if self.root.is_dir() {
            return Ok(());
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|e| StateError::io(self.root.display(), e))
    }
}
