//! A single running unit (job, service or step container) and the spec it is made from.

use std::time::Duration;

use async_trait::async_trait;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::error::BackendError;
use crate::exec::{ExecRequest, ExitStatus, OutputSender, StopReceiver};

/// A boxed byte stream, used for tar archives flowing in and out of containers.
pub type BoxedReader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// Which of the inner layers a container serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerKind {
    /// Where the job's `run:` steps execute (workflow `container:` or the label's image).
    Job,
    /// A workflow `services:` entry, reachable by its id as a DNS alias.
    Service,
    /// A `uses: docker://IMAGE` step, sharing the workspace.
    Step,
}

/// When to pull an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Never pull: the image must be present.
    Never,
    /// Pull when the image is missing (the default).
    #[default]
    IfNotPresent,
    /// Pull every time.
    Always,
}

/// A health check run inside a service container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HealthCheck {
    /// Command in Docker's form (`["CMD-SHELL", "pg_isready"]` or `["CMD", ...]`).
    pub test: Vec<String>,
    /// Time between checks.
    pub interval: Option<Duration>,
    /// How long one check may take.
    pub timeout: Option<Duration>,
    /// Failed checks before the container is unhealthy.
    pub retries: Option<u32>,
    /// Time after start during which failures do not count.
    pub start_period: Option<Duration>,
}

/// A published port: `container` inside, optionally bound to `host` on loopback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The port inside the container.
    pub container: u16,
    /// The host port (`None`: the engine picks one).
    pub host: Option<u16>,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// Confinement options; `None` means the backend's default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sandbox {
    /// Memory limit in bytes.
    pub memory_bytes: Option<u64>,
    /// CPU limit in billionths of a CPU.
    pub nano_cpus: Option<u64>,
    /// Most processes at once.
    pub pids_limit: Option<i64>,
    /// `none` or `bridge` (or a backend-specific name).
    pub network: Option<String>,
    /// Read-only root filesystem, with a tmpfs on /tmp.
    pub read_only_rootfs: bool,
    /// Drop every Linux capability.
    pub cap_drop_all: bool,
    /// Forbid gaining privileges (`no-new-privileges`).
    pub no_new_privileges: bool,
    /// The user to run as (`uid[:gid]` or a name).
    pub user: Option<String>,
}

/// Everything needed to create one container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContainerSpec {
    /// Which layer this container is (job, service, step); `None` for backend-internal ones.
    pub kind: Option<ContainerKind>,
    /// Name unique within the environment (`job`, the service id, `step-3`).
    pub name: String,
    /// The image reference.
    pub image: String,
    /// Registry credentials (`username`, `password`), already resolved from secrets.
    pub credentials: Option<(String, String)>,
    /// When to pull the image.
    pub pull: PullPolicy,
    /// Environment variables.
    pub env: IndexMap<String, String>,
    /// Entrypoint override; the backend's idle entrypoint is used for job containers.
    pub entrypoint: Option<Vec<String>>,
    /// Command (arguments) override.
    pub command: Option<Vec<String>>,
    /// Ports to publish.
    pub ports: Vec<PortMapping>,
    /// Volumes in `source:target[:ro]` form.
    pub volumes: Vec<String>,
    /// Raw `options:` string from the workflow (docker create flags), parsed by the backend.
    pub options: Option<String>,
    /// A health check overriding the image's.
    pub health: Option<HealthCheck>,
    /// Limits and confinement.
    pub sandbox: Sandbox,
    /// Network aliases (a service's id).
    pub aliases: Vec<String>,
    /// Mount the environment's workspace at its usual path (step containers, job containers).
    pub mount_workspace: bool,
}

impl ContainerSpec {
    /// A spec of `kind` named `name` running `image`.
    pub fn new(kind: ContainerKind, name: impl Into<String>, image: impl Into<String>) -> Self {
        ContainerSpec {
            kind: Some(kind),
            name: name.into(),
            image: image.into(),
            ..Default::default()
        }
    }
}

/// A container's health as the engine waits on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "lowercase")]
pub enum Health {
    /// Running and has no health check: ready as soon as it runs.
    Running,
    /// Health check still starting.
    Starting,
    /// Health check passed.
    Healthy,
    /// Health check failed, or the container exited; the text says why.
    Unhealthy(String),
}

/// Paths inside a container that the engine needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContainerPaths {
    /// The job's workspace (`GITHUB_WORKSPACE`).
    pub workspace: String,
    /// A private temp dir for scripts and env files (`RUNNER_TEMP`).
    pub temp: String,
}

impl ContainerPaths {
    /// Paths from the workspace and temp directory as seen inside.
    pub fn new(workspace: impl Into<String>, temp: impl Into<String>) -> Self {
        ContainerPaths {
            workspace: workspace.into(),
            temp: temp.into(),
        }
    }
}

/// A single running unit. The same lifecycle whatever its kind or backend.
#[async_trait]
pub trait Container: Send + Sync {
    /// Backend-assigned id (a container id, a pod name, `host`).
    fn id(&self) -> &str;

