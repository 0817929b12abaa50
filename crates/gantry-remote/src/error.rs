//! Why a remote operation failed, always naming the adapter and the command.

use std::path::PathBuf;

use crate::protocol::{ActionHint, ErrorCode};

/// Errors of remote adapters, their resolution, pinning and transfers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The adapter answered with an error object.
    #[error("remote adapter `{adapter}` {command}: {code}: {message}{}", hint(action.as_deref()))]
    Adapter {
        adapter: String,
        command: String,
        code: ErrorCode,
        message: String,
        retryable: bool,
        /// Boxed: errors travel in every `Result` and should stay small.
        action: Option<Box<ActionHint>>,
    },
    /// The adapter broke the protocol (bad JSON, wrong type or request id, too big...).
    #[error("remote adapter `{adapter}` {command}: {reason}")]
    Protocol {
        adapter: String,
        command: String,
        reason: String,
    },
    /// The adapter did not answer within its timeout (its process group was killed).
    #[error(
        "remote adapter `{adapter}` {command}: no response within {}s; its processes were killed \
         (raise `timeout` in [remotes.{adapter}] if the remote is slow)",
        seconds
    )]
    Timeout {
        adapter: String,
        command: String,
        seconds: u64,
    },
    /// Starting or talking to the adapter process failed.
    #[error("remote adapter `{adapter}` {command}: {reason}")]
    Process {
        adapter: String,
        command: String,
        reason: String,
    },
    /// The adapter cannot be found or is not allowed to run.
    #[error("remote adapter `{adapter}`: {reason}")]
    Resolve { adapter: String, reason: String },
    /// The adapter binary's digest is not the pinned one.
    #[error(
        "remote adapter `{adapter}`: {} has sha256 {actual}, but gantry.lock pins {expected}; \
         if you upgraded it on purpose, run `gantry remote lock {adapter}`",
        path.display()
    )]
    PinMismatch {
        adapter: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// `--frozen` and the adapter is not pinned.
    #[error(
        "remote adapter `{adapter}`: {} is not pinned in gantry.lock and --frozen refuses \
         unpinned adapters; check the binary, then run `gantry remote lock {adapter}`",
        path.display()
    )]
    NotPinned { adapter: String, path: PathBuf },
    /// The adapter lacks a feature gantry needs.
    #[error("remote adapter `{adapter}` does not support {feature} (see `gantry remote capabilities {adapter}`)")]
    Unsupported { adapter: String, feature: String },
    /// Uploading or downloading the pack bytes failed.
    #[error("remote adapter `{adapter}` {command}: transfer {url}: {reason}")]
    Transfer {
        adapter: String,
        command: String,
        url: String,
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// gantry.lock could not be read or written.
    #[error("{}: {reason}", path.display())]
    Lock { path: PathBuf, reason: String },
}

fn hint(action: Option<&ActionHint>) -> String {
    match action {
        Some(ActionHint {
            command: Some(c), ..
        }) => format!(" (try: {c})"),
        Some(ActionHint { url: Some(u), .. }) => format!(" (see {u})"),
        _ => String::new(),
    }
}

impl RemoteError {
    /// Whether retrying the same request may succeed (only errors the adapter marked so).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RemoteError::Adapter {
                retryable: true,
                ..
            }
        )
    }

    /// The adapter's error code, when the adapter returned an error object.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            RemoteError::Adapter { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the problem is the user's setup (configuration, pins) rather than the remote.
    pub fn is_setup(&self) -> bool {
        matches!(
            self,
            RemoteError::Resolve { .. }
                | RemoteError::PinMismatch { .. }
                | RemoteError::NotPinned { .. }
                | RemoteError::Unsupported { .. }
                | RemoteError::Lock { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RemoteError::Io {
            path: path.into(),
            source,
        }
    }
}
