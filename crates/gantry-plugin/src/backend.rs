//! A plugin as a backend: the session with the plugin process or address, restarted when
//! a launched plugin dies, and the deadline and error mapping every call goes through.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gantry_backend::{
    Backend, BackendError, Capabilities, EndpointDriver, EnvironmentRequest, ExecutionEnvironment,
    LabelSpec, ReapReport,
};
use gantry_plugin_proto::v1::backend_client::BackendClient;
use gantry_plugin_proto::{convert, v1, MAX_MESSAGE_BYTES, MIN_PROTOCOL_REVISION};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::environment::PluginEnvironment;
use crate::error::PluginError;
use crate::launch::{LaunchSpec, Launched};
use crate::transport::{self, ClientTls};

/// Run ids gantry considers live (runs in progress in its ledger).
pub type LiveRuns = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Where the plugin is.
#[derive(Debug, Clone)]
pub enum PluginSource {
    /// A plugin already serving at `address` (`unix:///x.sock`, `tcp://host:port`).
    Connect {
        address: String,
        tls: Option<ClientTls>,
        /// Allow plain tcp.
        insecure: bool,
    },
    /// A binary gantry starts, checked against its pin.
    Launch(LaunchSpec),
}

/// How to reach and use one plugin.
#[derive(Clone)]
pub struct PluginConfig {
    /// The backend id labels refer to.
    pub name: String,
    pub source: PluginSource,
    /// Deadline of quick calls (capabilities, signals, files, health).
    pub call_timeout: Duration,
    /// Deadline of calls that may create things (environments, containers, pulls).
    pub setup_timeout: Duration,
    /// Which runs are live, for the Reap gantry sends a restarted plugin.
    pub live_runs: Option<LiveRuns>,
    /// Drives containers on a Docker endpoint a plugin's environment hands back.
    pub driver: Option<Arc<dyn EndpointDriver>>,
}

impl PluginConfig {
    /// A config with default deadlines (30 s, 10 min) and no driver.
    pub fn new(name: impl Into<String>, source: PluginSource) -> Self {
        PluginConfig {
            name: name.into(),
            source,
            call_timeout: Duration::from_secs(30),
            setup_timeout: Duration::from_secs(600),
            live_runs: None,
            driver: None,
        }
    }
}

/// One connection to the plugin (and its process, when gantry launched it).
pub(crate) struct Session {
    pub(crate) client: BackendClient<Channel>,
    pub(crate) process: Option<Launched>,
}

impl Session {
    fn alive(&self) -> bool {
        self.process.as_ref().is_none_or(Launched::is_running)
    }
}

/// State shared by the backend, its environments and containers.
pub(crate) struct Inner {
    pub(crate) cfg: PluginConfig,
    pub(crate) wire_caps: v1::Capabilities,
    caps: Capabilities,
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    labels: Mutex<HashMap<String, Result<(), String>>>,
    /// Runs whose environments died with a plugin process.
    lost_runs: Mutex<HashSet<String>>,
    exec_seq: AtomicU64,
}

