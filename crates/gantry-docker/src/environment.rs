//! One job on an engine: its network, its `/__w` volume, and the containers in them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding, VolumeCreateOptions,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, RemoveContainerOptions, RemoveVolumeOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use gantry_backend::{
    BackendError, Container, ContainerKind, ContainerSpec, EnvironmentRequest,
    ExecutionEnvironment, PullPolicy, RunnerInfo, WorkspaceSource, LABEL_JOB, LABEL_OWNER,
    LABEL_RUN_ID,
};

use crate::backend::DockerBackend;
use crate::container::DockerContainer;
use crate::options::{CreateFlags, LabelOptions};
use crate::{TEMP, WORKSPACE, WORK_ROOT};

/// Entrypoint that keeps a job container alive while steps run through exec.
const IDLE: [&str; 3] = ["tail", "-f", "/dev/null"];

/// What a job's containers share: its network, volume, labels, and how to create more.
pub(crate) struct EnvCore {
    pub(crate) docker: Docker,
    backend_id: String,
    name: String,
    /// The job network's name. On Docker it is created with the first service container
    /// (services are reached by name), so a job without services starts on the default
    /// network and skips the ~80 ms create and slower start a user network costs. On
    /// Podman it is created with the environment (see `EngineFacts::podman`).
    network: String,
    network_created: tokio::sync::OnceCell<()>,
    volume: String,
    labels: HashMap<String, String>,
    image: String,
    options: LabelOptions,
    workspace: WorkspaceSource,
    runner: RunnerInfo,
    created: Mutex<Vec<String>>,
    seeded: tokio::sync::Mutex<bool>,
    /// Whether job containers get the shim (see `shim.rs`).
    pub(crate) shim: bool,
    /// Docker Engine bundles an init (`docker-init`); Podman's needs catatonit installed.
    engine_has_init: bool,
    primary: tokio::sync::OnceCell<Arc<DockerContainer>>,
}

fn slug(s: &str) -> String {
    let s: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(30)
        .collect();
    s.trim_matches('-').to_string()
}

fn nonce() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:06x}",
        (t as u64 ^ u64::from(std::process::id()).rotate_left(20)) & 0xff_ffff
    )
}

/// One job's environment on an engine.
pub(crate) struct DockerEnvironment(Arc<EnvCore>);

impl DockerEnvironment {
    pub(crate) async fn create(
        backend: &DockerBackend,
        req: EnvironmentRequest,
    ) -> Result<Self, BackendError> {
        EnvCore::create(backend, req)
            .await
            .map(|c| DockerEnvironment(Arc::new(c)))
    }
}

