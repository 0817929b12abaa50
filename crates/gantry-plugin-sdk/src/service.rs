//! The `gantry.backend.v1.Backend` gRPC service over any contract backend: ids for the
//! environments and containers it creates, each call guarded against panics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt, TryStreamExt};
use gantry_backend::{
    Backend, BackendError, Container, EnvironmentRequest, ExecutionEnvironment, StopLevel,
    WorkspaceSource,
};
use gantry_plugin_proto::convert::{self, Malformed};
use gantry_plugin_proto::v1;
use gantry_plugin_proto::CHUNK_BYTES;
use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};

use crate::exec::stream_exec;

type Result<T> = std::result::Result<Response<T>, Status>;
type BoxStream<T> = std::pin::Pin<Box<dyn Stream<Item = std::result::Result<T, Status>> + Send>>;

/// What the service tracks for one environment.
struct EnvEntry {
    env: Arc<dyn ExecutionEnvironment>,
    run_id: String,
    primary: Option<String>,
}

/// What the service tracks for one container.
struct ContainerEntry {
    container: Arc<dyn Container>,
    env_id: String,
}

/// Shared state of the service.
#[derive(Default)]
struct Tables {
    envs: HashMap<String, EnvEntry>,
    containers: HashMap<String, ContainerEntry>,
    execs: HashMap<String, watch::Sender<StopLevel>>,
}

/// The service. Cheap to clone; all clones share the tables.
#[derive(Clone)]
pub struct PluginService {
    backend: Arc<dyn Backend>,
    runner_name: String,
    tables: Arc<Mutex<Tables>>,
    next_id: Arc<AtomicU64>,
}

/// Runs `fut` in its own task so a panic in plugin code becomes an INTERNAL status
/// naming the call, instead of tearing down the connection.
async fn guarded<T: Send + 'static>(
    call: &str,
    fut: impl std::future::Future<Output = std::result::Result<T, BackendError>> + Send + 'static,
) -> std::result::Result<T, Status> {
    match tokio::spawn(fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(convert::error_to_status(&e)),
        Err(join) => Err(Status::internal(format!(
            "the plugin panicked in {call}: {}",
            panic_text(join)
        ))),
    }
}

fn panic_text(join: tokio::task::JoinError) -> String {
    match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic".into()),
        Err(e) => e.to_string(),
    }
}

fn lock(tables: &Mutex<Tables>) -> std::sync::MutexGuard<'_, Tables> {
    tables.lock().unwrap_or_else(|p| p.into_inner())
}

impl PluginService {
    /// A service serving `backend`; `runner_name` is announced in the capabilities.
    pub fn new(backend: Arc<dyn Backend>, runner_name: impl Into<String>) -> Self {
        PluginService {
            backend,
            runner_name: runner_name.into(),
            tables: Arc::default(),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    fn fresh_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}-{}",
            std::process::id(),
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn container(&self, id: &str) -> std::result::Result<Arc<dyn Container>, Status> {
        lock(&self.tables)
            .containers
            .get(id)
            .map(|c| c.container.clone())
            .ok_or_else(|| Status::not_found(format!("no container `{id}`")))
    }

    fn register(&self, env_id: &str, container: Arc<dyn Container>) -> v1::ContainerInfo {
        let id = self.fresh_id("c");
        let paths = container.paths();
        let info = v1::ContainerInfo {
            container_id: id.clone(),
            workspace: paths.workspace,
            temp: paths.temp,
            inherited_env: container.inherited_env().into_iter().collect(),
        };
        lock(&self.tables).containers.insert(
            id,
            ContainerEntry {
                container,
                env_id: env_id.into(),
            },
        );
        info
    }

    /// Removes every environment still open: what a plugin does on SIGTERM before it
    /// stops serving, so nothing it started outlives it.
    pub async fn remove_all(&self) {
        let envs: Vec<_> = {
            let mut t = lock(&self.tables);
            t.containers.clear();
            t.envs.drain().map(|(_, e)| e.env).collect()
        };
        for env in envs {
            if let Err(e) = env.remove().await {
                tracing::warn!("removing environment {}: {e}", env.id());
            }
        }
    }

    /// Run ids of the environments currently open.
    pub fn live_runs(&self) -> Vec<String> {
        lock(&self.tables)
            .envs
            .values()
            .map(|e| e.run_id.clone())
            .collect()
    }
}

fn required<'a>(field: &str, value: &'a str) -> std::result::Result<&'a str, Status> {
    if value.is_empty() {
        Err(Malformed::new(field, "empty").into())
    } else {
        Ok(value)
    }
}

