//! A job in progress: where its steps run, the contexts they see, and what they hand on.
//! `job.rs` makes one and tears it down; `step.rs` runs its steps.

use std::sync::Arc;
use std::time::Duration;

use gantry_backend::{Container, ExecutionEnvironment};
use gantry_secret::Masker;
use gantry_workflow::PlannedJob;
use indexmap::IndexMap;

use crate::builtin::Builtins;
use crate::cancel::CancelSignal;
use crate::context::JobScope;
use crate::duration::timeout_minutes;
use crate::event::{Event, EventSender, Level};

/// A job in progress.
pub(crate) struct JobRun {
    pub run_id: String,
    pub key: String,
    pub job: PlannedJob,
    pub events: EventSender,
    pub masker: Arc<Masker>,
    pub cancel: CancelSignal,
    pub grace: Duration,
    pub builtins: Builtins,
    pub environment: Arc<dyn ExecutionEnvironment>,
    pub target: Arc<dyn Container>,
    pub scope: JobScope,
    pub path_additions: Vec<String>,
    pub file_env: IndexMap<String, String>,
    /// Whether the target has bash (GitHub's default shell), once asked.
    pub has_bash: Option<bool>,
    /// Whether the step files (`$GITHUB_OUTPUT`, `_ENV`, `_PATH`, `_STEP_SUMMARY`) are
    /// known to exist and be empty, as the last step left them: then the next step need
    /// not truncate them.
    pub step_files_clean: bool,
}

impl JobRun {
    /// Sends a message about the job (or one of its steps).
    pub(crate) async fn message(&self, step: Option<usize>, level: Level, message: String) {
        let _ = self
            .events
            .send(Event::Message {
                job: self.key.clone(),
                step,
                level,
                message,
            })
            .await;
    }

    /// Renders a template with the current scope.
    pub(crate) fn render(&self, text: &str) -> Result<String, String> {
        self.scope.render(text)
    }

    /// Evaluates a `timeout-minutes` value.
    pub(crate) fn minutes(&self, raw: Option<&str>) -> Result<Option<Duration>, String> {
        let Some(raw) = raw else { return Ok(None) };
        timeout_minutes(&self.render(raw)?).map(Some)
    }

    /// Evaluates a boolean field such as `continue-on-error`.
    pub(crate) fn flag(&self, raw: Option<&str>) -> Result<bool, String> {
        let Some(raw) = raw else { return Ok(false) };
        let text = self.render(raw)?;
        match text.trim() {
            "true" => Ok(true),
            "false" | "" => Ok(false),
            other => Err(format!("`{other}` is not true or false")),
        }
    }
}