impl EnvCore {
    async fn create(
        backend: &DockerBackend,
        req: EnvironmentRequest,
    ) -> Result<Self, BackendError> {
        let options = LabelOptions::parse(&req.label)?;
        let name = format!(
            "gantry-{}-{}-{}",
            slug(&req.run_id),
            slug(&req.job_key),
            nonce()
        );
        let labels = HashMap::from([
            (LABEL_RUN_ID.to_string(), req.run_id.clone()),
            (LABEL_JOB.to_string(), req.job_key.clone()),
            (LABEL_OWNER.to_string(), backend.config.owner.clone()),
        ]);
        let docker = backend.docker.clone();
        let volume = format!("{name}-work");
        docker
            .create_volume(VolumeCreateOptions {
                name: Some(volume.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            })
            .await
            .map_err(|e| backend.err("creating the job volume", e))?;
        let mut runner = RunnerInfo::new(
            backend.config.runner_name.clone(),
            backend.capabilities_os(),
            backend.capabilities_arch(),
        );
        runner.temp = TEMP.into();
        runner.tool_cache = format!("{WORK_ROOT}/_tool");
        runner.environment = "self-hosted".into();
        let workspace = WorkspaceSource::new(
            req.workspace.path.clone(),
            req.workspace.bind || options.bind,
        );
        let shim = !options.exec_api && crate::shim::runs_on(&backend.facts.arch);
        let core = EnvCore {
            docker,
            backend_id: backend.config.id.clone(),
            network: name.clone(),
            network_created: tokio::sync::OnceCell::new(),
            name,
            volume,
            labels,
            image: req.label.target.clone(),
            options,
            workspace,
            runner,
            created: Mutex::new(Vec::new()),
            seeded: tokio::sync::Mutex::new(false),
            shim,
            engine_has_init: !backend.facts.podman,
            primary: tokio::sync::OnceCell::new(),
        };
        if backend.facts.podman {
            if let Err(e) = core.ensure_network().await {
                let _ = core
                    .docker
                    .remove_volume(&core.volume, None::<RemoveVolumeOptions>)
                    .await;
                return Err(e);
            }
        }
        Ok(core)
    }

    /// Creates the job network once; later calls wait for or reuse the first.
    async fn ensure_network(&self) -> Result<(), BackendError> {
        self.network_created
            .get_or_try_init(|| async {
                self.docker
                    .create_network(NetworkCreateRequest {
                        name: self.network.clone(),
                        driver: Some("bridge".into()),
                        labels: Some(self.labels.clone()),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e| self.err("creating the job network", e))
            })
            .await
            .map(|_| ())
    }

    fn err(&self, what: impl Into<String>, e: bollard::errors::Error) -> BackendError {
        BackendError::Setup {
            what: format!("{}: {}", self.backend_id, what.into()),
            reason: e.to_string(),
        }
    }

    /// Makes sure `image` is there, pulling by policy (with credentials when given).
    async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
        credentials: Option<&(String, String)>,
    ) -> Result<(), BackendError> {
        let present = self.docker.inspect_image(image).await.is_ok();
        let pull = match policy {
            PullPolicy::Always => true,
            PullPolicy::IfNotPresent => !present,
            PullPolicy::Never => {
                if !present {
                    return Err(BackendError::Setup {
                        what: format!("{}: image `{image}`", self.backend_id),
                        reason: "not present and the pull policy is `never`".into(),
                    });
                }
                false
            }
        };
        if !pull {
            return Ok(());
        }
        let (repo, tag) = match image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => (image.to_string(), "latest".to_string()),
        };
        let registry = crate::credentials::registry_of(image);
        let (user, pass) = match credentials {
            Some((u, p)) => (Some(u.clone()), Some(p.clone())),
            None => crate::credentials::from_docker_config(&registry)
                .map(|(u, p)| (Some(u), Some(p)))
                .unwrap_or_default(),
        };
        let creds = user.as_ref().map(|_| bollard::auth::DockerCredentials {
            username: user.clone(),
            password: pass,
            serveraddress: Some(registry.clone()),
            ..Default::default()
        });
        let mut stream = self.docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(repo),
                tag: Some(tag),
                ..Default::default()
            }),
            None,
            creds,
        );
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                let hint = match &user {
                    Some(u) => format!(" (as `{u}`: check the credentials for {registry})"),
                    None => format!(" (no credentials for {registry}: set `credentials:` or log in with `docker login {registry}`)"),
                };
                return Err(BackendError::Setup {
                    what: format!("{}: pulling `{image}`", self.backend_id),
                    reason: format!("{e}{hint}"),
                });
            }
        }
        Ok(())
    }

    /// Creates a container for `spec` (steps are created when they run).
    pub(crate) async fn create_spec(
        &self,
        spec: &ContainerSpec,
        cmd: Option<Vec<String>>,
    ) -> Result<String, BackendError> {
        let kind = spec.kind.unwrap_or(ContainerKind::Job);
        let flags = match &spec.options {
            Some(o) => CreateFlags::parse(o).map_err(|e| {
                BackendError::InvalidRequest(format!("container `{}` options: {e}", spec.name))
            })?,
            None => CreateFlags::default(),
        };
        let options = flags.sandbox(&self.options);
        let pull = if spec.pull == PullPolicy::IfNotPresent {
            options.pull
        } else {
            spec.pull
        };
        if kind == ContainerKind::Service && !options.network_none {
            self.ensure_network().await?;
        }
        // The job network when services made one, else the engine's default network.
        let network = self
            .network_created
            .initialized()
            .then(|| self.network.clone());
        self.ensure_image(&spec.image, pull, spec.credentials.as_ref())
            .await?;
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend(flags.env.iter().cloned());
        let mut host = HostConfig {
            network_mode: if options.network_none {
                Some("none".into())
            } else {
                network.clone()
            },
            memory: flags.memory,
            nano_cpus: flags.nano_cpus,
            ..Default::default()
        };
        options.apply(&mut host);
        let with_workspace = kind != ContainerKind::Service || spec.mount_workspace;
        let shim_init = kind == ContainerKind::Job && self.shim && with_workspace;
        if kind == ContainerKind::Job && !shim_init && self.engine_has_init {
            // Without the shim as PID 1, the engine's init reaps orphaned step processes.
            host.init = Some(true);
        }
        let mut binds: Vec<String> = spec
            .volumes
            .iter()
            .chain(flags.volumes.iter())
            .cloned()
            .collect();
        if with_workspace {
            binds.push(format!("{}:{WORK_ROOT}", self.volume));
            if self.workspace.bind {
                binds.push(format!("{}:{WORKSPACE}", self.workspace.path.display()));
            }
        }
        host.binds = Some(binds);
        for t in &flags.tmpfs {
            let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
            host.tmpfs
                .get_or_insert_with(HashMap::new)
                .insert(path.into(), opts.into());
        }
        if !spec.ports.is_empty() {
            let mut map = HashMap::new();
            for p in &spec.ports {
                let binding = PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(p.host.map(|h| h.to_string()).unwrap_or_default()),
                };
                map.insert(
                    format!("{}/{}", p.container, p.protocol),
                    Some(vec![binding]),
                );
            }
            host.port_bindings = Some(map);
        }
        let networking =
            network
                .filter(|_| !options.network_none)
                .map(|network| NetworkingConfig {
                    endpoints_config: Some(HashMap::from([(
                        network,
                        EndpointSettings {
                            aliases: Some(spec.aliases.clone()),
                            ..Default::default()
                        },
                    )])),
                });
        let (entrypoint, command) = match kind {
            // The shim is in the volume before the container starts: it idles as PID 1
            // and reaps orphaned step processes, which `tail` would leave as zombies.
            ContainerKind::Job if shim_init => (
                Some(vec![crate::shim::PATH.to_string(), "--idle".to_string()]),
                Some(Vec::new()),
            ),
            ContainerKind::Job => (
                Some(IDLE.iter().map(|s| s.to_string()).collect()),
                Some(Vec::new()),
            ),
            ContainerKind::Service => (
                spec.entrypoint
                    .clone()
                    .or(flags.entrypoint.map(|e| vec![e])),
                spec.command.clone(),
            ),
            ContainerKind::Step => (
                spec.entrypoint.clone(),
                cmd.filter(|c| !c.is_empty()).or(spec.command.clone()),
            ),
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(env),
            labels: Some(self.labels.clone()),
            entrypoint,
            cmd: command,
            user: flags.user.or(options.user.clone()),
            working_dir: (kind != ContainerKind::Service).then(|| WORKSPACE.to_string()),
            healthcheck: flags.health,
            // Bindings only apply to exposed ports; imported images expose none.
            exposed_ports: (!spec.ports.is_empty()).then(|| {
                spec.ports
                    .iter()
                    .map(|p| (format!("{}/{}", p.container, p.protocol), HashMap::new()))
                    .collect()
            }),
            host_config: Some(host),
            networking_config: networking,
            ..Default::default()
        };
        let name = format!("{}-{}", self.name, slug(&spec.name));
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|e| {
                self.err(
                    format!("creating container `{}` from `{}`", spec.name, spec.image),
                    e,
                )
            })?;
        if let Ok(mut c) = self.created.lock() {
            c.push(created.id.clone());
        }
        if with_workspace {
            self.seed(&created.id).await?;
        }
        Ok(created.id)
    }

    /// Fills the job volume once: the workspace (unless bind-mounted) and the temp dir.
    async fn seed(&self, container: &str) -> Result<(), BackendError> {
        let mut seeded = self.seeded.lock().await;
        if *seeded {
            return Ok(());
        }
        // The shim rides in the same archive: one upload fills the volume.
        let shim = self.shim.then(|| {
            let rel = crate::shim::PATH
                .trim_start_matches(WORK_ROOT)
                .trim_start_matches('/');
            (rel.to_string(), crate::shim::BINARY)
        });
        let archive =
            gantry_archive::tar_workspace(self.workspace.path.clone(), !self.workspace.bind, shim);
        crate::container::upload(&self.docker, container, WORK_ROOT, archive).await?;
        *seeded = true;
        Ok(())
    }
}