#[tonic::async_trait]
impl v1::backend_server::Backend for PluginService {
    async fn get_capabilities(
        &self,
        _req: Request<v1::GetCapabilitiesRequest>,
    ) -> Result<v1::Capabilities> {
        let caps = self.backend.capabilities();
        Ok(Response::new(convert::capabilities_to_wire(
            &caps,
            &self.runner_name,
        )))
    }

    async fn validate_label(
        &self,
        req: Request<v1::ValidateLabelRequest>,
    ) -> Result<v1::ValidateLabelResponse> {
        let spec = convert::label_from_wire(self.backend.id(), req.into_inner().label)?;
        let error = match self.backend.validate_label(&spec) {
            Ok(()) => String::new(),
            Err(BackendError::InvalidLabel { reason, .. }) => reason,
            Err(e) => e.to_string(),
        };
        Ok(Response::new(v1::ValidateLabelResponse { error }))
    }

    async fn create_environment(
        &self,
        req: Request<v1::CreateEnvironmentRequest>,
    ) -> Result<v1::CreateEnvironmentResponse> {
        let r = req.into_inner();
        let run_id = required("run_id", &r.run_id)?.to_string();
        let job_id = required("job_id", &r.job_id)?.to_string();
        let label = convert::label_from_wire(self.backend.id(), r.label)?;
        // Without a local path (gantry on another machine uploads the workspace), the
        // environment starts from an empty directory.
        let workspace = if r.workspace_path.is_empty() {
            let empty = std::env::temp_dir().join("gantry-plugin-empty-workspace");
            std::fs::create_dir_all(&empty)
                .map_err(|e| Status::internal(format!("creating {}: {e}", empty.display())))?;
            empty
        } else {
            r.workspace_path.into()
        };
        let mut request = EnvironmentRequest::new(
            run_id.clone(),
            job_id,
            label,
            WorkspaceSource::new(workspace, r.bind),
        );
        request.timeout =
            (r.job_timeout_seconds > 0).then(|| Duration::from_secs(r.job_timeout_seconds));
        let backend = self.backend.clone();
        let env = guarded("CreateEnvironment", async move {
            backend.create_environment(request).await
        })
        .await?;
        let id = self.fresh_id("env");
        let runner = convert::runner_to_wire(&env.runner());
        let docker = env.docker_endpoint().map(|e| convert::endpoint_to_wire(&e));
        lock(&self.tables).envs.insert(
            id.clone(),
            EnvEntry {
                env,
                run_id,
                primary: None,
            },
        );
        Ok(Response::new(v1::CreateEnvironmentResponse {
            environment_id: id,
            runner: Some(runner),
            docker,
        }))
    }

    async fn primary(&self, req: Request<v1::PrimaryRequest>) -> Result<v1::ContainerInfo> {
        let env_id = req.into_inner().environment_id;
        let (env, existing) = {
            let t = lock(&self.tables);
            let entry = t
                .envs
                .get(&env_id)
                .ok_or_else(|| Status::not_found(format!("no environment `{env_id}`")))?;
            (entry.env.clone(), entry.primary.clone())
        };
        if let Some(id) = existing {
            let c = self.container(&id)?;
            let paths = c.paths();
            return Ok(Response::new(v1::ContainerInfo {
                container_id: id,
                workspace: paths.workspace,
                temp: paths.temp,
                inherited_env: c.inherited_env().into_iter().collect(),
            }));
        }
        let container = guarded("Primary", async move { env.primary().await }).await?;
        let info = self.register(&env_id, container);
        if let Some(e) = lock(&self.tables).envs.get_mut(&env_id) {
            e.primary = Some(info.container_id.clone());
        }
        Ok(Response::new(info))
    }

