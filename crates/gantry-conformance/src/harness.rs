//! What each case gets, and small steps cases share.

use std::path::PathBuf;
use std::sync::Arc;

use gantry_backend::{
    Backend, Container, EnvironmentRequest, ExecRequest, ExecutionEnvironment, ExitStatus,
    LabelSpec, OutputChunk, StopLevel, Stream, WorkspaceSource,
};
use indexmap::IndexMap;
use tokio::sync::{mpsc, watch};

/// The context of one case.
#[derive(Clone)]
pub struct Ctx {
    /// The backend under test.
    pub backend: Arc<dyn Backend>,
    /// The label its environments are made for.
    pub label: LabelSpec,
    /// The workspace copied into environments.
    pub workspace: PathBuf,
    /// The run id environments are made under.
    pub run_id: String,
}

/// What an exec produced.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: Option<ExitStatus>,
}

impl Output {
    pub(crate) fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

pub(crate) type CaseResult = Result<String, String>;

impl Ctx {
    /// A fresh environment for this case, with the run id given.
    pub async fn env_for(&self, run_id: &str) -> Result<Arc<dyn ExecutionEnvironment>, String> {
        let req = EnvironmentRequest::new(
            run_id,
            "conformance",
            self.label.clone(),
            WorkspaceSource::new(&self.workspace, false),
        );
        self.backend
            .create_environment(req)
            .await
            .map_err(|e| format!("create_environment: {e}"))
    }

    /// A fresh environment for one case.
    pub async fn env(&self) -> Result<Arc<dyn ExecutionEnvironment>, String> {
        self.env_for(&self.run_id).await
    }

    /// The environment's primary target, started.
    pub async fn primary(
        &self,
        env: &Arc<dyn ExecutionEnvironment>,
    ) -> Result<Arc<dyn Container>, String> {
        let c = env.primary().await.map_err(|e| format!("primary: {e}"))?;
        c.start().await.map_err(|e| format!("start: {e}"))?;
        Ok(c)
    }
}

/// Runs `sh -c script` with `env`, collecting output; `stop` lets a case signal it.
pub(crate) async fn sh(
    c: &Arc<dyn Container>,
    script: &str,
    env: &[(&str, &str)],
    stop: Option<watch::Receiver<StopLevel>>,
) -> Result<Output, String> {
    let mut vars: IndexMap<String, String> = IndexMap::new();
    vars.insert(
        "PATH".into(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
    );
    for (k, v) in env {
        vars.insert(k.to_string(), v.to_string());
    }
    let req = ExecRequest::new(vec!["sh".into(), "-c".into(), script.into()]).env(vars);
    exec(c, req, stop).await
}

/// Runs `req`, collecting all output.
pub(crate) async fn exec(
    c: &Arc<dyn Container>,
    req: ExecRequest,
    stop: Option<watch::Receiver<StopLevel>>,
) -> Result<Output, String> {
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(16);
    let (_keep, default_stop) = watch::channel(StopLevel::Run);
    let stop = stop.unwrap_or(default_stop);
    let collect = tokio::spawn(async move {
        let mut out = Output::default();
        while let Some(chunk) = rx.recv().await {
            match chunk.stream {
                Stream::Stdout => out.stdout.extend_from_slice(&chunk.data),
                Stream::Stderr => out.stderr.extend_from_slice(&chunk.data),
            }
        }
        out
    });
    let status = c
        .exec(req, tx, stop)
        .await
        .map_err(|e| format!("exec: {e}"))?;
    let mut out = collect
        .await
        .map_err(|e| format!("collecting output: {e}"))?;
    out.status = Some(status);
    Ok(out)
}

/// Fails with `what` unless `cond`.
pub(crate) fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}
