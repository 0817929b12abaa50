//! Backends and the label mappings that choose between them.

use std::sync::Arc;

use async_trait::async_trait;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::capabilities::Capabilities;
use crate::environment::{EnvironmentRequest, ExecutionEnvironment};
use crate::error::BackendError;
use crate::label::LabelSpec;

/// What [`Backend::reap`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReapReport {
    /// Human-readable names of removed objects (`container abc123 (run 01H...)`).
    pub removed: Vec<String>,
    /// Objects that could not be removed, with the reason.
    pub failed: Vec<String>,
}

/// A configured place jobs can run. Built once per gantry process.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The id labels refer to (`host`, `docker`, a plugin name).
    fn id(&self) -> &str;

    /// What this backend can do. Cheap: computed or fetched once and cached.
    fn capabilities(&self) -> Capabilities;

    /// Checks a label's target and options before anything runs.
    fn validate_label(&self, label: &LabelSpec) -> Result<(), BackendError>;

    /// Creates one job's environment.
    async fn create_environment(
        &self,
        req: EnvironmentRequest,
    ) -> Result<Arc<dyn ExecutionEnvironment>, BackendError>;

    /// Removes everything this backend created for runs not in `live_runs` (what a
    /// killed gantry left behind).
    async fn reap(&self, live_runs: &[String]) -> Result<ReapReport, BackendError>;

    /// What [`Backend::reap`] would remove now, removing nothing (`gantry gc --dry-run`).
    /// `None` when this backend cannot tell without removing. Default: `None`.
    async fn leftovers(&self, live_runs: &[String]) -> Result<Option<Vec<String>>, BackendError> {
        let _ = live_runs;
        Ok(None)
    }

    /// Releases backend-wide resources at exit (a launched plugin process). Default: none.
    async fn shutdown(&self) {}
}

/// A label resolved to its backend.
#[derive(Clone)]
pub struct ResolvedLabel {
    /// The backend serving the label.
    pub backend: Arc<dyn Backend>,
    /// The label's spec (target and options).
    pub spec: LabelSpec,
}

impl std::fmt::Debug for ResolvedLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedLabel")
            .field("backend", &self.backend.id())
            .field("spec", &self.spec)
            .finish()
    }
}

/// Why a `runs-on` could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No label of the job maps to a backend.
    #[error("no configured backend serves {labels}; known labels: {known}")]
    NoBackend {
        /// The job's labels.
        labels: String,
        /// The labels that do map.
        known: String,
    },
    /// A label maps to a backend that is not registered.
    #[error("label `{label}` maps to backend `{backend}`, which {hint}")]
    UnknownBackend {
        /// The label.
        label: String,
        /// The backend it maps to.
        backend: String,
        /// Why the backend is missing, as a sentence end.
        hint: String,
    },
    /// The label's spec was refused by its backend.
    #[error("label `{label}`: {reason}")]
    Invalid {
        /// The label.
        label: String,
        /// Why.
        reason: String,
    },
}

/// Maps `runs-on` labels to backends.
#[derive(Default, Clone)]
pub struct BackendRegistry {
    backends: IndexMap<String, Arc<dyn Backend>>,
    mappings: IndexMap<String, LabelSpec>,
    unavailable: IndexMap<String, String>,
}

impl BackendRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a backend under its id (replacing one with the same id).
    pub fn register(&mut self, backend: Arc<dyn Backend>) {
        self.backends.insert(backend.id().to_string(), backend);
    }

    /// Records that backend `id` exists but cannot be used here, and why (an engine that
    /// is not running, a runtime the probe found degraded). Labels mapping to it then get
    /// that reason instead of "not configured".
    pub fn mark_unavailable(&mut self, id: impl Into<String>, reason: impl Into<String>) {
        self.unavailable.insert(id.into(), reason.into());
    }

    /// Maps `spec.label` to `spec` (later mappings win, as `-P` overrides config).
    pub fn map(&mut self, spec: LabelSpec) {
        self.mappings.insert(spec.label.clone(), spec);
    }

    /// The backend registered under `id`.
    pub fn backend(&self, id: &str) -> Option<&Arc<dyn Backend>> {
        self.backends.get(id)
    }

    /// All registered backends.
    pub fn backends(&self) -> impl Iterator<Item = &Arc<dyn Backend>> {
        self.backends.values()
    }

    /// All label mappings.
    pub fn mappings(&self) -> impl Iterator<Item = &LabelSpec> {
        self.mappings.values()
    }

    /// The backend id a job's `runs-on` labels map to, by the same first-match rule as
    /// [`BackendRegistry::resolve`], whether or not that backend is registered yet.
    pub fn mapped_backend(&self, labels: &[String]) -> Option<String> {
        labels
            .iter()
            .find_map(|label| match self.mappings.get(label) {
                Some(spec) => Some(spec.backend.clone()),
                None if label.contains("://") => {
                    LabelSpec::parse(label, label).ok().map(|spec| spec.backend)
                }
                None => None,
            })
    }

    /// Resolves a job's `runs-on` labels: the first label with a mapping, or that is
    /// itself a spec (`docker://img`), wins.
    pub fn resolve(&self, labels: &[String]) -> Result<ResolvedLabel, ResolveError> {
        for label in labels {
            let spec = if let Some(spec) = self.mappings.get(label) {
                spec.clone()
            } else if label.contains("://") {
                LabelSpec::parse(label, label).map_err(|e| ResolveError::Invalid {
                    label: label.clone(),
                    reason: e.to_string(),
                })?
            } else {
                continue;
            };
            let Some(backend) = self.backends.get(&spec.backend) else {
                let hint = match self.unavailable.get(&spec.backend) {
                    Some(reason) => format!("is unavailable: {reason}"),
                    None => "is not configured".to_string(),
                };
                return Err(ResolveError::UnknownBackend {
                    label: label.clone(),
                    backend: spec.backend.clone(),
                    hint,
                });
            };
            backend
                .validate_label(&spec)
                .map_err(|e| ResolveError::Invalid {
                    label: label.clone(),
                    reason: e.to_string(),
                })?;
            return Ok(ResolvedLabel {
                backend: backend.clone(),
                spec,
            });
        }
        let known: Vec<&str> = self.mappings.keys().map(String::as_str).collect();
        Err(ResolveError::NoBackend {
            labels: labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", "),
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        })
    }
}
