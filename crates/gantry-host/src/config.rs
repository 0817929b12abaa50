//! How the host backend is set up: what its user configures, and what the binary adds.

use std::path::PathBuf;

/// How the host backend is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where job directories are created (`<root>/<run-id>/<job>/`).
    pub root: PathBuf,
    /// `runner.name`.
    pub runner_name: String,
}

/// What every job's environment is made with, beyond [`HostConfig`].
#[derive(Debug, Clone, Default)]
pub(crate) struct JobSetup {
    /// The binary to start as each job's supervisor (see `supervisor.rs`).
    pub supervisor: Option<PathBuf>,
    /// Paths never copied into a job's workspace (besides the backend's root).
    pub keep_out: Vec<PathBuf>,
}