    async fn remove_environment(
        &self,
        req: Request<v1::RemoveEnvironmentRequest>,
    ) -> Result<v1::RemoveEnvironmentResponse> {
        let env_id = req.into_inner().environment_id;
        let env = {
            let mut t = lock(&self.tables);
            t.containers.retain(|_, c| c.env_id != env_id);
            t.envs.remove(&env_id).map(|e| e.env)
        };
        if let Some(env) = env {
            guarded("RemoveEnvironment", async move { env.remove().await }).await?;
        }
        Ok(Response::new(v1::RemoveEnvironmentResponse {}))
    }

    async fn create_container(
        &self,
        req: Request<v1::CreateContainerRequest>,
    ) -> Result<v1::ContainerInfo> {
        let r = req.into_inner();
        let spec = convert::spec_from_wire(r.spec)?;
        let env = lock(&self.tables)
            .envs
            .get(&r.environment_id)
            .map(|e| e.env.clone())
            .ok_or_else(|| Status::not_found(format!("no environment `{}`", r.environment_id)))?;
        let container = guarded("CreateContainer", async move {
            env.create_container(spec).await
        })
        .await?;
        Ok(Response::new(self.register(&r.environment_id, container)))
    }

    async fn start_container(
        &self,
        req: Request<v1::ContainerRef>,
    ) -> Result<v1::StartContainerResponse> {
        let c = self.container(&req.into_inner().container_id)?;
        guarded("StartContainer", async move { c.start().await }).await?;
        Ok(Response::new(v1::StartContainerResponse {}))
    }

    type ExecStream = BoxStream<v1::ExecEvent>;

