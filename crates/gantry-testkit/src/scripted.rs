//! The scripted backend: environments and a primary target that live in memory and run
//! scripts (see `script.rs`) instead of processes.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use gantry_backend::{
    Backend, BackendError, BackendRegistry, BoxedReader, Capabilities, Container, ContainerPaths,
    ContainerSpec, EnvironmentRequest, ExecRequest, ExecutionEnvironment, ExitStatus, Health,
    LabelSpec, OutputSender, ReapReport, RunnerInfo, StopReceiver,
};

use crate::script::{self, Context, Counters, Files};

/// The backend id and the `runs-on` label it serves.
pub const SCRIPTED: &str = "scripted";

/// One thing the engine asked of the backend, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalEntry {
    /// An environment was created for this job key.
    Created(String),
    /// A script ran for this job key (the probe for bash included).
    Exec {
        /// The job key.
        job: String,
        /// The script text.
        script: String,
    },
    /// The job's environment was removed.
    Removed(String),
}

/// An in-memory backend whose steps are scripts. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct ScriptedBackend {
    journal: Arc<Mutex<Vec<JournalEntry>>>,
    counters: Counters,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ScriptedBackend {
    /// A fresh backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with this backend, serving `runs-on: scripted`.
    pub fn registry(&self) -> BackendRegistry {
        let mut registry = BackendRegistry::new();
        registry.register(Arc::new(self.clone()));
        registry.map(LabelSpec::new(SCRIPTED, SCRIPTED));
        registry
    }

    /// Everything asked of the backend so far.
    pub fn journal(&self) -> Vec<JournalEntry> {
        locked(&self.journal).clone()
    }

    /// The scripts that ran for job `key` (steps only: the shell probe is left out).
    pub fn scripts(&self, key: &str) -> Vec<String> {
        self.journal()
            .into_iter()
            .filter_map(|e| match e {
                JournalEntry::Exec { job, script }
                    if job == key && !script.starts_with("command -v") =>
                {
                    Some(script)
                }
                _ => None,
            })
            .collect()
    }

    fn note(&self, entry: JournalEntry) {
        locked(&self.journal).push(entry);
    }
}

#[async_trait]
impl Backend for ScriptedBackend {
    fn id(&self) -> &str {
        SCRIPTED
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::plain(SCRIPTED)
    }

    fn validate_label(&self, _label: &LabelSpec) -> Result<(), BackendError> {
        Ok(())
    }

    async fn create_environment(
        &self,
        req: EnvironmentRequest,
    ) -> Result<Arc<dyn ExecutionEnvironment>, BackendError> {
        self.note(JournalEntry::Created(req.job_key.clone()));
        let root = format!("/scripted/{}", req.job_key);
        let target = Arc::new(ScriptedTarget {
            backend: self.clone(),
            job: req.job_key.clone(),
            files: Files::default(),
            paths: ContainerPaths::new(format!("{root}/workspace"), format!("{root}/temp")),
        });
        Ok(Arc::new(ScriptedEnvironment { id: root, target }))
    }

    async fn reap(&self, _live_runs: &[String]) -> Result<ReapReport, BackendError> {
        Ok(ReapReport::default())
    }

    async fn leftovers(&self, _live_runs: &[String]) -> Result<Option<Vec<String>>, BackendError> {
        Ok(Some(Vec::new()))
    }
}

struct ScriptedEnvironment {
    id: String,
    target: Arc<ScriptedTarget>,
}

#[async_trait]
impl ExecutionEnvironment for ScriptedEnvironment {
    fn id(&self) -> &str {
        &self.id
    }

    fn runner(&self) -> RunnerInfo {
        let mut r = RunnerInfo::new("scripted", "Linux", "X64");
        r.temp = self.target.paths.temp.clone();
        r
    }

    async fn primary(&self) -> Result<Arc<dyn Container>, BackendError> {
        Ok(self.target.clone())
    }

    async fn create_container(
        &self,
        _spec: ContainerSpec,
    ) -> Result<Arc<dyn Container>, BackendError> {
        Err(BackendError::Unsupported {
            backend: SCRIPTED.into(),
            what: "containers".into(),
        })
    }

    async fn remove(&self) -> Result<(), BackendError> {
        self.target
            .backend
            .note(JournalEntry::Removed(self.target.job.clone()));
        Ok(())
    }
}

struct ScriptedTarget {
    backend: ScriptedBackend,
    job: String,
    files: Files,
    paths: ContainerPaths,
}

#[async_trait]
impl Container for ScriptedTarget {
    fn id(&self) -> &str {
        SCRIPTED
    }

    fn paths(&self) -> ContainerPaths {
        self.paths.clone()
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
        // `sh -c TEXT` runs TEXT; `SHELL [flags] FILE` runs the file the engine wrote.
        let script = match req.argv.iter().position(|a| a == "-c") {
            Some(i) => req.argv.get(i + 1).cloned().unwrap_or_default(),
            None => {
                let path = req.argv.last().cloned().unwrap_or_default();
                let files = locked(&self.files);
                let bytes = files.get(&path).ok_or_else(|| {
                    BackendError::Exec(format!("scripted: no file `{path}` to run"))
                })?;
                String::from_utf8_lossy(bytes).into_owned()
            }
        };
        self.backend.note(JournalEntry::Exec {
            job: self.job.clone(),
            script: script.clone(),
        });
        let ctx = Context {
            env: &req.env,
            files: &self.files,
            counters: &self.backend.counters,
            output: &output,
        };
        Ok(script::run(&script, ctx, stop).await)
    }

    async fn copy_in(&self, _dest: &str, _archive: BoxedReader) -> Result<(), BackendError> {
        Err(BackendError::Unsupported {
            backend: SCRIPTED.into(),
            what: "copying archives".into(),
        })
    }

    async fn copy_out(&self, _path: &str) -> Result<BoxedReader, BackendError> {
        Err(BackendError::Unsupported {
            backend: SCRIPTED.into(),
            what: "copying archives".into(),
        })
    }

    async fn write_file(
        &self,
        path: &str,
        contents: &[u8],
        _mode: u32,
    ) -> Result<(), BackendError> {
        locked(&self.files).insert(path.to_string(), contents.to_vec());
        Ok(())
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(locked(&self.files).get(path).cloned())
    }

    async fn health(&self) -> Result<Health, BackendError> {
        Ok(Health::Running)
    }

    async fn remove(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

impl std::fmt::Debug for ScriptedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedBackend")
            .field("journal", &locked(&self.journal).len())
            .finish()
    }
}
