#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The shared conformance suite against the host backend: every case must pass.

use std::sync::Arc;

use gantry_backend::LabelSpec;
use gantry_host::{HostBackend, HostConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_backend_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("src");
    std::fs::create_dir_all(&source).expect("source dir");
    std::fs::write(source.join("README"), "conformance workspace\n").expect("file");
    let backend = Arc::new(HostBackend::new(HostConfig {
        root: dir.path().join("work"),
        runner_name: "conformance".into(),
    }));
    let options = gantry_conformance::Options::new(LabelSpec::new("host", "host"), &source);
    let results = gantry_conformance::run(backend, options).await;
    assert_eq!(results.len(), gantry_conformance::case_names().len());
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {}", r.name, r.detail))
        .collect();
    for r in &results {
        println!(
            "{} {} ({:?}) {}",
            if r.passed { "PASS" } else { "FAIL" },
            r.name,
            r.duration,
            r.detail
        );
    }
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("work"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}
