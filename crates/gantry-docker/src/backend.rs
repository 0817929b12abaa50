//! Connecting to an engine, and the backend object.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions,
};
use bollard::{ClientVersion, Docker};
use gantry_backend::{
    Backend, BackendError, Capabilities, EnvironmentRequest, ExecutionEnvironment, LabelSpec,
    ReapReport, LABEL_OWNER, LABEL_RUN_ID,
};

use crate::environment::DockerEnvironment;

mod leftovers;
use crate::options;

/// Why an engine could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("{endpoint} does not answer: {reason}")]
    NotAnswering { endpoint: String, reason: String },
}

/// How to reach an engine and how to name what we create there.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// Backend id labels refer to (`docker`, `podman`).
    pub id: String,
    /// `unix:///path.sock` (or a bare path), or `tcp://host:port`.
    pub endpoint: String,
    /// For tcp endpoints: a directory with `ca.pem`, `cert.pem` and `key.pem` for mutual
    /// TLS; `None` speaks plain HTTP.
    pub tls: Option<PathBuf>,
    /// Tag identifying this gantry (a hash of its state dir): reap touches only its own objects.
    pub owner: String,
    /// `runner.name`.
    pub runner_name: String,
}

/// Facts about the engine, asked once per endpoint (Podman is slow when asked repeatedly).
#[derive(Debug, Clone, Default)]
pub struct EngineFacts {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
    /// Podman's compatible API, whose default network may not start containers (it
    /// depends on the host's netavark/CNI setup), so jobs always get their own network.
    pub podman: bool,
}

/// A Docker-compatible engine.
pub struct DockerBackend {
    pub(crate) docker: Docker,
    pub(crate) config: DockerConfig,
    pub(crate) facts: EngineFacts,
}

impl DockerBackend {
    /// Connects, negotiates the API version and reads the engine's facts once.
    pub async fn connect(config: DockerConfig) -> Result<Arc<DockerBackend>, DockerError> {
        let connect = |version: &ClientVersion| {
            connect_endpoint(&config.endpoint, config.tls.as_deref(), version).map_err(|reason| {
                DockerError::Connect {
                    endpoint: config.endpoint.clone(),
                    reason,
                }
            })
        };
        let docker = connect(bollard::API_DEFAULT_VERSION)?;
        // One request tells both that the engine answers and which API version it speaks
        // (Podman's `/version` alone can take a third of a second).
        let not_answering = |reason: String| DockerError::NotAnswering {
            endpoint: config.endpoint.clone(),
            reason,
        };
        let v = tokio::time::timeout(std::time::Duration::from_secs(3), docker.version())
            .await
            .map_err(|_| not_answering("no answer within 3s".into()))?
            .map_err(|e| not_answering(e.to_string()))?;
        let docker = match v.api_version.as_deref().and_then(parse_api_version) {
            Some(server) if server < *bollard::API_DEFAULT_VERSION => connect(&server)?,
            _ => docker,
        };
        let podman = v
            .components
            .iter()
            .flatten()
            .any(|c| c.name.starts_with("Podman"));
        let facts = EngineFacts {
            podman,
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        };
        Ok(Arc::new(DockerBackend {
            docker,
            config,
            facts,
        }))
    }

    /// The engine's version facts.
    pub fn facts(&self) -> &EngineFacts {
        &self.facts
    }

    fn owner_filter(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_OWNER}={}", self.config.owner)],
        )])
    }
}

