//! Errors of the ledger and the log store; each names the file involved.

/// What went wrong reading or writing state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No state dir could be found; the text says what to set.
    #[error("state dir: {0}")]
    NoStateDir(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The ledger failed.
    #[error("ledger {path}: {source}{hint}")]
    Db {
        /// The ledger file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
        /// What to do about it, when known.
        hint: &'static str,
    },
    /// A run id prefix matches several runs.
    #[error("run id prefix `{prefix}` is ambiguous: {candidates}")]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// The runs it matches.
        candidates: String,
    },
    /// A run id with characters a run id never has.
    #[error("`{0}` is not a valid run id")]
    BadRunId(String),
    /// The ledger holds what this gantry cannot read.
    #[error("ledger {path}: {what}")]
    Corrupt {
        /// The ledger file.
        path: String,
        /// What is wrong.
        what: String,
    },
    /// The disk holding the logs is full (down to the ledger's reserve).
    #[error("{path}: its disk is full (gantry stops writing logs with {reserve} left, kept for the run ledger); free space or move the state dir")]
    DiskFull {
        /// The file being written.
        path: String,
        /// The space kept free for the ledger.
        reserve: String,
    },
}

impl StateError {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        StateError::Io {
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn db(path: &std::path::Path, source: rusqlite::Error) -> Self {
        let hint = match &source {
            rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DatabaseBusy => {
                " (another gantry holds the ledger; retry when it finishes)"
            }
            rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::NotADatabase => {
                " (the file is not a gantry ledger; move it away to start a new one)"
            }
            _ => "",
        };
        StateError::Db {
            path: path.display().to_string(),
            source,
            hint,
        }
    }
}