    /// The workspace and temp paths as seen inside this container.
    fn paths(&self) -> ContainerPaths;

    /// Environment every exec on this target inherits before the step's own variables
    /// (the host backend: the environment gantry was started with, minus secrets; a
    /// container backend: nothing, since the image's environment already applies).
    /// The engine merges the step's env on top and passes the result in [`ExecRequest::env`].
    fn inherited_env(&self) -> IndexMap<String, String> {
        IndexMap::new()
    }

    /// Starts the container. Idempotent for targets that are always running (host).
    ///
    /// Step containers ([`ContainerKind::Step`]) are never started this way: they run
    /// once, through [`Container::exec`].
    async fn start(&self) -> Result<(), BackendError>;

    /// Runs `req`, sending output chunks to `output` as they come, until the process ends.
    ///
    /// On a step container ([`ContainerKind::Step`]) this runs the container itself once:
    /// `req.argv` replaces the image's command (empty keeps the image default, the spec's
    /// `entrypoint` applies), `req.env` is its environment, and the returned status is
    /// the container's exit status.
    ///
    /// The backend watches `stop`: on [`StopLevel::Terminate`](crate::StopLevel) it asks the
    /// process tree to stop, on `Kill` it kills it, and in both cases still returns the
    /// exit status. The container itself stays alive for later steps.
    async fn exec(
        &self,
        req: ExecRequest,
        output: OutputSender,
        stop: StopReceiver,
    ) -> Result<ExitStatus, BackendError>;

    /// Unpacks the tar stream `archive` into directory `dest` (created if missing).
    async fn copy_in(&self, dest: &str, archive: BoxedReader) -> Result<(), BackendError>;

    /// Streams `path` (file or directory) out as a tar archive whose entries are relative
    /// to `path`'s parent, like `docker cp`.
    async fn copy_out(&self, path: &str) -> Result<BoxedReader, BackendError>;

    /// Writes one file (scripts, empty env files). The default builds a one-entry tar and
    /// goes through [`Container::copy_in`]; backends with a cheaper path override it.
    async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), BackendError> {
        let (dir, name) = split_path(path)?;
        let mut builder = TarOne::new();
        builder.add(name, contents, mode);
        self.copy_in(dir, Box::new(std::io::Cursor::new(builder.finish())))
            .await
    }

    /// Reads a small file (an env or output file), `None` when it does not exist.
    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, BackendError>;

    /// Writes several small files (a step's script and its env files) at once. The default
    /// writes them one by one; remote backends override it to save round trips.
    async fn write_files(&self, files: &[(String, Vec<u8>, u32)]) -> Result<(), BackendError> {
        for (path, contents, mode) in files {
            self.write_file(path, contents, *mode).await?;
        }
        Ok(())
    }

    /// Reads several small files at once (`None` for missing ones), in the order given.
    /// The default reads them one by one; remote backends override it.
    async fn read_files(&self, paths: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let mut out = Vec::with_capacity(paths.len());
        for p in paths {
            out.push(self.read_file(p).await?);
        }
        Ok(out)
    }

    /// The container's health.
    async fn health(&self) -> Result<Health, BackendError>;

    /// Stops and removes the container and what it owns. Idempotent.
    async fn remove(&self) -> Result<(), BackendError>;
}

fn split_path(path: &str) -> Result<(&str, &str), BackendError> {
    match path.rsplit_once('/') {
        Some((dir, name)) if !name.is_empty() => Ok((if dir.is_empty() { "/" } else { dir }, name)),
        _ => Err(BackendError::InvalidRequest(format!(
            "`{path}` is not an absolute file path"
        ))),
    }
}

/// A minimal ustar writer for the one-file case of [`Container::write_file`], so the
/// contract crate needs no tar dependency.
struct TarOne {
    buf: Vec<u8>,
}

impl TarOne {
    fn new() -> Self {
        TarOne { buf: Vec::new() }
    }

    fn add(&mut self, name: &str, contents: &[u8], mode: u32) {
        let mut header = [0u8; 512];
        let name_bytes = name.as_bytes();
        let n = name_bytes.len().min(100);
        header[..n].copy_from_slice(&name_bytes[..n]);
        write_octal(&mut header[100..108], u64::from(mode & 0o7777));
        write_octal(&mut header[108..116], 0);
        write_octal(&mut header[116..124], 0);
        write_octal(&mut header[124..136], contents.len() as u64);
        write_octal(&mut header[136..148], 0);
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u64 = header.iter().map(|b| u64::from(*b)).sum();
        write_octal(&mut header[148..155], sum);
        header[155] = b' ';
        self.buf.extend_from_slice(&header);
        self.buf.extend_from_slice(contents);
        let pad = (512 - contents.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf.extend(std::iter::repeat_n(0u8, 1024));
        self.buf
    }
}

fn write_octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let s = format!("{value:0width$o}");
    let bytes = s.as_bytes();
    let start = bytes.len().saturating_sub(width);
    field[..width].copy_from_slice(&bytes[start..]);
    field[width] = 0;
}
