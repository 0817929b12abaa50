//! Runtime probes: which Docker-compatible runtimes (Docker, Podman, nerdctl) work on
//! this machine, and the evidence. One of gantry's three versioned contracts: the report
//! (`gantry.probe/v1`, docs/probe-report.md) is what `gantry probe --json` prints and what
//! the CLI reads to offer only `supported` runtimes as backends by default.
//!
//! The probe talks to each runtime's Docker-compatible API directly (bollard), never
//! through gantry's docker backend: it judges the runtime, not gantry's use of it.

mod conformance;
mod redact;
mod report;
mod runtime;

pub use conformance::LABEL;
pub use redact::redact;
pub use report::{
    Check, Evidence, HostFacts, Isolation, ProbeReport, RuntimeReport, Status, FORMAT,
};
pub use runtime::{find_socket, probe_endpoint, sockets, ProbeOptions, RUNTIMES};

/// Probes every runtime in [`RUNTIMES`], one after another (engines are slow to share).
pub async fn probe_all(opts: &ProbeOptions) -> ProbeReport {
    let mut runtimes = Vec::new();
    for name in RUNTIMES {
        let socket = find_socket(name);
        runtimes.push(probe_endpoint(name, socket.as_deref(), opts).await);
    }
    ProbeReport {
        format: FORMAT.into(),
        generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        host: HostFacts {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
        },
        runtimes,
    }
}
