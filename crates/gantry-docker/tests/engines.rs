//! The docker backend against the real engines: Docker Engine and Podman's compatible API.
//! Both are started by scripts/setup-engines.sh; with CI=true a missing engine fails.

use std::sync::Arc;

use gantry_backend::{Backend, LabelSpec};
use gantry_docker::{DockerBackend, DockerConfig};

pub const IMAGE: &str = "gantry-test/busybox:1";

/// The engines under test: (backend id, socket).
pub const ENGINES: [(&str, &str); 2] = [
    ("docker", "/var/run/docker.sock"),
    ("podman", "/run/gantry-podman.sock"),
];

pub async fn connect(id: &str, socket: &str, owner: &str) -> Option<Arc<DockerBackend>> {
    let config = DockerConfig {
        id: id.into(),
        endpoint: format!("unix://{socket}"),
        owner: owner.into(),
        runner_name: "test".into(),
    };
    match DockerBackend::connect(config).await {
        Ok(b) => Some(b),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{id} is required in CI (scripts/setup-engines.sh starts it): {e}")
        }
        Err(e) => {
            eprintln!("not testing {id}: {e}; run scripts/setup-engines.sh");
            None
        }
    }
}

async fn conformance(id: &str, socket: &str) {
    let owner = format!("conformance-{id}-{}", std::process::id());
    let Some(backend) = connect(id, socket, &owner).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("README"), "conformance workspace\n").expect("file");
    let label = LabelSpec::parse("test", &format!("{id}://{IMAGE}?pull=never")).expect("label");
    let mut options = gantry_conformance::Options::new(label, dir.path());
    options.run_id_prefix = format!("conf{id}");
    let results = gantry_conformance::run(backend.clone() as Arc<dyn Backend>, options).await;
    for r in &results {
        println!(
            "{id}: {} {} ({:?}) {}",
            if r.passed { "PASS" } else { "FAIL" },
            r.name,
            r.duration,
            r.detail
        );
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {}", r.name, r.detail))
        .collect();
    assert!(
        failed.is_empty(),
        "{id} failed conformance cases:\n{}",
        failed.join("\n")
    );
    let report = backend.reap(&[]).await.expect("reap");
    assert!(
        report.removed.is_empty(),
        "{id}: objects left behind after the suite: {:?}",
        report.removed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_passes_the_conformance_suite() {
    conformance(ENGINES[0].0, ENGINES[0].1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_passes_the_conformance_suite() {
    conformance(ENGINES[1].0, ENGINES[1].1).await;
}