/// A gRPC backend plugin, driven through the backend contract.
pub struct PluginBackend {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn open_session(cfg: &PluginConfig) -> Result<(Session, v1::Capabilities), PluginError> {
    let (address, tls, insecure, process) = match &cfg.source {
        PluginSource::Connect {
            address,
            tls,
            insecure,
        } => (address.clone(), tls.clone(), *insecure, None),
        PluginSource::Launch(spec) => {
            let p = Launched::start(spec).await?;
            (p.address().to_string(), None, false, Some(p))
        }
    };
    let connect_err = |reason: String| PluginError::Connect {
        plugin: cfg.name.clone(),
        address: address.clone(),
        reason,
    };
    let channel = transport::connect(&address, tls.as_ref(), insecure)
        .await
        .map_err(connect_err)?;
    transport::wait_serving(channel.clone(), Duration::from_secs(10))
        .await
        .map_err(connect_err)?;
    let mut client = BackendClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let req = v1::GetCapabilitiesRequest {
        protocol_version: gantry_plugin_proto::PROTOCOL_VERSION,
        protocol_revision: gantry_plugin_proto::PROTOCOL_REVISION,
        client_version: env!("CARGO_PKG_VERSION").into(),
    };
    let caps = tokio::time::timeout(cfg.call_timeout, client.get_capabilities(req))
        .await
        .map_err(|_| {
            connect_err(format!(
                "GetCapabilities did not answer within {}s",
                cfg.call_timeout.as_secs()
            ))
        })?
        .map_err(|s| connect_err(format!("GetCapabilities: {}", s.message())))?
        .into_inner();
    check_version(&cfg.name, &caps)?;
    Ok((Session { client, process }, caps))
}

/// Refuses a plugin this gantry cannot drive, saying which side to upgrade.
fn check_version(name: &str, caps: &v1::Capabilities) -> Result<(), PluginError> {
    let ours = gantry_plugin_proto::PROTOCOL_VERSION;
    if caps.protocol_version != ours {
        return Err(PluginError::Version {
            plugin: name.into(),
            reason: format!(
                "it speaks backend protocol v{}, this gantry speaks v{ours}; install a plugin release for v{ours}",
                caps.protocol_version
            ),
        });
    }
    if caps.protocol_revision < MIN_PROTOCOL_REVISION {
        return Err(PluginError::Version {
            plugin: name.into(),
            reason: format!(
                "it implements protocol v{ours} revision {}, this gantry needs revision {MIN_PROTOCOL_REVISION} or newer; upgrade the plugin",
                caps.protocol_revision
            ),
        });
    }
    if caps.backend_name.is_empty() {
        return Err(PluginError::Version {
            plugin: name.into(),
            reason: "its capabilities name no backend (backend_name is empty)".into(),
        });
    }
    Ok(())
}

impl PluginBackend {
    /// Launches or connects to the plugin, waits until it is SERVING, and reads its
    /// capabilities (cached for the life of this backend).
    pub async fn start(cfg: PluginConfig) -> Result<Arc<PluginBackend>, PluginError> {
        let (session, wire_caps) = open_session(&cfg).await?;
        let caps = convert::capabilities_from_wire(&cfg.name, &wire_caps);
        Ok(Arc::new(PluginBackend {
            inner: Arc::new(Inner {
                cfg,
                wire_caps,
                caps,
                session: tokio::sync::Mutex::new(Some(Arc::new(session))),
                labels: Mutex::default(),
                lost_runs: Mutex::default(),
                exec_seq: AtomicU64::new(1),
            }),
        }))
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// What the plugin announced, as it announced it.
    pub fn wire_capabilities(&self) -> &v1::Capabilities {
        &self.inner.wire_caps
    }

    /// The launched process's id, if gantry launched it and it runs.
    pub async fn pid(&self) -> Option<i32> {
        let s = self.inner.session.lock().await;
        s.as_ref()
            .and_then(|s| s.process.as_ref())
            .filter(|p| p.is_running())
            .map(Launched::pid)
    }

    async fn validate_remote(&self, label: &LabelSpec) -> Result<(), String> {
        let session = self.inner.session().await.map_err(|e| e.to_string())?;
        let req = v1::ValidateLabelRequest {
            label: Some(convert::label_to_wire(label)),
        };
        let mut client = session.client.clone();
        let resp = self
            .inner
            .call(
                &session,
                "ValidateLabel",
                self.inner.cfg.call_timeout,
                client.validate_label(req),
            )
            .await
            .map_err(|e| e.to_string())?;
        if resp.error.is_empty() {
            Ok(())
        } else {
            Err(resp.error)
        }
    }
}

impl Inner {
    /// The live session, relaunching a launched plugin that died. A relaunched plugin is
    /// first asked to Reap what its predecessor left.
    pub(crate) async fn session(&self) -> Result<Arc<Session>, BackendError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref().filter(|s| s.alive()) {
            return Ok(s.clone());
        }
        if let Some(dead) = guard.take() {
            if let Some(p) = &dead.process {
                tracing::warn!(
                    "plugin `{}` (pid {}) {}; starting it again",
                    self.cfg.name,
                    p.pid(),
                    p.exit_description().unwrap_or_else(|| "stopped".into())
                );
                p.stop().await;
            }
        }
        let (session, _) =
            open_session(&self.cfg)
                .await
                .map_err(|e| BackendError::Unavailable {
                    backend: self.cfg.name.clone(),
                    reason: e.to_string(),
                })?;
        let session = Arc::new(session);
        let live = self.live_runs();
        let mut client = session.client.clone();
        let reap = client.reap(v1::ReapRequest { live_run_ids: live });
        match self
            .call(&session, "Reap", self.cfg.setup_timeout, reap)
            .await
        {
            Ok(r) if !r.removed.is_empty() => tracing::info!(
                "plugin `{}` reaped after restart: {}",
                self.cfg.name,
                r.removed.join(", ")
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("plugin `{}`: Reap after restart: {e}", self.cfg.name),
        }
        *guard = Some(session.clone());
        Ok(session)
    }

