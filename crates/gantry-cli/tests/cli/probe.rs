//! `gantry probe` through the binary, and what its saved report does to backends.

use crate::harness::{text, Project};

#[test]
fn probe_json_reports_the_real_engines_and_is_saved() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let p = Project::new();
    let out = p.run(&["probe", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["format"], "gantry.probe/v1");
    let status = |name: &str| {
        report["runtimes"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["name"] == name))
            .map(|r| r["status"].as_str().unwrap_or("").to_string())
    };
    if ci || std::path::Path::new("/var/run/docker.sock").exists() {
        assert_eq!(status("docker").as_deref(), Some("supported"), "{report:#}");
    }
    if ci || std::path::Path::new("/run/gantry-podman.sock").exists() {
        assert_eq!(status("podman").as_deref(), Some("supported"), "{report:#}");
    }
    assert!(p.state().join("probe.json").exists());
    let table = p.run(&["probe"]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("docker"),
        "{}",
        text(&table)
    );
}

#[test]
fn a_runtime_the_last_probe_found_degraded_is_not_offered() {
    let p = Project::new();
    let report = r#"{"format":"gantry.probe/v1","generated_at":"2026-11-23T00:00:00Z",
      "host":{"os":"linux","arch":"x86_64"},
      "runtimes":[{"name":"podman","status":"degraded","reasons":["check `start` failed: rlimit"],
        "executable":"podman","api_socket":true,"version":null,"api_version":null,"platform":null,
        "isolation":null,"checks":[]}]}"#;
    std::fs::write(p.state().join("probe.json"), report).expect("report");
    p.write("wf.yml", "jobs:\n  a:\n    runs-on: podman://gantry-test/busybox:1\n    steps:\n      - run: echo hi\n");
    let out = p.run(&["validate", "wf.yml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("degraded") && all.contains("gantry probe"),
        "{all}"
    );
}
