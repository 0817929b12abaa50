//! Errors of the ledger and the log store; each names the file involved.

/// What went wrong reading or writing state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state dir: {0}")]
    NoStateDir(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ledger {path}: {source}{hint}")]
    Db {
        path: String,
        #[source]
        source: rusqlite::Error,
        hint: &'static str,
    },
    #[error("run id prefix `{prefix}` is ambiguous: {candidates}")]
    Ambiguous { prefix: String, candidates: String },
    #[error("`{0}` is not a valid run id")]
    BadRunId(String),
    #[error("ledger {path}: {what}")]
    Corrupt { path: String, what: String },
    #[error("{path}: its disk is full (gantry stops writing logs with {reserve} left, kept for the run ledger); free space or move the state dir")]
    DiskFull { path: String, reserve: String },
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
