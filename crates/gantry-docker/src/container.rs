//! One container on an engine: exec with streamed output, stopping a step's processes
//! inside it, archives in and out, health, removal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::StartExecResults;
use bollard::models::{ExecConfig, HealthConfig, HealthStatusEnum};
use bollard::query_parameters::{
    DownloadFromContainerOptions, KillContainerOptions, LogsOptions, RemoveContainerOptions,
    UploadToContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use gantry_backend::{
    BackendError, BoxedReader, Container, ContainerKind, ContainerPaths, ContainerSpec,
    ExecRequest, ExitStatus, Health, OutputChunk, OutputSender, StopLevel, StopReceiver, Stream,
};
use tokio_util::io::StreamReader;

use crate::environment::EnvCore;
use crate::options::CreateFlags;
use crate::shim::Shim;
use crate::{TEMP, WORKSPACE, WORK_ROOT};

/// Variable marking every process of one exec, so a stop can find them inside the container.
const EXEC_MARK: &str = "GANTRY_EXEC_ID";

/// Signals every process group whose leader carries `GANTRY_EXEC_ID=$2` (an exec is its own
/// process-group leader in Docker and Podman; its children inherit both).
const KILL_SCRIPT: &str = r#"sig=$1; id=$2; for d in /proc/[0-9]*; do p=${d#/proc/}; if tr '\0' '\n' < "$d/environ" 2>/dev/null | grep -qx "GANTRY_EXEC_ID=$id"; then kill -"$sig" -"$p" 2>/dev/null || kill -"$sig" "$p" 2>/dev/null; fi; done"#;

pub(crate) struct DockerContainer {
    core: Arc<EnvCore>,
    id: OnceLock<String>,
    kind: ContainerKind,
    spec: Option<ContainerSpec>,
    execs: AtomicU64,
    probe: Mutex<HealthProbe>,
    /// The shim in a job container, once started; `None` when it is off or failed.
    shim: tokio::sync::OnceCell<Option<Arc<Shim>>>,
}

/// Where a service's own health check stands.
#[derive(Default)]
struct HealthProbe {
    first: Option<Instant>,
    last: Option<Instant>,
    failures: u32,
}

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl DockerContainer {
    pub(crate) fn new(
        core: Arc<EnvCore>,
        id: String,
        kind: ContainerKind,
        spec: Option<ContainerSpec>,
    ) -> Self {
        let cell = OnceLock::new();
        if !id.is_empty() {
            let _ = cell.set(id);
        }
        DockerContainer {
            core,
            id: cell,
            kind,
            spec,
            execs: AtomicU64::new(0),
            probe: Mutex::new(HealthProbe::default()),
            shim: tokio::sync::OnceCell::new(),
        }
    }

    fn docker(&self) -> &Docker {
        &self.core.docker
    }

    fn cid(&self) -> Result<&str, BackendError> {
        self.id.get().map(String::as_str).ok_or_else(|| {
            BackendError::InvalidRequest("the step container has not run yet".into())
        })
    }

    fn resolve(&self, path: &str) -> String {
        if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{WORKSPACE}/{path}")
        }
    }

    fn exec_err(&self, e: bollard::errors::Error) -> BackendError {
        BackendError::Exec(e.to_string())
    }

    /// Sends `signal` to the processes of exec `mark`, through a second exec.
    async fn signal_exec(docker: Docker, container: String, mark: String, signal: &'static str) {
        let cmd = vec![
            "sh".into(),
            "-c".into(),
            KILL_SCRIPT.into(),
            "gantry-stop".into(),
            signal.into(),
            mark,
        ];
        let config = ExecConfig {
            cmd: Some(cmd),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let Ok(created) = docker.create_exec(&container, config).await else {
            return;
        };
        if let Ok(StartExecResults::Attached { mut output, .. }) =
            docker.start_exec(&created.id, None).await
        {
            while output.next().await.is_some() {}
        }
    }

    /// The shim of a job container, started on first use; `None` means plain execs.
    async fn shim(&self) -> Option<Arc<Shim>> {
        if self.kind != ContainerKind::Job || !self.core.shim {
            return None;
        }
        let id = self.id.get()?.clone();
        self.shim
            .get_or_init(|| async {
                match Shim::start(&self.core.docker, &id).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!("gantry-shim did not start in container {} ({e}); steps use Engine API execs", crate::backend::short(&id));
                        None
                    }
                }
            })
            .await
            .clone()
    }

    async fn exec_in(
        &self,
        req: ExecRequest,
        output: OutputSender,
        mut stop: StopReceiver,
    ) -> Result<ExitStatus, BackendError> {
        if req.argv.is_empty() {
            return Err(BackendError::InvalidRequest(
                "empty argv: nothing to run".into(),
            ));
        }
        if req.user.is_none() {
            if let Some(shim) = self.shim().await {
                let env: Vec<String> = req.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let cwd = req
                    .working_dir
                    .as_deref()
                    .map(|d| self.resolve(d))
                    .unwrap_or_else(|| WORKSPACE.into());
                return shim.run(&req.argv, &env, &cwd, output, stop).await;
            }
        }
        let id = self.cid()?.to_string();
        let mark = format!(
            "{}-{}",
            crate::backend::short(&id),
            self.execs.fetch_add(1, Ordering::Relaxed)
        );
        let mut env: Vec<String> = req.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("{EXEC_MARK}={mark}"));
        let config = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(req.argv.clone()),
            env: Some(env),
            working_dir: Some(
                req.working_dir
                    .as_deref()
                    .map(|d| self.resolve(d))
                    .unwrap_or_else(|| WORKSPACE.into()),
            ),
            user: req.user.clone(),
            ..Default::default()
        };
        let created = self
            .docker()
            .create_exec(&id, config)
            .await
            .map_err(|e| self.exec_err(e))?;
        let started = self
            .docker()
            .start_exec(&created.id, None)
            .await
            .map_err(|e| self.exec_err(e))?;
        let StartExecResults::Attached {
            output: mut stream, ..
        } = started
        else {
            return Err(BackendError::Exec("the engine detached the exec".into()));
        };
        let mut stop_open = true;
        loop {
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(LogOutput::StdOut { message })) | Some(Ok(LogOutput::Console { message })) => {
                        if output.send(OutputChunk { stream: Stream::Stdout, data: message }).await.is_err() { break; }
                    }
                    Some(Ok(LogOutput::StdErr { message })) => {
                        if output.send(OutputChunk { stream: Stream::Stderr, data: message }).await.is_err() { break; }
                    }
                    Some(Ok(LogOutput::StdIn { .. })) => {}
                    Some(Err(e)) => return Err(BackendError::Exec(format!("output stream broke: {e}"))),
                    None => break,
                },
                changed = stop.changed(), if stop_open => {
                    if changed.is_err() { stop_open = false; continue; }
                    let signal = match *stop.borrow_and_update() {
                        StopLevel::Run => continue,
                        StopLevel::Terminate => "TERM",
                        StopLevel::Kill => "KILL",
                    };
                    tokio::spawn(Self::signal_exec(self.docker().clone(), id.clone(), mark.clone(), signal));
                }
            }
        }
        // The stream ends when the process does; the exit code may lag a moment.
        for _ in 0..50 {
            let info = self
                .docker()
                .inspect_exec(&created.id)
                .await
                .map_err(|e| self.exec_err(e))?;
            if info.running != Some(true) {
                return Ok(ExitStatus::code(info.exit_code.unwrap_or(-1) as i32));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Err(BackendError::Exec(
            "the exec's output ended but it is still running".into(),
        ))
    }

    /// The declared `--health-*` check of a service, if any.
    fn health_check(&self) -> Option<HealthConfig> {
        let h = self
            .spec
            .as_ref()?
            .options
            .as_deref()
            .and_then(|o| CreateFlags::parse(o).ok())?
            .health?;
        h.test.as_ref()?;
        Some(h)
    }

    /// Runs the check when its interval has passed; `retries` failures in a row after the
    /// start period make the service unhealthy, with the check's last output as the reason.
    async fn run_health_check(&self, check: HealthConfig) -> Result<Health, BackendError> {
        let ns = |v: Option<i64>, default_ms: u64| {
            v.filter(|n| *n > 0)
                .map(|n| Duration::from_nanos(n as u64))
                .unwrap_or(Duration::from_millis(default_ms))
        };
        let interval = ns(check.interval, 1000);
        let start_period = ns(check.start_period, 0);
        let timeout = ns(check.timeout, 30_000);
        let retries = check.retries.filter(|r| *r > 0).unwrap_or(3) as u32;
        {
            let probe = self
                .probe
                .lock()
                .map_err(|_| BackendError::Other("health state poisoned".into()))?;
            if probe.last.is_some_and(|t| t.elapsed() < interval) {
                return Ok(Health::Starting);
            }
        }
        let test = check.test.unwrap_or_default();
        let argv = match test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["sh".to_string(), "-c".to_string(), test[1..].join(" ")],
            Some("CMD") => test[1..].to_vec(),
            _ => test.clone(),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<OutputChunk>(16);
        let drain = tokio::spawn(async move {
            let mut last = Vec::new();
            while let Some(c) = rx.recv().await {
                last.extend_from_slice(&c.data);
                if last.len() > 4096 {
                    last.drain(..last.len() - 4096);
                }
            }
            last
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(StopLevel::Run);
        let mut req = ExecRequest::new(argv);
        req.working_dir = Some("/".into());
        let ran = tokio::time::timeout(timeout, self.exec_in(req, tx, stop_rx)).await;
        let _ = stop_tx.send(StopLevel::Kill);
        let out = drain.await.unwrap_or_default();
        let mut probe = self
            .probe
            .lock()
            .map_err(|_| BackendError::Other("health state poisoned".into()))?;
        let first = *probe.first.get_or_insert_with(Instant::now);
        probe.last = Some(Instant::now());
        let failure = match ran {
            Ok(Ok(status)) if status.success() => return Ok(Health::Healthy),
            Ok(Ok(status)) => format!(
                "`{}` exited with {}",
                test[1..].join(" "),
                status.code.unwrap_or(-1)
            ),
            Ok(Err(e)) => format!("`{}` could not run: {e}", test[1..].join(" ")),
            Err(_) => format!(
                "`{}` did not finish within {}s",
                test[1..].join(" "),
                timeout.as_secs()
            ),
        };
        if first.elapsed() < start_period {
            return Ok(Health::Starting);
        }
        probe.failures += 1;
        if probe.failures >= retries {
            let out = String::from_utf8_lossy(&out);
            let out = out.trim();
            return Ok(Health::Unhealthy(if out.is_empty() {
                format!("health check failed {retries} times: {failure}")
            } else {
                format!("health check failed {retries} times: {failure}: {out}")
            }));
        }
        Ok(Health::Starting)
    }

    /// A step container runs once: create with the step's arguments, start, follow its
    /// logs, wait for it.
    async fn run_step(
        &self,
        req: ExecRequest,
        output: OutputSender,
        mut stop: StopReceiver,
    ) -> Result<ExitStatus, BackendError> {
        let mut spec = self.spec.clone().ok_or_else(|| {
            BackendError::InvalidRequest("a step container without a spec".into())
        })?;
        for (k, v) in &req.env {
            spec.env.insert(k.clone(), v.clone());
        }
        let id = self.core.create_spec(&spec, Some(req.argv.clone())).await?;
        let _ = self.id.set(id.clone());
        let docker = self.docker().clone();
        docker
            .start_container(
                &id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(|e| self.exec_err(e))?;
        let mut logs = docker.logs(
            &id,
            Some(LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        );
        // The exit is awaited alongside the logs: Podman's followed logs do not always end
        // when a quick container exits, so once it has exited, output that stays quiet for
        // LOG_DRAIN ends the step.
        let mut wait = docker.wait_container(&id, None::<WaitContainerOptions>);
        let mut exit: Option<i64> = None;
        let drain = tokio::time::sleep(LOG_DRAIN);
        tokio::pin!(drain);
        let mut stop_open = true;
        loop {
            tokio::select! {
                item = logs.next() => {
                    if exit.is_some() {
                        drain.as_mut().reset(tokio::time::Instant::now() + LOG_DRAIN);
                    }
                    match item {
                        Some(Ok(LogOutput::StdOut { message })) | Some(Ok(LogOutput::Console { message })) => {
                            let _ = output.send(OutputChunk { stream: Stream::Stdout, data: message }).await;
                        }
                        Some(Ok(LogOutput::StdErr { message })) => {
                            let _ = output.send(OutputChunk { stream: Stream::Stderr, data: message }).await;
                        }
                        Some(Ok(LogOutput::StdIn { .. })) => {}
                        Some(Err(e)) => return Err(BackendError::Exec(format!("step container logs: {e}"))),
                        None => break,
                    }
                }
                waited = wait.next(), if exit.is_none() => {
                    exit = Some(exit_code(waited)?);
                    drain.as_mut().reset(tokio::time::Instant::now() + LOG_DRAIN);
                }
                _ = &mut drain, if exit.is_some() => {
                    tracing::debug!("step container {}: logs still open {LOG_DRAIN:?} after its exit; done", crate::backend::short(&id));
                    break;
                }
                changed = stop.changed(), if stop_open => {
                    if changed.is_err() { stop_open = false; continue; }
                    let signal = match *stop.borrow_and_update() {
                        StopLevel::Run => continue,
                        StopLevel::Terminate => "SIGTERM",
                        StopLevel::Kill => "SIGKILL",
                    };
                    let _ = docker.kill_container(&id, Some(KillContainerOptions { signal: signal.into() })).await;
                }
            }
        }
        let code = match exit {
            Some(code) => code,
            None => exit_code(wait.next().await)?,
        };
        Ok(ExitStatus::code(code as i32))
    }
}

/// How long a step container's logs may stay open, silent, after it exited.
const LOG_DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The exit code from a container wait's first answer.
fn exit_code(
    waited: Option<Result<bollard::models::ContainerWaitResponse, bollard::errors::Error>>,
) -> Result<i64, BackendError> {
    match waited {
        Some(Ok(r)) => Ok(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(BackendError::Exec(format!(
            "waiting for the step container: {e}"
        ))),
        None => Ok(-1),
    }
}

/// Uploads a tar stream into `path` of a container (which must exist there).
pub(crate) async fn upload(
    docker: &Docker,
    container: &str,
    path: &str,
    archive: BoxedReader,
) -> Result<(), BackendError> {
    // Checked while it streams; an escaping entry or a read error aborts the upload.
    let stream = tokio_stream::wrappers::ReceiverStream::new(gantry_archive::guarded(archive));
    docker
        .upload_to_container(
            container,
            Some(UploadToContainerOptions {
                path: path.to_string(),
                ..Default::default()
            }),
            bollard::body_try_stream(stream),
        )
        .await
        .map_err(|e| BackendError::Copy {
            direction: "in",
            path: path.to_string(),
            reason: e.to_string(),
        })
}

/// A tar holding `name` with `contents` (and `mode`), or a directory when `contents` is `None`.
pub(crate) fn one_entry(
    name: &str,
    contents: Option<&[u8]>,
    mode: u32,
) -> Result<Vec<u8>, BackendError> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    match contents {
        Some(c) => {
            h.set_size(c.len() as u64);
            h.set_mode(mode);
            b.append_data(&mut h, name, c)
        }
        None => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            h.set_mode(0o755);
            b.append_data(
                &mut h,
                format!("{}/", name.trim_end_matches('/')),
                std::io::empty(),
            )
        }
    }
    .and_then(|_| b.into_inner())
    .map_err(|e| BackendError::Copy {
        direction: "in",
        path: name.into(),
        reason: e.to_string(),
    })
}

/// Where to upload a path from: the job volume for paths in it (works with a read-only
/// root filesystem), else `/`.
fn upload_base(path: &str) -> (&'static str, &str) {
    match path
        .strip_prefix(WORK_ROOT)
        .and_then(|r| r.strip_prefix('/'))
    {
        Some(rest) => (WORK_ROOT, rest),
        None => ("/", path.trim_start_matches('/')),
    }
}

#[async_trait]
impl Container for DockerContainer {
    fn id(&self) -> &str {
        self.id.get().map(String::as_str).unwrap_or("step")
    }

    fn paths(&self) -> ContainerPaths {
        ContainerPaths::new(WORKSPACE, TEMP)
    }

    async fn start(&self) -> Result<(), BackendError> {
        if self.kind == ContainerKind::Step {
            return Ok(());
        }
        let id = self.cid()?;
        match self
            .docker()
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(BackendError::Setup {
                what: format!("starting container {}", crate::backend::short(id)),
                reason: e.to_string(),
            }),
        }
    }

    async fn exec(
        &self,
        req: ExecRequest,
        output: OutputSender,
        stop: StopReceiver,
    ) -> Result<ExitStatus, BackendError> {
        if self.kind == ContainerKind::Step {
            self.run_step(req, output, stop).await
        } else {
            self.exec_in(req, output, stop).await
        }
    }

    async fn copy_in(&self, dest: &str, archive: BoxedReader) -> Result<(), BackendError> {
        let id = self.cid()?;
        let dest = self.resolve(dest);
        // The archive API wants the destination to exist: create it first.
        let (base, rel) = upload_base(&dest);
        if !rel.is_empty() {
            let dir = one_entry(rel, None, 0o755)?;
            upload(self.docker(), id, base, Box::new(std::io::Cursor::new(dir))).await?;
        }
        upload(self.docker(), id, &dest, archive).await
    }

    async fn copy_out(&self, path: &str) -> Result<BoxedReader, BackendError> {
        let id = self.cid()?.to_string();
        let path = self.resolve(path);
        let stream = self
            .docker()
            .download_from_container(
                &id,
                Some(DownloadFromContainerOptions { path: path.clone() }),
            )
            .map(|r| r.map_err(std::io::Error::other));
        Ok(Box::new(StreamReader::new(stream)))
    }

    async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), BackendError> {
        let id = self.cid()?;
        let path = self.resolve(path);
        let (base, rel) = upload_base(&path);
        let archive = one_entry(rel, Some(contents), mode)?;
        upload(
            self.docker(),
            id,
            base,
            Box::new(std::io::Cursor::new(archive)),
        )
        .await
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let id = self.cid()?;
        let path = self.resolve(path);
        let mut stream = self.docker().download_from_container(
            id,
            Some(DownloadFromContainerOptions { path: path.clone() }),
        );
        let mut raw = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => raw.extend_from_slice(&b),
                Err(e) if not_found(&e) => return Ok(None),
                Err(e) => {
                    return Err(BackendError::Copy {
                        direction: "out",
                        path,
                        reason: e.to_string(),
                    })
                }
            }
        }
        let mut archive = tar::Archive::new(raw.as_slice());
        let entries = archive.entries().map_err(|e| BackendError::Copy {
            direction: "out",
            path: path.clone(),
            reason: e.to_string(),
        })?;
        for entry in entries {
            let mut entry = entry.map_err(|e| BackendError::Copy {
                direction: "out",
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if entry.header().entry_type().is_file() {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut out)
                    .map_err(|e| BackendError::io(&path, e))?;
                return Ok(Some(out));
            }
        }
        Ok(None)
    }

    async fn write_files(&self, files: &[(String, Vec<u8>, u32)]) -> Result<(), BackendError> {
        if let Some(shim) = self.shim().await {
            let files: Vec<(String, &[u8], u32)> = files
                .iter()
                .map(|(p, c, m)| (self.resolve(p), c.as_slice(), *m))
                .collect();
            return shim.write_files(&files).await;
        }
        // One archive for everything under the job volume: one round trip per step.
        let id = self.cid()?;
        let mut b = tar::Builder::new(Vec::new());
        let mut rest = Vec::new();
        for (path, contents, mode) in files {
            let path = self.resolve(path);
            match upload_base(&path) {
                (WORK_ROOT, rel) => {
                    let mut h = tar::Header::new_gnu();
                    h.set_size(contents.len() as u64);
                    h.set_mode(*mode);
                    b.append_data(&mut h, rel, contents.as_slice())
                        .map_err(|e| BackendError::Copy {
                            direction: "in",
                            path: path.clone(),
                            reason: e.to_string(),
                        })?;
                }
                _ => rest.push((path, contents, *mode)),
            }
        }
        let archive = b.into_inner().map_err(|e| BackendError::Copy {
            direction: "in",
            path: WORK_ROOT.into(),
            reason: e.to_string(),
        })?;
        upload(
            self.docker(),
            id,
            WORK_ROOT,
            Box::new(std::io::Cursor::new(archive)),
        )
        .await?;
        for (path, contents, mode) in rest {
            self.write_file(&path, contents, mode).await?;
        }
        Ok(())
    }

    async fn read_files(&self, paths: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let resolved: Vec<String> = paths.iter().map(|p| self.resolve(p)).collect();
        if let Some(shim) = self.shim().await {
            return shim.read_files(&resolved).await;
        }
        // Files of one directory come back in one archive of that directory.
        let parent = |p: &str| {
            p.rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default()
        };
        let dir = resolved.first().map(|p| parent(p)).unwrap_or_default();
        if dir.is_empty() || resolved.iter().any(|p| parent(p) != dir) {
            let mut out = Vec::new();
            for p in &resolved {
                out.push(self.read_file(p).await?);
            }
            return Ok(out);
        }
        let id = self.cid()?;
        let mut stream = self
            .docker()
            .download_from_container(id, Some(DownloadFromContainerOptions { path: dir.clone() }));
        let mut raw = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => raw.extend_from_slice(&b),
                Err(e) if not_found(&e) => return Ok(vec![None; paths.len()]),
                Err(e) => {
                    return Err(BackendError::Copy {
                        direction: "out",
                        path: dir,
                        reason: e.to_string(),
                    })
                }
            }
        }
        let base = dir.rsplit_once('/').map(|(_, n)| n).unwrap_or("");
        let mut found: std::collections::HashMap<String, Vec<u8>> =
            std::collections::HashMap::new();
        let mut archive = tar::Archive::new(raw.as_slice());
        let entries = archive.entries().map_err(|e| BackendError::Copy {
            direction: "out",
            path: dir.clone(),
            reason: e.to_string(),
        })?;
        for entry in entries {
            let mut entry = entry.map_err(|e| BackendError::Copy {
                direction: "out",
                path: dir.clone(),
                reason: e.to_string(),
            })?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut out)
                .map_err(|e| BackendError::io(&dir, e))?;
            found.insert(name, out);
        }
        Ok(resolved
            .iter()
            .map(|p| {
                let file = p.rsplit_once('/').map(|(_, n)| n).unwrap_or("");
                found.remove(&format!("{base}/{file}"))
            })
            .collect())
    }

    async fn health(&self) -> Result<Health, BackendError> {
        let id = self.cid()?;
        let info = self
            .docker()
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(|e| {
                BackendError::Other(format!(
                    "inspecting container {}: {e}",
                    crate::backend::short(id)
                ))
            })?;
        let state = info.state.unwrap_or_default();
        if state.running != Some(true) {
            return Ok(Health::Unhealthy(format!(
                "the container is not running (exit code {})",
                state.exit_code.unwrap_or(-1)
            )));
        }
        // Podman runs health checks from systemd timers, absent on many CI machines: gantry
        // runs the declared check itself, the same way on every engine.
        if let Some(check) = self.health_check() {
            return self.run_health_check(check).await;
        }
        Ok(
            match state.health.and_then(|h| h.status.map(|s| (s, h.log))) {
                Some((HealthStatusEnum::HEALTHY, _)) => Health::Healthy,
                Some((HealthStatusEnum::STARTING, _)) => Health::Starting,
                Some((HealthStatusEnum::UNHEALTHY, log)) => {
                    let last = log
                        .and_then(|l| l.last().and_then(|r| r.output.clone()))
                        .unwrap_or_default();
                    Health::Unhealthy(format!("health check failing: {}", last.trim()))
                }
                _ => Health::Running,
            },
        )
    }

    async fn remove(&self) -> Result<(), BackendError> {
        let Some(id) = self.id.get() else {
            return Ok(());
        };
        match self
            .docker()
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(BackendError::Other(format!(
                "removing container {}: {e}",
                crate::backend::short(id)
            ))),
        }
    }
}
