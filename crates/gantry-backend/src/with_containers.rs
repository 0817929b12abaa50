//! A backend that runs plain steps on one backend and the container layers on another:
//! how the host backend gains `container:`, `services:` and `docker://` steps when a
//! Docker endpoint is configured, as GitHub's runner does. Plain jobs stay on the base;
//! containers get the base job's workspace bind-mounted, so host steps and container
//! steps see the same files.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    Backend, BackendError, Capabilities, Container, ContainerSpec, EnvironmentRequest,
    ExecutionEnvironment, LabelSpec, ReapReport, RunnerInfo, WorkspaceSource,
};

/// `base` for plain steps, `containers` for every container layer.
pub struct WithContainers {
    base: Arc<dyn Backend>,
    containers: Arc<dyn Backend>,
}

impl WithContainers {
    /// `base` runs plain steps; containers are delegated to `containers`.
    pub fn new(base: Arc<dyn Backend>, containers: Arc<dyn Backend>) -> Self {
        WithContainers { base, containers }
    }
}

#[async_trait]
impl Backend for WithContainers {
    fn id(&self) -> &str {
        self.base.id()
    }

    fn capabilities(&self) -> Capabilities {
        let c = self.containers.capabilities();
        self.base
            .capabilities()
            .with_containers(c.job_container, c.services, c.step_containers)
    }

    fn validate_label(&self, label: &LabelSpec) -> Result<(), BackendError> {
        self.base.validate_label(label)
    }

    async fn create_environment(
        &self,
        req: EnvironmentRequest,
    ) -> Result<Arc<dyn ExecutionEnvironment>, BackendError> {
        let base = self.base.create_environment(req.clone()).await?;
        Ok(Arc::new(SplitEnvironment {
            base,
            containers: self.containers.clone(),
            req,
            delegate: tokio::sync::OnceCell::new(),
        }))
    }

    async fn reap(&self, live_runs: &[String]) -> Result<ReapReport, BackendError> {
        let mut report = self.base.reap(live_runs).await?;
        match self.containers.reap(live_runs).await {
            Ok(more) => {
                report.removed.extend(more.removed);
                report.failed.extend(more.failed);
            }
            Err(e) => report.failed.push(format!("{}: {e}", self.containers.id())),
        }
        Ok(report)
    }

    async fn leftovers(&self, live_runs: &[String]) -> Result<Option<Vec<String>>, BackendError> {
        let base = self.base.leftovers(live_runs).await?;
        let more = self.containers.leftovers(live_runs).await?;
        let unknown = |id: &str| format!("(what `{id}` left: it cannot list without removing)");
        Ok(match (base, more) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Some(a)
            }
            (Some(mut a), None) => {
                a.push(unknown(self.containers.id()));
                Some(a)
            }
            (None, Some(mut b)) => {
                b.push(unknown(self.base.id()));
                Some(b)
            }
            (None, None) => None,
        })
    }

    async fn shutdown(&self) {
        self.base.shutdown().await;
    }
}

/// One job: the base environment, and a container environment made on first use.
struct SplitEnvironment {
    base: Arc<dyn ExecutionEnvironment>,
    containers: Arc<dyn Backend>,
    req: EnvironmentRequest,
    delegate: tokio::sync::OnceCell<Arc<dyn ExecutionEnvironment>>,
}

impl SplitEnvironment {
    async fn delegate(&self) -> Result<&Arc<dyn ExecutionEnvironment>, BackendError> {
        self.delegate
            .get_or_try_init(|| async {
                // The base job's own workspace, shared in place with its containers.
                let workspace = self.base.primary().await?.paths().workspace;
                let mut req = self.req.clone();
                req.label = LabelSpec::new(req.label.label.clone(), self.containers.id());
                req.workspace = WorkspaceSource::new(workspace, true);
                self.containers.create_environment(req).await
            })
            .await
    }
}

#[async_trait]
impl ExecutionEnvironment for SplitEnvironment {
    fn id(&self) -> &str {
        self.base.id()
    }

    fn runner(&self) -> RunnerInfo {
        self.base.runner()
    }

    async fn primary(&self) -> Result<Arc<dyn Container>, BackendError> {
        self.base.primary().await
    }

    async fn create_container(
        &self,
        spec: ContainerSpec,
    ) -> Result<Arc<dyn Container>, BackendError> {
        self.delegate().await?.create_container(spec).await
    }

    async fn remove(&self) -> Result<(), BackendError> {
        // Containers first: they hold the base's workspace mounted.
        let delegated = match self.delegate.get() {
            Some(d) => d.remove().await,
            None => Ok(()),
        };
        let base = self.base.remove().await;
        delegated.and(base)
    }
}