    fn live_runs(&self) -> Vec<String> {
        self.cfg.live_runs.as_ref().map(|f| f()).unwrap_or_default()
    }

    pub(crate) fn next_exec_id(&self) -> String {
        format!(
            "gantry-{}-{}",
            std::process::id(),
            self.exec_seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub(crate) fn lost(&self, run_id: &str) {
        lock(&self.lost_runs).insert(run_id.to_string());
    }

    /// Runs one unary call with a deadline, mapping failures to backend errors.
    pub(crate) async fn call<T>(
        &self,
        session: &Session,
        call: &str,
        timeout: Duration,
        fut: impl std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, BackendError> {
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(status)) => Err(self.failure(session, call, &status).await),
            Err(_) => Err(self.timeout(session, call, timeout).await),
        }
    }

    /// The error for a call that did not answer in time: a hang, or a dead process.
    pub(crate) async fn timeout(
        &self,
        session: &Session,
        call: &str,
        timeout: Duration,
    ) -> BackendError {
        if let Some(dead) = self.death(session).await {
            return dead;
        }
        BackendError::Timeout {
            backend: self.cfg.name.clone(),
            call: call.into(),
            seconds: timeout.as_secs(),
        }
    }

    /// The error for a failed call; names the plugin's death when that is the cause.
    pub(crate) async fn failure(
        &self,
        session: &Session,
        call: &str,
        status: &Status,
    ) -> BackendError {
        if matches!(
            status.code(),
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal
        ) {
            if let Some(dead) = self.death(session).await {
                return dead;
            }
        }
        convert::status_to_error(&self.cfg.name, call, status)
    }

    async fn death(&self, session: &Session) -> Option<BackendError> {
        let p = session.process.as_ref()?;
        // The socket closes as the process dies; give its exit status a moment to land.
        for _ in 0..20 {
            if !p.is_running() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let how = p.exit_description()?;
        Some(BackendError::Unavailable {
            backend: self.cfg.name.clone(),
            reason: format!(
                "the plugin process (pid {}) {how}{}",
                p.pid(),
                p.stderr_hint()
            ),
        })
    }
}

#[async_trait]
impl Backend for PluginBackend {
    fn id(&self) -> &str {
        &self.inner.cfg.name
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.caps.clone()
    }

    fn validate_label(&self, label: &LabelSpec) -> Result<(), BackendError> {
        let key = format!(
            "{}\u{0}{}\u{0}{:?}",
            label.label, label.target, label.options
        );
        if let Some(r) = lock(&self.inner.labels).get(&key) {
            return r.clone().map_err(|reason| BackendError::InvalidLabel {
                label: label.label.clone(),
                reason,
            });
        }
        // The contract's validation is synchronous; ask the plugin from a worker thread
        // when the runtime allows it, else leave the check to CreateEnvironment.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return Ok(());
        };
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Ok(());
        }
        let result = tokio::task::block_in_place(|| handle.block_on(self.validate_remote(label)));
        lock(&self.inner.labels).insert(key, result.clone());
        result.map_err(|reason| BackendError::InvalidLabel {
            label: label.label.clone(),
            reason,
        })
    }

    async fn create_environment(
        &self,
        req: EnvironmentRequest,
    ) -> Result<Arc<dyn ExecutionEnvironment>, BackendError> {
        let session = self.inner.session().await?;
        let env = PluginEnvironment::create(self.inner.clone(), session, req).await?;
        Ok(Arc::new(env))
    }

    async fn reap(&self, live_runs: &[String]) -> Result<ReapReport, BackendError> {
        let session = self.inner.session().await?;
        let mut client = session.client.clone();
        let req = v1::ReapRequest {
            live_run_ids: live_runs.to_vec(),
        };
        let resp = self
            .inner
            .call(
                &session,
                "Reap",
                self.inner.cfg.setup_timeout,
                client.reap(req),
            )
            .await?;
        Ok(convert::reap_from_wire(resp))
    }

    async fn shutdown(&self) {
        let lost: Vec<String> = lock(&self.inner.lost_runs).drain().collect();
        if !lost.is_empty() {
            // Environments that died with a plugin process: their leftovers belong to
            // runs that are over now.
            let live = self.inner.live_runs();
            if let Err(e) = self.reap(&live).await {
                tracing::warn!("plugin `{}`: final Reap: {e}", self.inner.cfg.name);
            }
        }
        let session = self.inner.session.lock().await.take();
        if let Some(p) = session.as_ref().and_then(|s| s.process.as_ref()) {
            p.stop().await;
        }
    }
}
