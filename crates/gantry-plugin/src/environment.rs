//! One job's environment inside a plugin, and its hand-over of container layers to a
//! Docker endpoint when the plugin announces one.

use std::sync::Arc;

use async_trait::async_trait;
use gantry_backend::{
    BackendError, Container, ContainerSpec, EnvironmentRequest, ExecutionEnvironment, LabelSpec,
    RunnerInfo,
};
use gantry_plugin_proto::{convert, v1};
use tokio::sync::OnceCell;

use crate::backend::{Inner, Session};
use crate::container::PluginContainer;

/// An environment the plugin created.
pub(crate) struct PluginEnvironment {
    inner: Arc<Inner>,
    session: Arc<Session>,
    id: String,
    run_id: String,
    runner: RunnerInfo,
    primary: OnceCell<Arc<dyn Container>>,
    /// Where container layers run when the plugin delegated them to a Docker endpoint.
    delegate: Option<Arc<dyn ExecutionEnvironment>>,
}

impl PluginEnvironment {
    /// Creates the environment, its delegate on a Docker endpoint if announced, and
    /// uploads the workspace when the plugin asks for it.
    pub(crate) async fn create(
        inner: Arc<Inner>,
        session: Arc<Session>,
        req: EnvironmentRequest,
    ) -> Result<PluginEnvironment, BackendError> {
        let local = inner.wire_caps.workspace == v1::WorkspaceDelivery::LocalPath as i32;
        let wire = v1::CreateEnvironmentRequest {
            run_id: req.run_id.clone(),
            job_id: req.job_key.clone(),
            label: Some(convert::label_to_wire(&req.label)),
            workspace_path: if local {
                req.workspace.path.display().to_string()
            } else {
                String::new()
            },
            bind: local && req.workspace.bind,
            job_timeout_seconds: req.timeout.map(|t| t.as_secs()).unwrap_or(0),
        };
        let mut client = session.client.clone();
        let resp = inner
            .call(
                &session,
                "CreateEnvironment",
                inner.cfg.setup_timeout,
                client.create_environment(wire),
            )
            .await?;
        if resp.environment_id.is_empty() {
            return Err(BackendError::Other(format!(
                "plugin `{}`: CreateEnvironment answered without an environment_id",
                inner.cfg.name
            )));
        }
        let mut defaults = RunnerInfo::new(
            inner
                .wire_caps
                .runner
                .as_ref()
                .map(|r| r.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| inner.cfg.name.clone()),
            inner.wire_caps.os.clone(),
            inner.wire_caps.arch.clone(),
        );
        defaults.temp = "/tmp".into();
        let mut env = PluginEnvironment {
            runner: convert::runner_from_wire(resp.runner, &defaults),
            inner: inner.clone(),
            session,
            id: resp.environment_id,
            run_id: req.run_id.clone(),
            primary: OnceCell::new(),
            delegate: None,
        };
        let endpoint = convert::endpoint_from_wire(resp.docker).map_err(|m| {
            BackendError::Other(format!(
                "plugin `{}`: CreateEnvironment: {m}",
                inner.cfg.name
            ))
        });
        let setup = async {
            if let Some(endpoint) = endpoint? {
                let Some(driver) = inner.cfg.driver.clone() else {
                    return Err(BackendError::Unsupported {
                        backend: inner.cfg.name.clone(),
                        what: format!(
                            "delegating containers to {} without a Docker driver in this gantry",
                            endpoint.address
                        ),
                    });
                };
                let mut docker_req = req.clone();
                docker_req.label = LabelSpec::new(req.label.label.clone(), "docker");
                env.delegate = Some(driver.environment_on(endpoint, docker_req).await?);
            }
            if !local {
                let primary = env.primary().await?;
                let dest = primary.paths().workspace;
                let archive = gantry_archive::tar_tree(req.workspace.path.clone());
                primary.copy_in(&dest, archive).await?;
            }
            Ok(())
        };
        if let Err(e) = setup.await {
            let _ = env.remove().await;
            return Err(e);
        }
        Ok(env)
    }

    async fn container(
        &self,
        info: v1::ContainerInfo,
        spec: Option<&ContainerSpec>,
    ) -> Result<Arc<dyn Container>, BackendError> {
        let (paths, inherited) = convert::container_info_from_wire(&info)
            .map_err(|m| BackendError::Other(format!("plugin `{}`: {m}", self.inner.cfg.name)))?;
        Ok(Arc::new(PluginContainer::new(
            self.inner.clone(),
            self.session.clone(),
            info.container_id,
            spec.and_then(|s| s.kind),
            paths,
            inherited,
        )))
    }
}

#[async_trait]
impl ExecutionEnvironment for PluginEnvironment {
    fn id(&self) -> &str {
        &self.id
    }

    fn runner(&self) -> RunnerInfo {
        self.runner.clone()
    }

    async fn primary(&self) -> Result<Arc<dyn Container>, BackendError> {
        self.primary
            .get_or_try_init(|| async {
                let mut client = self.session.client.clone();
                let req = v1::PrimaryRequest {
                    environment_id: self.id.clone(),
                };
                let info = self
                    .inner
                    .call(
                        &self.session,
                        "Primary",
                        self.inner.cfg.setup_timeout,
                        client.primary(req),
                    )
                    .await?;
                self.container(info, None).await
            })
            .await
            .cloned()
    }

    async fn create_container(
        &self,
        spec: ContainerSpec,
    ) -> Result<Arc<dyn Container>, BackendError> {
        if let Some(d) = &self.delegate {
            return d.create_container(spec).await;
        }
        let mut client = self.session.client.clone();
        let req = v1::CreateContainerRequest {
            environment_id: self.id.clone(),
            spec: Some(convert::spec_to_wire(&spec)),
        };
        let info = self
            .inner
            .call(
                &self.session,
                "CreateContainer",
                self.inner.cfg.setup_timeout,
                client.create_container(req),
            )
            .await?;
        self.container(info, Some(&spec)).await
    }

    async fn remove(&self) -> Result<(), BackendError> {
        let mut first_err = None;
        if let Some(d) = &self.delegate {
            if let Err(e) = d.remove().await {
                first_err = Some(e);
            }
        }
        let mut client = self.session.client.clone();
        let req = v1::RemoveEnvironmentRequest {
            environment_id: self.id.clone(),
        };
        match self
            .inner
            .call(
                &self.session,
                "RemoveEnvironment",
                self.inner.cfg.setup_timeout,
                client.remove_environment(req),
            )
            .await
        {
            Ok(_) => {}
            Err(BackendError::Unavailable { reason, .. })
                if self
                    .session
                    .process
                    .as_ref()
                    .is_some_and(|p| !p.is_running()) =>
            {
                // The environment died with the plugin; the restarted plugin's Reap and
                // gantry's final Reap remove what it left.
                tracing::warn!(
                    "plugin `{}`: environment {} is gone with the plugin ({reason})",
                    self.inner.cfg.name,
                    self.id
                );
                self.inner.lost(&self.run_id);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