/// A client for `unix:///path.sock` (or a bare path), or `tcp://host:port`: plain HTTP,
/// or mutual TLS with `ca.pem`, `cert.pem` and `key.pem` from `tls` (the docker CLI's
/// `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH` convention).
/// `"1.41"` as a client version; `None` when it is not `MAJOR.MINOR`.
fn parse_api_version(v: &str) -> Option<ClientVersion> {
    let (major, minor) = v.trim().split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

fn connect_endpoint(
    endpoint: &str,
    tls: Option<&Path>,
    version: &ClientVersion,
) -> Result<Docker, String> {
    const TIMEOUT: u64 = 120;
    let tcp = endpoint
        .strip_prefix("tcp://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .or_else(|| endpoint.strip_prefix("http://"));
    if let Some(addr) = tcp {
        let Some(dir) = tls else {
            if endpoint.starts_with("https://") {
                return Err("an https:// endpoint needs TLS certificates (DOCKER_CERT_PATH with ca.pem, cert.pem, key.pem)".into());
            }
            return Docker::connect_with_http(addr, TIMEOUT, version).map_err(|e| e.to_string());
        };
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            if !dir.join(f).is_file() {
                return Err(format!("TLS is on but {} has no {f}", dir.display()));
            }
        }
        return Docker::connect_with_ssl(
            addr,
            &dir.join("key.pem"),
            &dir.join("cert.pem"),
            &dir.join("ca.pem"),
            TIMEOUT,
            version,
        )
        .map_err(|e| e.to_string());
    }
    if endpoint.starts_with("ssh://") {
        return Err("ssh:// endpoints are not supported; use unix:// or tcp:// (with TLS)".into());
    }
    let path = endpoint.trim_start_matches("unix://");
    Docker::connect_with_unix(path, TIMEOUT, version).map_err(|e| e.to_string())
}

fn arch_name(a: &str) -> &str {
    match a {
        "amd64" | "x86_64" => "X64",
        "arm64" | "aarch64" => "ARM64",
        other => other,
    }
}

#[async_trait]
impl Backend for DockerBackend {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::plain(self.config.id.clone()).with_containers(true, true, true);
        c.os = if self.facts.os.eq_ignore_ascii_case("linux") || self.facts.os.is_empty() {
            "Linux".into()
        } else {
            self.facts.os.clone()
        };
        c.arch = arch_name(&self.facts.arch).to_string();
        c
    }

    fn validate_label(&self, label: &LabelSpec) -> Result<(), BackendError> {
        if label.target.trim().is_empty() {
            return Err(BackendError::InvalidLabel {
                label: label.label.clone(),
                reason: format!(
                    "`{}://` needs an image, e.g. `{}://gantry-test/busybox:1`",
                    self.config.id, self.config.id
                ),
            });
        }
        options::LabelOptions::parse(label).map(|_| ())
    }

    async fn create_environment(
        &self,
        req: EnvironmentRequest,
    ) -> Result<Arc<dyn ExecutionEnvironment>, BackendError> {
        let env = DockerEnvironment::create(self, req).await?;
        Ok(Arc::new(env))
    }

    async fn leftovers(&self, live_runs: &[String]) -> Result<Option<Vec<String>>, BackendError> {
        self.list_leftovers(live_runs).await.map(Some)
    }

    async fn reap(&self, live_runs: &[String]) -> Result<ReapReport, BackendError> {
        let mut report = ReapReport::default();
        let dead = |labels: Option<&HashMap<String, String>>| {
            labels
                .and_then(|l| l.get(LABEL_RUN_ID))
                .is_some_and(|run| !live_runs.contains(run))
        };
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(self.owner_filter()),
                ..Default::default()
            }))
            .await
            .map_err(|e| self.err("listing containers", e))?;
        for c in containers {
            if !dead(c.labels.as_ref()) {
                continue;
            }
            let id = c.id.unwrap_or_default();
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
                Ok(()) => report.removed.push(format!("container {}", short(&id))),
                Err(e) => report.failed.push(format!("container {}: {e}", short(&id))),
            }
        }
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(self.owner_filter()),
            }))
            .await
            .map_err(|e| self.err("listing networks", e))?;
        for n in networks {
            if !dead(n.labels.as_ref()) {
                continue;
            }
            let name = n.name.unwrap_or_default();
            match self.docker.remove_network(&name).await {
                Ok(()) => report.removed.push(format!("network {name}")),
                Err(e) => report.failed.push(format!("network {name}: {e}")),
            }
        }
        let volumes = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(self.owner_filter()),
            }))
            .await
            .map_err(|e| self.err("listing volumes", e))?;
        for v in volumes.volumes.unwrap_or_default() {
            if !dead(Some(&v.labels)) {
                continue;
            }
            match self
                .docker
                .remove_volume(&v.name, Some(RemoveVolumeOptions { force: true }))
                .await
            {
                Ok(()) => report.removed.push(format!("volume {}", v.name)),
                Err(e) => report.failed.push(format!("volume {}: {e}", v.name)),
            }
        }
        Ok(report)
    }
}

impl DockerBackend {
    pub(crate) fn err(&self, what: &str, e: bollard::errors::Error) -> BackendError {
        BackendError::Setup {
            what: format!("{} ({}): {what}", self.config.id, self.config.endpoint),
            reason: e.to_string(),
        }
    }
}

pub(crate) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_parse_and_compare_with_the_client_default() {
        let old = parse_api_version("1.41").expect("parses");
        assert_eq!((old.major_version, old.minor_version), (1, 41));
        assert!(old < *bollard::API_DEFAULT_VERSION);
        assert!(parse_api_version(" 1.99 ").expect("parses") > *bollard::API_DEFAULT_VERSION);
        for bad in ["", "1", "1.x", "v1.41", "1.41.2"] {
            assert!(parse_api_version(bad).is_none(), "{bad}");
        }
    }
}
