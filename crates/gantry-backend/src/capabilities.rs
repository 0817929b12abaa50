//! What a backend can do, declared before anything runs.

use serde::{Deserialize, Serialize};

/// The layers and conventions a backend offers.
///
/// Validation reads these to refuse a workflow that needs something the chosen backend
/// lacks (services on a host without an engine, say) before any job starts. There is no
/// silent fallback: a step never runs outside the confinement its `runs-on` promised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// Short backend id as shown to users (`host`, `docker`, `plugin:k8s`).
    pub backend: String,
    /// Runs the workflow's `container:` (a job container).
    pub job_container: bool,
    /// Runs the workflow's `services:`.
    pub services: bool,
    /// Runs `uses: docker://IMAGE` step containers.
    pub step_containers: bool,
    /// The backend arranges networking between job and service containers itself.
    pub own_networking: bool,
    /// Operating system of the environment as GitHub names it (`Linux`, `macOS`, `Windows`).
    pub os: String,
    /// Architecture as GitHub names it (`X64`, `ARM64`).
    pub arch: String,
}

impl Capabilities {
    /// Capabilities of a backend that only runs plain steps on its primary target.
    pub fn plain(backend: impl Into<String>) -> Self {
        Capabilities {
            backend: backend.into(),
            job_container: false,
            services: false,
            step_containers: false,
            own_networking: false,
            os: host_os().to_string(),
            arch: host_arch().to_string(),
        }
    }

    /// Builder-style setter for the three container layers.
    pub fn with_containers(mut self, job: bool, services: bool, steps: bool) -> Self {
        self.job_container = job;
        self.services = services;
        self.step_containers = steps;
        self
    }
}

/// The current machine's OS as GitHub's `runner.os` spells it.
pub fn host_os() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        other => other,
    }
}

/// The current machine's architecture as GitHub's `runner.arch` spells it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "X64",
        "aarch64" => "ARM64",
        "x86" => "X86",
        "arm" => "ARM",
        other => other,
    }
}
