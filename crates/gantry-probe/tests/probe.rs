#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Probes of the real runtimes on this machine (scripts/setup-engines.sh starts Docker and
//! Podman): supported, a deliberately misconfigured Podman reported degraded with the
//! reason, an absent runtime unsupported. With CI=true a missing engine fails.

use std::path::Path;
use std::time::Duration;

use gantry_probe::{probe_all, probe_endpoint, ProbeOptions, ProbeReport, Status, FORMAT};

fn required(socket: &str) -> bool {
    gantry_testkit::required(
        Path::new(socket).exists(),
        &format!("{socket} is missing"),
        "run scripts/setup-engines.sh",
    )
}

fn assert_supported(r: &gantry_probe::RuntimeReport) {
    assert_eq!(r.status, Status::Supported, "{r:#?}");
    assert!(
        r.api_socket && r.version.is_some() && r.api_version.is_some(),
        "{r:#?}"
    );
    let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "start",
            "network-none",
            "read-only-rootfs",
            "workspace-writable",
            "env",
            "cleanup"
        ],
        "{r:#?}"
    );
    assert!(
        r.checks
            .iter()
            .all(|c| c.passed && !c.evidence.command.is_empty()),
        "{r:#?}"
    );
    assert!(r.reasons.is_empty());
}

#[tokio::test]
async fn docker_is_supported_with_evidence() {
    if !required("/var/run/docker.sock") {
        return;
    }
    let r = probe_endpoint(
        "docker",
        Some("/var/run/docker.sock"),
        &ProbeOptions::default(),
    )
    .await;
    assert_supported(&r);
    assert_eq!(
        r.isolation.as_ref().and_then(|i| i.runtime.as_deref()),
        Some("runc")
    );
}

#[tokio::test]
async fn podman_is_supported_with_evidence() {
    if !required("/run/gantry-podman.sock") {
        return;
    }
    let r = probe_endpoint(
        "podman",
        Some("/run/gantry-podman.sock"),
        &ProbeOptions::default(),
    )
    .await;
    assert_supported(&r);
}

/// A `podman system service` with Podman's default ulimits (which exceed this VM's hard
/// limits), on a private socket; stopped on drop.
struct MisconfiguredPodman {
    child: std::process::Child,
    socket: String,
    _dir: tempfile::TempDir,
}

impl Drop for MisconfiguredPodman {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn misconfigured_podman() -> Option<MisconfiguredPodman> {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("containers.conf");
    // runc (crun is absent here) but no `default_ulimits`: Podman's defaults apply.
    std::fs::write(&conf, "[engine]\nruntime = \"runc\"\n").expect("conf");
    let socket = dir.path().join("podman.sock").display().to_string();
    let child = std::process::Command::new("podman")
        .env("CONTAINERS_CONF", &conf)
        .args(["system", "service", "--time=0", &format!("unix://{socket}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let guard = MisconfiguredPodman {
        child,
        socket,
        _dir: dir,
    };
    for _ in 0..100 {
        if Path::new(&guard.socket).exists() {
            return Some(guard);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the misconfigured podman service never created its socket");
}

#[tokio::test]
async fn podman_with_default_ulimits_is_degraded_with_the_reason() {
    if !required("/run/gantry-podman.sock") {
        return;
    }
    let Some(podman) = misconfigured_podman() else {
        gantry_testkit::required(false, "podman cannot be started", "apt-get install podman");
        return;
    };
    let r = probe_endpoint("podman", Some(&podman.socket), &ProbeOptions::default()).await;
    assert_eq!(r.status, Status::Degraded, "{r:#?}");
    assert!(r.api_socket);
    let start = r
        .checks
        .iter()
        .find(|c| c.name == "start")
        .expect("a start check");
    assert!(!start.passed, "{r:#?}");
    let reasons = r.reasons.join("\n");
    assert!(
        reasons.contains("check `start` failed") && reasons.contains("rlimit"),
        "{reasons}"
    );
    // Redacted: the private socket path never appears.
    let json = serde_json::to_string(&r).expect("json");
    assert!(!json.contains(&podman.socket), "{json}");
    // And it cleaned up after itself even though the container never ran.
    assert!(
        r.checks.iter().any(|c| c.name == "cleanup" && c.passed),
        "{r:#?}"
    );
}

#[tokio::test]
async fn an_absent_runtime_is_unsupported_and_a_dead_socket_degraded() {
    let r = probe_endpoint("nerdctl", None, &ProbeOptions::default()).await;
    if r.executable.is_none() {
        assert_eq!(r.status, Status::Unsupported, "{r:#?}");
        assert!(r.reasons[0].contains("nerdctl"), "{r:#?}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let dead = dir.path().join("dead.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&dead).expect("bind");
    // A socket that accepts but never answers: degraded, with the socket path redacted.
    let r = probe_endpoint(
        "docker",
        Some(&dead.display().to_string()),
        &ProbeOptions::default(),
    )
    .await;
    assert_eq!(r.status, Status::Degraded, "{r:#?}");
    let json = serde_json::to_string(&r).expect("json");
    assert!(!json.contains("dead.sock"), "{json}");
}

#[tokio::test]
async fn the_report_is_versioned_and_round_trips() {
    let report = probe_all(&ProbeOptions::default()).await;
    assert_eq!(report.format, FORMAT);
    assert_eq!(report.runtimes.len(), 3);
    let json = serde_json::to_string_pretty(&report).expect("json");
    assert_eq!(ProbeReport::from_json(&json).expect("parse"), report);
    let other = json.replace(FORMAT, "gantry.probe/v9");
    assert!(ProbeReport::from_json(&other).is_err());
    if Path::new("/var/run/docker.sock").exists() {
        assert!(report.supported_runtimes().contains(&"docker"), "{json}");
    }
}
