//! Why a plugin could not be launched, reached or trusted.

use std::path::PathBuf;

/// Errors setting a plugin up (calls on a running plugin report `BackendError`s).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The binary's digest is not the pinned one.
    #[error(
        "plugin `{plugin}`: {path} has sha256 {actual}, but gantry.lock pins {expected}; \
         if you upgraded it on purpose, run `gantry plugin pin {plugin}`"
    )]
    PinMismatch {
        plugin: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// No pin for a plugin gantry would launch.
    #[error(
        "plugin `{plugin}`: {path} is not pinned in gantry.lock, so gantry will not run it; \
         check the binary, then run `gantry plugin pin {plugin}`"
    )]
    NotPinned { plugin: String, path: PathBuf },
    /// Starting the process or its handshake failed.
    #[error("plugin `{plugin}`: {reason}")]
    Launch { plugin: String, reason: String },
    /// Connecting, health or capabilities failed.
    #[error("plugin `{plugin}` at {address}: {reason}")]
    Connect {
        plugin: String,
        address: String,
        reason: String,
    },
    /// The plugin speaks a protocol this gantry cannot drive.
    #[error("plugin `{plugin}`: {reason}")]
    Version { plugin: String, reason: String },
    /// gantry.lock could not be read or written.
    #[error("{}: {reason}", path.display())]
    Lock { path: PathBuf, reason: String },
}