    async fn exec(&self, req: Request<v1::ExecRequest>) -> Result<Self::ExecStream> {
        let r = req.into_inner();
        let exec_req = convert::exec_from_wire(&r)?;
        let container = self.container(&r.container_id)?;
        let (stop_tx, stop_rx) = watch::channel(StopLevel::Run);
        {
            let mut t = lock(&self.tables);
            if t.execs.contains_key(&r.exec_id) {
                return Err(Status::invalid_argument(format!(
                    "exec_id `{}` is already running",
                    r.exec_id
                )));
            }
            t.execs.insert(r.exec_id.clone(), stop_tx.clone());
        }
        let tables = self.tables.clone();
        let exec_id = r.exec_id;
        let stream = stream_exec(container, exec_req, stop_tx, stop_rx, move || {
            lock(&tables).execs.remove(&exec_id);
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn signal(&self, req: Request<v1::SignalRequest>) -> Result<v1::SignalResponse> {
        let r = req.into_inner();
        let level = convert::stop_from_wire(r.level)?;
        if let Some(tx) = lock(&self.tables).execs.get(&r.exec_id) {
            tx.send_if_modified(|cur| {
                let raise = level > *cur;
                if raise {
                    *cur = level;
                }
                raise
            });
        }
        Ok(Response::new(v1::SignalResponse {}))
    }

    async fn copy_in(
        &self,
        req: Request<Streaming<v1::CopyInMessage>>,
    ) -> Result<v1::CopyInResponse> {
        let mut stream = req.into_inner();
        let header = match stream.message().await? {
            Some(v1::CopyInMessage {
                message: Some(v1::copy_in_message::Message::Header(h)),
            }) => h,
            _ => {
                return Err(Status::invalid_argument(
                    "the first CopyIn message must be the header",
                ))
            }
        };
        if !header.dest.starts_with('/') {
            return Err(Malformed::new(
                "header.dest",
                format!("`{}` is not an absolute path", header.dest),
            )
            .into());
        }
        let container = self.container(&header.container_id)?;
        let chunks = stream
            .map_err(|s| std::io::Error::other(format!("CopyIn stream: {}", s.message())))
            .and_then(|m| async move {
                match m.message {
                    Some(v1::copy_in_message::Message::Chunk(b)) => Ok(b),
                    _ => Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "a CopyIn message after the first must be a chunk",
                    )),
                }
            });
        let reader = tokio_util::io::StreamReader::new(Box::pin(chunks));
        let dest = header.dest;
        guarded("CopyIn", async move {
            container.copy_in(&dest, Box::new(reader)).await
        })
        .await?;
        Ok(Response::new(v1::CopyInResponse {}))
    }

    type CopyOutStream = BoxStream<v1::CopyOutChunk>;

    async fn copy_out(&self, req: Request<v1::CopyOutRequest>) -> Result<Self::CopyOutStream> {
        let r = req.into_inner();
        if !r.path.starts_with('/') {
            return Err(
                Malformed::new("path", format!("`{}` is not an absolute path", r.path)).into(),
            );
        }
        let container = self.container(&r.container_id)?;
        let path = r.path;
        let reader = guarded("CopyOut", async move { container.copy_out(&path).await }).await?;
        let stream = tokio_util::io::ReaderStream::with_capacity(reader, CHUNK_BYTES).map(|r| {
            r.map(|chunk| v1::CopyOutChunk { chunk })
                .map_err(|e| Status::internal(format!("reading the archive: {e}")))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn write_files(
        &self,
        req: Request<v1::WriteFilesRequest>,
    ) -> Result<v1::WriteFilesResponse> {
        let r = req.into_inner();
        let container = self.container(&r.container_id)?;
        let mut files = Vec::with_capacity(r.files.len());
        for (i, f) in r.files.into_iter().enumerate() {
            if !f.path.starts_with('/') {
                return Err(Malformed::new(
                    format!("files[{i}].path"),
                    format!("`{}` is not an absolute path", f.path),
                )
                .into());
            }
            let mode = if f.mode == 0 { 0o644 } else { f.mode & 0o7777 };
            files.push((f.path, f.contents.to_vec(), mode));
        }
        guarded(
            "WriteFiles",
            async move { container.write_files(&files).await },
        )
        .await?;
        Ok(Response::new(v1::WriteFilesResponse {}))
    }

    async fn read_env_file(
        &self,
        req: Request<v1::ReadEnvFileRequest>,
    ) -> Result<v1::ReadEnvFileResponse> {
        let r = req.into_inner();
        let container = self.container(&r.container_id)?;
        if let Some((i, p)) = r
            .paths
            .iter()
            .enumerate()
            .find(|(_, p)| !p.starts_with('/'))
        {
            return Err(Malformed::new(
                format!("paths[{i}]"),
                format!("`{p}` is not an absolute path"),
            )
            .into());
        }
        let paths = r.paths;
        let contents = guarded(
            "ReadEnvFile",
            async move { container.read_files(&paths).await },
        )
        .await?;
        let files = contents
            .into_iter()
            .map(|c| v1::FileContents {
                exists: c.is_some(),
                contents: c.unwrap_or_default().into(),
            })
            .collect();
        Ok(Response::new(v1::ReadEnvFileResponse { files }))
    }

    async fn health(&self, req: Request<v1::ContainerRef>) -> Result<v1::HealthResponse> {
        let c = self.container(&req.into_inner().container_id)?;
        let h = guarded("Health", async move { c.health().await }).await?;
        Ok(Response::new(convert::health_to_wire(&h)))
    }

    async fn remove_container(
        &self,
        req: Request<v1::ContainerRef>,
    ) -> Result<v1::RemoveContainerResponse> {
        let id = req.into_inner().container_id;
        let c = lock(&self.tables).containers.remove(&id);
        if let Some(c) = c {
            let container = c.container;
            guarded("RemoveContainer", async move { container.remove().await }).await?;
            if let Some(e) = lock(&self.tables).envs.get_mut(&c.env_id) {
                if e.primary.as_deref() == Some(id.as_str()) {
                    e.primary = None;
                }
            }
        }
        Ok(Response::new(v1::RemoveContainerResponse {}))
    }

    async fn reap(&self, req: Request<v1::ReapRequest>) -> Result<v1::ReapResponse> {
        // gantry names every run in progress; anything else is a leftover, even an
        // environment this process still tracks (its gantry died).
        let live = req.into_inner().live_run_ids;
        let backend = self.backend.clone();
        let report = guarded("Reap", async move { backend.reap(&live).await }).await?;
        Ok(Response::new(v1::ReapResponse {
            removed: report.removed,
            failed: report.failed,
        }))
    }
}
