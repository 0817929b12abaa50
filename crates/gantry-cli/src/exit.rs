//! The one place errors become exit codes.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | the workflow ran and failed |
//! | 2    | usage, configuration or validation error (nothing ran) |
//! | 130  | cancelled (Ctrl-C, SIGTERM) |

use std::process::ExitCode;

/// Everything that stops a command, with what the user needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or configuration.
    #[error("{0}")]
    Usage(String),
    /// The workflow did not validate; the diagnostics were already printed.
    #[error("{count} problem{} found in {path}", if *count == 1 { "" } else { "s" })]
    Invalid {
        /// The file(s) checked.
        path: String,
        /// How many problems were reported.
        count: usize,
    },
    /// State dir, ledger or log trouble.
    #[error(transparent)]
    State(#[from] gantry_state::StateError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Anything else that stopped the command.
    #[error("{0}")]
    Other(String),
}

/// How a command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything passed (exit 0).
    Success,
    /// The workflow ran and failed (exit 1).
    Failed,
    /// Cancelled by Ctrl-C or SIGTERM (exit 130).
    Cancelled,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
            Outcome::Cancelled => ExitCode::from(130),
        }
    }
}

impl CliError {
    /// The process exit code (see the table above).
    pub fn code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) | CliError::Invalid { .. } => ExitCode::from(2),
            CliError::State(_) | CliError::Io { .. } | CliError::Other(_) => ExitCode::from(1),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        CliError::Io {
            path: path.to_string(),
            source,
        }
    }
}