impl DockerBackend {
    pub(crate) fn capabilities_os(&self) -> String {
        gantry_backend::Backend::capabilities(self).os
    }
    pub(crate) fn capabilities_arch(&self) -> String {
        gantry_backend::Backend::capabilities(self).arch
    }
}

#[async_trait]
impl ExecutionEnvironment for DockerEnvironment {
    fn id(&self) -> &str {
        &self.0.name
    }

    fn runner(&self) -> RunnerInfo {
        self.0.runner.clone()
    }

    async fn primary(&self) -> Result<Arc<dyn Container>, BackendError> {
        let core = &self.0;
        let c = core
            .primary
            .get_or_try_init(|| async {
                let mut spec =
                    ContainerSpec::new(ContainerKind::Job, "primary", core.image.clone());
                spec.mount_workspace = true;
                let id = core.create_spec(&spec, None).await?;
                Ok::<_, BackendError>(Arc::new(DockerContainer::new(
                    core.clone(),
                    id,
                    ContainerKind::Job,
                    None,
                )))
            })
            .await?;
        Ok(c.clone())
    }

    async fn create_container(
        &self,
        spec: ContainerSpec,
    ) -> Result<Arc<dyn Container>, BackendError> {
        let kind = spec.kind.unwrap_or(ContainerKind::Job);
        if kind == ContainerKind::Step {
            // Created when it runs: its command is the step's arguments.
            return Ok(Arc::new(DockerContainer::new(
                self.0.clone(),
                String::new(),
                kind,
                Some(spec),
            )));
        }
        let id = self.0.create_spec(&spec, None).await?;
        Ok(Arc::new(DockerContainer::new(
            self.0.clone(),
            id,
            kind,
            Some(spec),
        )))
    }

    async fn remove(&self) -> Result<(), BackendError> {
        self.0.remove().await
    }
}

impl EnvCore {
    async fn remove(&self) -> Result<(), BackendError> {
        let ids: Vec<String> = self.created.lock().map(|c| c.clone()).unwrap_or_default();
        let mut errors = Vec::new();
        for id in ids {
            match self
                .docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await
            {
                Ok(()) => {}
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => errors.push(format!("container {}: {e}", crate::backend::short(&id))),
            }
        }
        if self.network_created.initialized() {
            match self.docker.remove_network(&self.network).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => errors.push(format!("network {}: {e}", self.network)),
            }
        }
        match self
            .docker
            .remove_volume(&self.volume, Some(RemoveVolumeOptions { force: true }))
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => errors.push(format!("volume {}: {e}", self.volume)),
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(BackendError::Other(format!(
                "removing the job's objects: {}",
                errors.join("; ")
            )))
        }
    }
}
