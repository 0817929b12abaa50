//! The probe report, `gantry.probe/v1`: the wire types, documented field by field here and
//! in docs/probe-report.md. Adding a field keeps v1 (new fields are `#[serde(default)]`
//! so older v1 reports still parse); removing or renaming a field, or changing what one
//! means, makes v2.

use serde::{Deserialize, Serialize};

/// The format tag every report carries.
pub const FORMAT: &str = "gantry.probe/v1";

/// Why a saved report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Not JSON, or not shaped like a report.
    #[error("the probe report is not valid JSON for {FORMAT}: {0}")]
    Json(#[from] serde_json::Error),
    /// A report of another format or version.
    #[error("the probe report's format is `{found}`, not {FORMAT}")]
    Format {
        /// The `format` the report carries.
        found: String,
    },
}

/// What `gantry probe` found on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProbeReport {
    /// Always [`FORMAT`]; readers refuse other values.
    pub format: String,
    /// When the probe ran (RFC 3339, UTC, seconds).
    pub generated_at: String,
    /// The machine the probe ran on.
    pub host: HostFacts,
    /// One entry per runtime looked for, in the order docker, podman, nerdctl.
    pub runtimes: Vec<RuntimeReport>,
}

/// The machine the probe ran on, as Rust names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostFacts {
    /// Operating system (`linux`, `macos`).
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
    /// Neither its executable nor an API socket is on this machine.
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
#[non_exhaustive]
pub struct RuntimeReport {
    /// `docker`, `podman` or `nerdctl`: the backend id gantry offers it under.
    pub name: String,
    /// The verdict; see [`Status`].
    pub status: Status,
    /// Why the status is not `supported`, one sentence each, redacted; empty when it is.
    pub reasons: Vec<String>,
    /// Observations from the runtime's configuration that may cause trouble (for Podman:
    /// containers.conf not selecting runc, default ulimits above the hard limits). They
    /// do not decide the status on their own: the conformance run does. When the run
    /// fails they are repeated in `reasons` as likely causes. Redacted.
    #[serde(default)]
    pub hints: Vec<String>,
    /// File name of the executable found on PATH (never its directory), if any.
    pub executable: Option<String>,
    /// Whether a Docker-compatible API socket was found and answered.
    pub api_socket: bool,
    /// Engine version as the engine reports it.
    pub version: Option<String>,
    /// Engine API version, negotiated between the engine and the probe.
    pub api_version: Option<String>,
    /// Engine OS/architecture (`linux/amd64`).
    pub platform: Option<String>,
    /// How the engine isolates containers, from its `/info`.
    pub isolation: Option<Isolation>,
    /// The label (`gantry.probe=<id>`) on everything the conformance run created, so
    /// leftovers can be found; absent when no conformance run happened.
    #[serde(default)]
    pub label: Option<String>,
    /// The conformance run's checks, in order, with evidence; empty when none ran.
    pub checks: Vec<Check>,
}

/// How a runtime isolates containers, from its `/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Isolation {
    /// Default OCI runtime (`runc`, `crun`, `runsc`).
    pub runtime: Option<String>,
    /// cgroup version (`1`, `2`).
    pub cgroup_version: Option<String>,
    /// cgroup driver (`cgroupfs`, `systemd`).
    pub cgroup_driver: Option<String>,
    /// Whether the engine runs rootless.
    pub rootless: bool,
    /// Security options by name only (`seccomp`, `apparmor`, `selinux`, `userns`, `rootless`).
    pub security: Vec<String>,
}

/// One check of the conformance run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Check {
    /// `image`, `start`, `network-none`, `read-only-rootfs`, `workspace-writable`, `env`,
    /// `cleanup`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was run and what came back.
    pub evidence: Evidence,
}

/// What a check ran and saw, redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Evidence {
    /// The shell command run inside the container, or the API calls made.
    pub command: String,
    /// The command's exit code, when it ran as a process.
    pub exit_code: Option<i64>,
    /// An excerpt of its output or error (at most 400 characters).
    pub output: String,
}

impl ProbeReport {
    /// A report of `runtimes` generated now on this host.
    pub fn new(runtimes: Vec<RuntimeReport>) -> Self {
        ProbeReport {
            format: FORMAT.into(),
            generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string(),
            host: HostFacts {
                os: std::env::consts::OS.into(),
                arch: std::env::consts::ARCH.into(),
            },
            runtimes,
        }
    }

    /// Names of the runtimes whose status is `supported`, in report order.
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

    /// Reads a report, refusing other formats and versions.
    pub fn from_json(text: &str) -> Result<ProbeReport, ReportError> {
        let report: ProbeReport = serde_json::from_str(text)?;
        if report.format != FORMAT {
            return Err(ReportError::Format {
                found: report.format,
            });
        }
        Ok(report)
    }
}

impl RuntimeReport {
    /// An empty report for `name`: unsupported until something is found.
    pub(crate) fn new(name: &str) -> Self {
        RuntimeReport {
            name: name.into(),
            status: Status::Unsupported,
            reasons: Vec::new(),
            hints: Vec::new(),
            executable: None,
            api_socket: false,
            version: None,
            api_version: None,
            platform: None,
            isolation: None,
            label: None,
            checks: Vec::new(),
        }
    }
}

impl Check {
    pub(crate) fn new(
        name: &str,
        passed: bool,
        command: &str,
        exit_code: Option<i64>,
        output: &str,
    ) -> Self {
        Check {
            name: name.into(),
            passed,
            evidence: Evidence {
                command: crate::redact::redact(command),
                exit_code,
                output: crate::redact::excerpt(output, 400),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_report_without_the_additive_fields_still_parses() {
        let text = r#"{"format":"gantry.probe/v1","generated_at":"2026-11-23T00:00:00Z",
          "host":{"os":"linux","arch":"x86_64"},
          "runtimes":[{"name":"podman","status":"degraded","reasons":["r"],
            "executable":"podman","api_socket":true,"version":null,"api_version":null,
            "platform":null,"isolation":null,"checks":[]}]}"#;
        let report = ProbeReport::from_json(text).expect("v1 report");
        let podman = report.runtime("podman").expect("podman");
        assert_eq!(podman.status, Status::Degraded);
        assert!(podman.hints.is_empty() && podman.label.is_none());
        assert!(report.supported_runtimes().is_empty());
    }

    #[test]
    fn other_formats_are_refused() {
        let report = ProbeReport::new(vec![RuntimeReport::new("docker")]);
        let json = serde_json::to_string(&report).expect("json");
        let v2 = json.replace(FORMAT, "gantry.probe/v2");
        assert!(matches!(
            ProbeReport::from_json(&v2),
            Err(ReportError::Format { found }) if found == "gantry.probe/v2"
        ));
        assert!(matches!(
            ProbeReport::from_json("{"),
            Err(ReportError::Json(_))
        ));
    }
}
