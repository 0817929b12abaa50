//! Finding a runtime: its executable on PATH, its Docker-compatible API socket, and
//! what the engine says about itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;

use crate::conformance;
use crate::redact::redact;
use crate::report::{Isolation, RuntimeReport, Status};

/// The runtimes looked for, in report order.
pub const RUNTIMES: [&str; 3] = ["docker", "podman", "nerdctl"];

/// What the probe runs in each runtime.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// A local image with a POSIX `sh` (default `gantry-test/busybox:1`).
    pub image: String,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            image: "gantry-test/busybox:1".into(),
        }
    }
}

/// The executable `name` on PATH.
fn executable(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|c| c.is_file())
        })
        .unwrap_or(None)
}

/// Candidate API sockets for a runtime, in the order gantry's backends use them.
pub fn sockets(name: &str) -> Vec<String> {
    let mut v = Vec::new();
    match name {
        "docker" => {
            if let Some(h) = std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| h.starts_with("unix://"))
            {
                v.push(h.trim_start_matches("unix://").to_string());
            }
            v.push("/var/run/docker.sock".into());
        }
        "podman" => {
            v.push("/run/gantry-podman.sock".into());
            v.push("/run/podman/podman.sock".into());
            if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
                v.push(
                    Path::new(&dir)
                        .join("podman/podman.sock")
                        .display()
                        .to_string(),
                );
            }
        }
        // nerdctl speaks containerd's API, not Docker's.
        _ => {}
    }
    v
}

/// The first candidate socket that exists.
pub fn find_socket(name: &str) -> Option<String> {
    sockets(name).into_iter().find(|s| Path::new(s).exists())
}

/// Probes runtime `name` through `socket` (or finds only its executable when `None`).
pub async fn probe_endpoint(
    name: &str,
    socket: Option<&str>,
    opts: &ProbeOptions,
) -> RuntimeReport {
    let mut r = RuntimeReport::new(name);
    r.executable =
        executable(name).and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
    let Some(socket) = socket.filter(|s| Path::new(s).exists()) else {
        match &r.executable {
            Some(exe) => {
                r.status = Status::Degraded;
                r.reasons.push(if name == "nerdctl" {
                    format!("`{exe}` is installed, but nerdctl has no Docker-compatible API socket for gantry to use")
                } else {
                    format!("`{exe}` is installed but no Docker-compatible API socket was found (start the daemon or `podman system service`)")
                });
            }
            None => r.reasons.push(format!(
                "neither `{name}` on PATH nor a Docker-compatible API socket was found"
            )),
        }
        return r;
    };
    let docker = match connect(socket).await {
        Ok(d) => d,
        Err(e) => {
            r.status = Status::Degraded;
            r.reasons
                .push(redact(&format!("the API socket does not answer: {e}")));
            return r;
        }
    };
    r.api_socket = true;
    if let Ok(v) = docker.version().await {
        r.version = v.version;
        r.api_version = v.api_version;
        r.platform = match (v.os, v.arch) {
            (Some(os), Some(arch)) => Some(format!("{os}/{arch}")),
            _ => None,
        };
    }
    if let Ok(info) = docker.info().await {
        let security: Vec<String> = info
            .security_options
            .unwrap_or_default()
            .iter()
            .filter_map(|o| {
                o.split(',')
                    .next()
                    .map(|n| n.trim_start_matches("name=").to_string())
            })
            .collect();
        r.isolation = Some(Isolation {
            runtime: info.default_runtime,
            cgroup_version: info.cgroup_version.map(|v| v.to_string()),
            cgroup_driver: info.cgroup_driver.map(|d| d.to_string()),
            rootless: security.iter().any(|s| s == "rootless"),
            security,
        });
    }
    r.checks = conformance::run(&docker, &opts.image).await;
    let failed: Vec<String> = r
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("check `{}` failed: {}", c.name, c.evidence.output))
        .collect();
    if failed.is_empty() {
        r.status = Status::Supported;
    } else {
        r.status = Status::Degraded;
        r.reasons = failed;
    }
    r
}

async fn connect(socket: &str) -> Result<Docker, String> {
    let docker = Docker::connect_with_unix(socket, 60, bollard::API_DEFAULT_VERSION)
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("no answer within 3s".into()),
    }
    docker.negotiate_version().await.map_err(|e| e.to_string())
}
