//! The probe report: `gantry.probe/v1`, documented field by field in
//! docs/probe-report.md. Additive fields keep v1; removing or renaming a field, or
//! changing what one means, makes v2.

use serde::{Deserialize, Serialize};

/// The format tag every report carries.
pub const FORMAT: &str = "gantry.probe/v1";

/// What `gantry probe` found on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Always [`FORMAT`]; readers refuse other values.
    pub format: String,
    /// When the probe ran (RFC 3339, UTC).
    pub generated_at: String,
    /// The machine gantry ran on: `os` and `arch` as Rust names them (`linux`, `x86_64`).
    pub host: HostFacts,
    /// One entry per runtime looked for, in the order docker, podman, nerdctl.
    pub runtimes: Vec<RuntimeReport>,
}

/// The machine the probe ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// Operating system (`linux`).
    pub os: String,
    /// Architecture (`x86_64`, `aarch64`).
    pub arch: String,
}

/// Whether gantry can use a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every check passed: offered as a backend.
    Supported,
    /// Present, but something failed; `reasons` says what. Not offered by default.
    Degraded,
    /// Neither its executable nor its API socket is on this machine.
    Unsupported,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Supported => "supported",
            Status::Degraded => "degraded",
            Status::Unsupported => "unsupported",
        })
    }
}

/// One runtime's findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeReport {
    /// `docker`, `podman` or `nerdctl`: the backend id gantry offers it under.
    pub name: String,
    /// The verdict; see [`Status`].
    pub status: Status,
    /// Why the status is not `supported`, one sentence each, redacted.
    pub reasons: Vec<String>,
    /// File name of the executable found on PATH (never its directory), if any.
    pub executable: Option<String>,
    /// Whether a Docker-compatible API socket was found and answered.
    pub api_socket: bool,
    /// Engine version as the engine reports it.
    pub version: Option<String>,
    /// Engine API version (negotiated).
    pub api_version: Option<String>,
    /// Engine OS/architecture (`linux/amd64`).
    pub platform: Option<String>,
    /// How containers are isolated.
    pub isolation: Option<Isolation>,
    /// The conformance run's checks, in order, with evidence.
    pub checks: Vec<Check>,
}

/// How a runtime isolates containers, from its `/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// Default OCI runtime (`runc`, `crun`, `runsc`).
    pub runtime: Option<String>,
    /// cgroup version (`1`, `2`).
    pub cgroup_version: Option<String>,
    /// cgroup driver (`cgroupfs`, `systemd`).
    pub cgroup_driver: Option<String>,
    /// Whether the engine runs rootless.
    pub rootless: bool,
    /// Security options (`seccomp`, `apparmor`, `selinux`, `userns`), names only.
    pub security: Vec<String>,
}

/// One check of the conformance run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `start`, `network-none`, `read-only-rootfs`, `workspace-writable`, `env`, `cleanup`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was run and what came back.
    pub evidence: Evidence,
}

/// What a check ran and saw, redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The command or API call.
    pub command: String,
    /// Its exit code, when it ran as a process.
    pub exit_code: Option<i64>,
    /// A short excerpt of its output or error (at most 400 characters).
    pub output: String,
}

impl ProbeReport {
    /// Names of the runtimes whose status is `supported`.
    pub fn supported_runtimes(&self) -> Vec<&str> {
        self.runtimes
            .iter()
            .filter(|r| r.status == Status::Supported)
            .map(|r| r.name.as_str())
            .collect()
    }

    /// The report for runtime `name`.
    pub fn runtime(&self, name: &str) -> Option<&RuntimeReport> {
        self.runtimes.iter().find(|r| r.name == name)
    }

    /// Reads a report, refusing other formats.
    pub fn from_json(text: &str) -> Result<ProbeReport, String> {
        let report: ProbeReport = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if report.format != FORMAT {
            return Err(format!("format `{}` is not {FORMAT}", report.format));
        }
        Ok(report)
    }
}

impl RuntimeReport {
    pub(crate) fn new(name: &str) -> Self {
        RuntimeReport {
            name: name.into(),
            status: Status::Unsupported,
            reasons: Vec::new(),
            executable: None,
            api_socket: false,
            version: None,
            api_version: None,
            platform: None,
            isolation: None,
            checks: Vec::new(),
        }
    }
}
