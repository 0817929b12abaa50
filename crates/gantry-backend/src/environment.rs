//! The per-job runs-on layer: a temp dir on the host, a pod, a VM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::container::{Container, ContainerSpec};
use crate::error::BackendError;
use crate::label::LabelSpec;

/// Where the job's workspace comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkspaceSource {
    /// The directory on the gantry machine the workflow was started from.
    pub path: PathBuf,
    /// Run in place (`--bind`) instead of on a private copy.
    pub bind: bool,
}

impl WorkspaceSource {
    /// The tree at `path`, copied into each job unless `bind`.
    pub fn new(path: impl Into<PathBuf>, bind: bool) -> Self {
        WorkspaceSource {
            path: path.into(),
            bind,
        }
    }
}

/// What the engine asks for when a job starts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnvironmentRequest {
    /// The run this job belongs to; every object created carries it as a label.
    pub run_id: String,
    /// The planned job key (unique within the run, includes the matrix suffix).
    pub job_key: String,
    /// The resolved label and its options.
    pub label: LabelSpec,
    /// The job's workspace.
    pub workspace: WorkspaceSource,
    /// The job's timeout, so remote backends can bound what they create.
    pub timeout: Option<Duration>,
}

impl EnvironmentRequest {
    /// A request for one job's environment, without a timeout.
    pub fn new(
        run_id: impl Into<String>,
        job_key: impl Into<String>,
        label: LabelSpec,
        workspace: WorkspaceSource,
    ) -> Self {
        EnvironmentRequest {
            run_id: run_id.into(),
            job_key: job_key.into(),
            label,
            workspace,
            timeout: None,
        }
    }
}

/// Facts for the `runner` context.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunnerInfo {
    /// `runner.name`.
    pub name: String,
    /// `runner.os` (`Linux`).
    pub os: String,
    /// `runner.arch` (`X64`).
    pub arch: String,
    /// `runner.temp` as seen by steps on the primary target.
    pub temp: String,
    /// `runner.tool_cache`.
    pub tool_cache: String,
    /// `runner.environment`: `self-hosted` or a backend-specific word.
    pub environment: String,
}

impl RunnerInfo {
    /// Runner facts for `name`, `os` and `arch`, as a self-hosted runner.
    pub fn new(name: impl Into<String>, os: impl Into<String>, arch: impl Into<String>) -> Self {
        RunnerInfo {
            name: name.into(),
            os: os.into(),
            arch: arch.into(),
            environment: "self-hosted".into(),
            ..Default::default()
        }
    }
}

/// One job's execution environment. Owned by the backend; outlives the containers it
/// creates and removes all of them in [`ExecutionEnvironment::remove`].
#[async_trait]
pub trait ExecutionEnvironment: Send + Sync {
    /// Backend-assigned id (a temp dir name, a pod name, a VM id).
    fn id(&self) -> &str;

    /// Facts for the `runner` context.
    fn runner(&self) -> RunnerInfo;

    /// The target where plain `run:` steps execute when the job has no `container:`:
    /// the host's process space, the label image's container, the VM. Created lazily.
    async fn primary(&self) -> Result<Arc<dyn Container>, BackendError>;

    /// Creates (does not start) a job, service or step container. Backends without that
    /// layer return [`BackendError::Unsupported`]; validation should have refused earlier.
    async fn create_container(
        &self,
        spec: ContainerSpec,
    ) -> Result<Arc<dyn Container>, BackendError>;

    /// Removes everything the environment owns: containers, networks, volumes, temp
    /// dirs, leftover processes. Idempotent; called on success, failure and cancel.
    async fn remove(&self) -> Result<(), BackendError>;

    /// A Docker-compatible endpoint inside this environment that gantry's own Docker
    /// driver should run the job's container layers on (a VM with an engine in it), or
    /// `None` when the environment creates containers itself. Plugins announce it in
    /// `CreateEnvironmentResponse.docker`.
    fn docker_endpoint(&self) -> Option<DockerEndpoint> {
        None
    }
}

/// A Docker-compatible endpoint a backend hands back so gantry's own Docker driver runs
/// the containers inside it (a VM backend exposing the engine inside the VM).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DockerEndpoint {
    /// `unix:///path.sock` or `tcp://host:port`.
    pub address: String,
    /// PEM CA certificate to verify the engine.
    pub ca_pem: Option<String>,
    /// PEM client certificate for mTLS.
    pub cert_pem: Option<String>,
    /// PEM client key for mTLS.
    pub key_pem: Option<String>,
}

/// Builds execution environments on a Docker endpoint. The Docker backend implements
/// it; the CLI hands it to backends that delegate (plugins), so neither the engine nor
/// the plugin client depends on the Docker crate.
#[async_trait]
pub trait EndpointDriver: Send + Sync {
    /// An environment whose containers live on `endpoint`.
    async fn environment_on(
        &self,
        endpoint: DockerEndpoint,
        req: EnvironmentRequest,
    ) -> Result<Arc<dyn ExecutionEnvironment>, BackendError>;
}
