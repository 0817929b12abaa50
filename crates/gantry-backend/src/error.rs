//! Errors a backend reports to the engine.

/// What went wrong inside a backend, phrased for the user who reads the job log.
///
/// Messages are lowercase without a trailing period and name the backend object
/// (environment, container, path) involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend cannot provide what was asked (a layer, an option, a platform).
    #[error("backend `{backend}` does not support {what}")]
    Unsupported {
        /// The backend's id.
        backend: String,
        /// What it cannot do.
        what: String,
    },
    /// A label or its options were rejected.
    #[error("label `{label}`: {reason}")]
    InvalidLabel {
        /// The label.
        label: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A request carried a bad value (path outside the workspace, empty argv, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A container or environment could not be created or started.
    #[error("{what}: {reason}")]
    Setup {
        /// What was being set up.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The exec could not be started or its stream broke.
    #[error("exec failed: {0}")]
    Exec(String),
    /// A copy in or out failed.
    #[error("copy {direction} `{path}`: {reason}")]
    Copy {
        /// `in` or `out`.
        direction: &'static str,
        /// The path copied.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// The backend process or service is gone or not answering (a plugin crash, an engine
    /// that went away).
    #[error("backend `{backend}` unavailable: {reason}")]
    Unavailable {
        /// The backend's id.
        backend: String,
        /// What is known of why.
        reason: String,
    },
    /// A call did not answer within its deadline.
    #[error("backend `{backend}` did not answer `{call}` within {seconds}s")]
    Timeout {
        /// The backend's id.
        backend: String,
        /// The call that timed out.
        call: String,
        /// Its deadline in seconds.
        seconds: u64,
    },
    /// A local I/O error with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Anything else, with the backend's own words.
    #[error("{0}")]
    Other(String),
}

impl BackendError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        BackendError::Io {
            path: path.to_string(),
            source,
        }
    }
}
