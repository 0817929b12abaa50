//! A backend whose environments delegate their container layers to a Docker endpoint:
//! what a VM plugin with an engine inside the VM does, here with a fixed endpoint.

use std::sync::Arc;

use async_trait::async_trait;
use gantry_backend::{
    Backend, BackendError, Capabilities, Container, ContainerSpec, DockerEndpoint,
    EnvironmentRequest, ExecutionEnvironment, LabelSpec, ReapReport, RunnerInfo,
};

/// Wraps a backend; its environments announce `endpoint`.
pub(crate) struct Delegating {
    inner: Arc<dyn Backend>,
    endpoint: DockerEndpoint,
}

impl Delegating {
    pub(crate) fn new(inner: Arc<dyn Backend>, endpoint: DockerEndpoint) -> Self {
        Delegating { inner, endpoint }
    }
}

struct DelegatingEnv {
    inner: Arc<dyn ExecutionEnvironment>,
    endpoint: DockerEndpoint,
}

#[async_trait]
impl Backend for Delegating {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn capabilities(&self) -> Capabilities {
        // gantry drives the containers on the endpoint, so every layer is there.
        self.inner.capabilities().with_containers(true, true, true)
    }

    fn validate_label(&self, label: &LabelSpec) -> Result<(), BackendError> {
        self.inner.validate_label(label)
    }

    async fn create_environment(
        &self,
        req: EnvironmentRequest,
    ) -> Result<Arc<dyn ExecutionEnvironment>, BackendError> {
        Ok(Arc::new(DelegatingEnv {
            inner: self.inner.create_environment(req).await?,
            endpoint: self.endpoint.clone(),
        }))
    }

    async fn reap(&self, live_runs: &[String]) -> Result<ReapReport, BackendError> {
        self.inner.reap(live_runs).await
    }
}

#[async_trait]
impl ExecutionEnvironment for DelegatingEnv {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn runner(&self) -> RunnerInfo {
        self.inner.runner()
    }

    async fn primary(&self) -> Result<Arc<dyn Container>, BackendError> {
        self.inner.primary().await
    }

    async fn create_container(
        &self,
        _spec: ContainerSpec,
    ) -> Result<Arc<dyn Container>, BackendError> {
        Err(BackendError::Unsupported {
            backend: "plugin-host".into(),
            what: "containers outside the delegated Docker endpoint".into(),
        })
    }

    async fn remove(&self) -> Result<(), BackendError> {
        self.inner.remove().await
    }

    fn docker_endpoint(&self) -> Option<DockerEndpoint> {
        Some(self.endpoint.clone())
    }
}
