//! The backend object: configuration, environments, reaping.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use gantry_backend::{
    Backend, BackendError, Capabilities, EnvironmentRequest, ExecutionEnvironment, LabelSpec,
    ReapReport,
};
use sha2::{Digest, Sha256};

use crate::config::{HostConfig, JobSetup};
use crate::environment::HostEnvironment;
use crate::proc_scan;
use crate::run_dir::RunDirs;

/// The host backend (id `host`).
#[derive(Debug)]
pub struct HostBackend {
    config: HostConfig,
    owner: String,
    dirs: RunDirs,
    setup: JobSetup,
}

impl HostBackend {
    /// A host backend with `config`, running steps as gantry's own children until [`HostBackend::with_supervisor`] is called.
    pub fn new(config: HostConfig) -> Self {
        let digest = Sha256::digest(config.root.as_os_str().as_encoded_bytes());
        let owner = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        HostBackend {
            config,
            owner,
            dirs: RunDirs::default(),
            setup: JobSetup::default(),
        }
    }

    /// Runs each job's steps under a supervisor process, `exe` started with
    /// [`crate::SUPERVISOR_ARG`] as its only argument (the binary calls
    /// [`crate::supervise`] then): whatever a step starts, however it detaches, ends
    /// with its job, and with gantry if gantry dies.
    pub fn with_supervisor(mut self, exe: PathBuf) -> Self {
        self.setup.supervisor = Some(exe);
        self
    }

    /// Leaves `path` out of every job's copy of the working tree (gantry's own state dir
    /// when it lies inside the project: copying the ledger would also drop this process's
    /// SQLite locks on it).
    pub fn keep_out_of_workspaces(mut self, path: PathBuf) -> Self {
        self.setup.keep_out.push(path);
        self
    }

    /// The tag in `GANTRY_OWNER` of every process this backend starts: a hash of the
    /// root, so two gantrys with different state dirs never reap each other's processes.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

#[async_trait]
impl Backend for HostBackend {
    fn id(&self) -> &str {
        "host"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::plain("host")
    }

    fn validate_label(&self, label: &LabelSpec) -> Result<(), BackendError> {
        if !label.target.is_empty() {
            return Err(BackendError::InvalidLabel {
                label: label.label.clone(),
                reason: format!(
                    "the host backend takes no target (`{}`); use `host`",
                    label.target
                ),
            });
        }
        if let Some(k) = label.options.keys().next() {
            return Err(BackendError::InvalidLabel {
                label: label.label.clone(),
                reason: format!("the host backend has no option `{k}`"),
            });
        }
        Ok(())
    }

    async fn create_environment(
        &self,
        req: EnvironmentRequest,
    ) -> Result<Arc<dyn ExecutionEnvironment>, BackendError> {
        let env = HostEnvironment::create(&self.config, &self.owner, &self.dirs, &self.setup, req)
            .await?;
        Ok(Arc::new(env))
    }

    async fn reap(&self, live_runs: &[String]) -> Result<ReapReport, BackendError> {
        let root = self.config.root.clone();
        let owner = self.owner.clone();
        let live = live_runs.to_vec();
        tokio::task::spawn_blocking(move || proc_scan::reap(&root, &owner, &live))
            .await
            .map_err(|e| BackendError::Other(format!("reap task failed: {e}")))
    }

    async fn leftovers(&self, live_runs: &[String]) -> Result<Option<Vec<String>>, BackendError> {
        let root = self.config.root.clone();
        let owner = self.owner.clone();
        let live = live_runs.to_vec();
        tokio::task::spawn_blocking(move || proc_scan::describe_leftovers(&root, &owner, &live))
            .await
            .map(Some)
            .map_err(|e| BackendError::Other(format!("reap task failed: {e}")))
    }
}
