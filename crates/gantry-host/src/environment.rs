//! One job on the host: its directory, its step processes, and their removal.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use gantry_backend::{
    capabilities, BackendError, BoxedReader, Container, ContainerPaths, ContainerSpec,
    EnvironmentRequest, ExecRequest, ExecutionEnvironment, ExitStatus, Health, OutputSender,
    RunnerInfo, StopReceiver,
};
use indexmap::IndexMap;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::config::{HostConfig, JobSetup};
use crate::proc_scan::{self, ENV_VAR, OWNER_VAR, RUN_VAR};
use crate::run_dir::RunDirs;
use crate::supervisor::Supervisor;
use crate::{archive, process, workspace};

/// A job's directory and the processes started in it.
pub(crate) struct HostEnvironment {
    id: String,
    dir: PathBuf,
    run_dir: PathBuf,
    dirs: RunDirs,
    target: Arc<HostTarget>,
    runner: RunnerInfo,
}

/// The host itself as the place steps run: the job's workspace and temp dir.
pub(crate) struct HostTarget {
    workspace: PathBuf,
    temp: PathBuf,
    extra_env: IndexMap<String, String>,
    groups: Mutex<Vec<i32>>,
    env_id: String,
    /// Starts the steps and ends whatever they leave, however detached.
    supervisor: Option<Supervisor>,
}

fn slug(key: &str) -> String {
    let s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if s.is_empty() {
        "job".into()
    } else {
        s
    }
}

fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl HostEnvironment {
    pub(crate) async fn create(
        config: &HostConfig,
        owner: &str,
        dirs: &RunDirs,
        setup: &JobSetup,
        req: EnvironmentRequest,
    ) -> Result<Self, BackendError> {
        if !valid_run_id(&req.run_id) {
            return Err(BackendError::InvalidRequest(format!(
                "run id `{}` is not a plain name",
                req.run_id
            )));
        }
        // A fresh directory per environment, even for jobs with the same key.
        let (run_dir, dir) = dirs.create_job_dir(&config.root, &req.run_id, &slug(&req.job_key))?;
        let temp = dir.join("temp");
        std::fs::create_dir_all(&temp).map_err(|e| BackendError::io(temp.display(), e))?;
        let workspace = if req.workspace.bind {
            req.workspace.path.clone()
        } else {
            let ws = dir.join("workspace");
            std::fs::create_dir_all(&ws).map_err(|e| BackendError::io(ws.display(), e))?;
            let src = req.workspace.path.clone();
            let dest = ws.clone();
            let mut skip = vec![config.root.clone()];
            skip.extend(setup.keep_out.iter().cloned());
            let copied =
                tokio::task::spawn_blocking(move || workspace::copy_tree(&src, &dest, &skip))
                    .await
                    .map_err(|e| BackendError::Other(format!("workspace copy task failed: {e}")))?;
            if let Err(e) = copied {
                let _ = dirs.remove_job_dir(&run_dir, &dir);
                return Err(e);
            }
            ws
        };
        let env_id = format!(
            "{}/{}",
            req.run_id,
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let mut extra_env = IndexMap::new();
        extra_env.insert(RUN_VAR.to_string(), req.run_id.clone());
        extra_env.insert(OWNER_VAR.to_string(), owner.to_string());
        extra_env.insert(ENV_VAR.to_string(), env_id.clone());
        let supervisor = match setup.supervisor.as_deref() {
            Some(exe) => match Supervisor::launch(exe, dir.clone()) {
                Ok(s) => Some(s),
                Err(e) => {
                    let _ = dirs.remove_job_dir(&run_dir, &dir);
                    return Err(e);
                }
            },
            None => None,
        };
        let mut runner = RunnerInfo::new(
            config.runner_name.clone(),
            capabilities::host_os(),
            capabilities::host_arch(),
        );
        runner.temp = temp.display().to_string();
        runner.tool_cache = config.root.join("tool-cache").display().to_string();
        Ok(HostEnvironment {
            id: env_id.clone(),
            dir,
            run_dir,
            dirs: dirs.clone(),
            target: Arc::new(HostTarget {
                workspace,
                temp,
                extra_env,
                groups: Mutex::new(Vec::new()),
                env_id,
                supervisor,
            }),
            runner,
        })
    }
}

#[async_trait]
impl ExecutionEnvironment for HostEnvironment {
    fn id(&self) -> &str {
        &self.id
    }

    fn runner(&self) -> RunnerInfo {
        self.runner.clone()
    }

    async fn primary(&self) -> Result<Arc<dyn Container>, BackendError> {
        Ok(self.target.clone())
    }

    async fn create_container(
        &self,
        spec: ContainerSpec,
    ) -> Result<Arc<dyn Container>, BackendError> {
        let layer = match spec.kind {
            Some(gantry_backend::ContainerKind::Service) => "service containers",
            Some(gantry_backend::ContainerKind::Step) => "step containers",
            _ => "job containers",
        };
        Err(BackendError::Unsupported {
            backend: "host".into(),
            what: layer.into(),
        })
    }

    async fn remove(&self) -> Result<(), BackendError> {
        self.target.end_all().await;
        let (dirs, dir, run_dir) = (self.dirs.clone(), self.dir.clone(), self.run_dir.clone());
        tokio::task::spawn_blocking(move || dirs.remove_job_dir(&run_dir, &dir))
            .await
            .map_err(|e| BackendError::Other(format!("removal task failed: {e}")))?
    }
}

impl HostTarget {
    /// Ends every process of the job: the supervisor kills everything below it, then
    /// groups and tagged processes that may have started without it.
    async fn end_all(&self) {
        if let Some(s) = &self.supervisor {
            s.shutdown().await;
        }
        self.kill_all();
    }

    /// SIGKILLs every process group started here, and any process that escaped its
    /// group (setsid) but still carries this environment's id.
    fn kill_all(&self) {
        let groups: Vec<i32> = self.groups.lock().map(|g| g.clone()).unwrap_or_default();
        for pgid in groups {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        for p in proc_scan::tagged_processes() {
            if p.env.as_deref() == Some(self.env_id.as_str()) {
                proc_scan::kill_hard(p.pid);
            }
        }
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.workspace.join(p)
        }
    }
}

#[async_trait]
impl Container for HostTarget {
    fn id(&self) -> &str {
        "host"
    }

    fn paths(&self) -> ContainerPaths {
        ContainerPaths::new(
            self.workspace.display().to_string(),
            self.temp.display().to_string(),
        )
    }

    fn inherited_env(&self) -> IndexMap<String, String> {
        std::env::vars()
            .filter(|(k, _)| !k.starts_with("GANTRY_"))
            .collect()
    }

    async fn start(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn exec(
        &self,
        req: ExecRequest,
        output: OutputSender,
        stop: StopReceiver,
    ) -> Result<ExitStatus, BackendError> {
        let cwd = match &req.working_dir {
            Some(d) => self.resolve(d),
            None => self.workspace.clone(),
        };
        process::run(
            req,
            &self.extra_env,
            &cwd,
            self.supervisor.as_ref(),
            output,
            stop,
            |pgid| {
                if let Ok(mut g) = self.groups.lock() {
                    g.push(pgid);
                }
            },
        )
        .await
    }

    async fn copy_in(&self, dest: &str, archive: BoxedReader) -> Result<(), BackendError> {
        archive::unpack(self.resolve(dest), archive).await
    }

    async fn copy_out(&self, path: &str) -> Result<BoxedReader, BackendError> {
        archive::pack(self.resolve(path))
    }

    async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), BackendError> {
        // Small files on the local disk: direct syscalls beat a hop to the blocking pool.
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let p = self.resolve(path);
        let open = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .open(&p)
        };
        let mut file = match open() {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| BackendError::io(parent.display(), e))?;
                }
                open().map_err(|e| BackendError::io(p.display(), e))?
            }
            Err(e) => return Err(BackendError::io(p.display(), e)),
        };
        file.write_all(contents)
            .map_err(|e| BackendError::io(p.display(), e))
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let p = self.resolve(path);
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BackendError::io(p.display(), e)),
        }
    }

    async fn health(&self) -> Result<Health, BackendError> {
        Ok(Health::Running)
    }

    async fn remove(&self) -> Result<(), BackendError> {
        self.end_all().await;
        Ok(())
    }
}
