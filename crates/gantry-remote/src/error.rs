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
        /// The remote's name.
        adapter: String,
        /// The command that failed.
        command: String,
        /// The adapter's error code.
        code: ErrorCode,
        /// The adapter's message.
        message: String,
        /// Whether the adapter marked it retryable.
        retryable: bool,
        /// What fixes it (boxed: errors travel in every `Result` and should stay small).
        action: Option<Box<ActionHint>>,
    },
    /// The adapter broke the protocol (bad JSON, wrong type or request id, too big...).
    #[error("remote adapter `{adapter}` {command}: {reason}")]
    Protocol {
        /// The remote's name.
        adapter: String,
        /// The command.
        command: String,
        /// What was wrong.
        reason: String,
    },
    /// The adapter resolved a pull to something other than what was asked for.
    #[error(
        "remote adapter `{adapter}` pull.prepare: asked for {asked}, but {reason}; nothing was \
         downloaded"
    )]
    Mismatch {
        /// The remote's name.
        adapter: String,
        /// What was asked for (`name app-b`, `version 3`, `sha256:…`).
        asked: String,
        /// What the adapter answered instead.
        reason: String,
    },
    /// The adapter did not answer within its timeout (its process group was killed).
    #[error(
        "remote adapter `{adapter}` {command}: no response within {}s; its processes were killed \
         (raise `timeout` in [remotes.{adapter}] if the remote is slow)",
        seconds
    )]
    Timeout {
        /// The remote's name.
        adapter: String,
        /// The command.
        command: String,
        /// The deadline.
        seconds: u64,
    },
    /// Starting or talking to the adapter process failed.
    #[error("remote adapter `{adapter}` {command}: {reason}")]
    Process {
        /// The remote's name.
        adapter: String,
        /// The command.
        command: String,
        /// What failed.
        reason: String,
    },
    /// The adapter cannot be found or is not allowed to run.
    #[error("remote adapter `{adapter}`: {reason}")]
    Resolve {
        /// The remote's name.
        adapter: String,
        /// Why.
        reason: String,
    },
    /// The adapter binary's digest is not the pinned one.
    #[error(
        "remote adapter `{adapter}`: {} has sha256 {actual}, but gantry.lock pins {expected}; \
         if you upgraded it on purpose, run `gantry remote lock {adapter}`",
        path.display()
    )]
    PinMismatch {
        /// The remote's name.
        adapter: String,
        /// The binary.
        path: PathBuf,
        /// The pinned digest.
        expected: String,
        /// The binary's digest.
        actual: String,
    },
    /// `--frozen` and the adapter is not pinned.
    #[error(
        "remote adapter `{adapter}`: {} is not pinned in gantry.lock and --frozen refuses \
         unpinned adapters; check the binary, then run `gantry remote lock {adapter}`",
        path.display()
    )]
    NotPinned {
        /// The remote's name.
        adapter: String,
        /// The binary.
        path: PathBuf,
    },
    /// The adapter lacks a feature gantry needs.
    #[error("remote adapter `{adapter}` does not support {feature} (see `gantry remote capabilities {adapter}`)")]
    Unsupported {
        /// The remote's name.
        adapter: String,
        /// The missing feature.
        feature: String,
    },
    /// Uploading or downloading the pack bytes failed.
    #[error("remote adapter `{adapter}` {command}: transfer {url}: {reason}")]
    Transfer {
        /// The remote's name.
        adapter: String,
        /// The command whose URL it was.
        command: String,
        /// The URL (query redacted).
        url: String,
        /// What failed.
        reason: String,
    },
    /// A pack file is damaged (its contents do not match its manifest).
    #[error("{}: {reason}", path.display())]
    Pack {
        /// The pack.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// gantry.lock could not be read or written.
    #[error("{}: {reason}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

fn hint(action: Option<&ActionHint>) -> String {
    match action {
        Some(ActionHint {
            command: Some(c), ..
        }) => format!(" (try: {c})"),
        Some(ActionHint { url: Some(u), .. }) => format!(" (see {u})"),
        Some(ActionHint { text: Some(t), .. }) => format!(" ({t})"),
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
