#![allow(clippy::unwrap_used, clippy::expect_used)]
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
        tls: None,
        owner: owner.into(),
        runner_name: "test".into(),
    };
    match DockerBackend::connect(config).await {
        Ok(b) => Some(b),
        Err(e) => {
            gantry_testkit::required(
                false,
                &format!("{id} is not answering ({e})"),
                "run scripts/setup-engines.sh",
            );
            None
        }
    }
}

async fn conformance(id: &str, socket: &str) {
    let owner = format!("conformance-{id}-{}", std::process::id());
    let Some(backend) = connect(id, socket, &owner).await else {
        return;
    };
    suite(id, backend).await;
}

async fn suite(id: &str, backend: Arc<DockerBackend>) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("README"), "conformance workspace\n").expect("file");
    let label =
        LabelSpec::parse("test", &format!("{}://{IMAGE}?pull=never", backend.id())).expect("label");
    let mut options = gantry_conformance::Options::new(label, dir.path());
    options.run_id_prefix = format!("conf{}", id.replace('-', ""));
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

/// A `podman system service` on a loopback TCP port, stopped on drop.
struct TcpService(std::process::Child);

impl Drop for TcpService {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_endpoint_passes_the_conformance_suite() {
    let port = 23751;
    let child = std::process::Command::new("podman")
        .args([
            "system",
            "service",
            "--time=0",
            &format!("tcp://127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(child) = child else {
        gantry_testkit::required(
            false,
            "podman cannot be started",
            "run scripts/setup-engines.sh",
        );
        return;
    };
    let _service = TcpService(child);
    let config = DockerConfig {
        id: "podman".into(),
        endpoint: format!("tcp://127.0.0.1:{port}"),
        tls: None,
        owner: format!("conformance-tcp-{}", std::process::id()),
        runner_name: "test".into(),
    };
    let mut backend = None;
    for _ in 0..100 {
        match DockerBackend::connect(config.clone()).await {
            Ok(b) => {
                backend = Some(b);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let backend = backend.expect("podman answers on its tcp endpoint within 10s");
    assert!(!backend.facts().api_version.is_empty());
    suite("podman-tcp", backend).await;
}

/// Makes a CA, a server certificate for 127.0.0.1 and a client certificate in `dir`
/// (client files named as DOCKER_CERT_PATH expects: ca.pem, cert.pem, key.pem).
fn make_certs(dir: &std::path::Path) {
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 1 -subj /CN=gantry-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem -days 1 -extfile server.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=gantry-client 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 1 -extfile client.ext 2>/dev/null
mkdir -p stranger && cd stranger
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 -subj /CN=stranger 2>/dev/null
cp ../ca.pem ca.pem"#;
    let ok = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "openssl could not make the test certificates");
}

/// Docker Engine behind a mutual-TLS terminator (tests/fixtures/tls_terminator.py) on a
/// loopback port: the real
/// engine, reached the way a remote `tcp://` endpoint with DOCKER_TLS_VERIFY is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_endpoint_passes_the_conformance_suite_and_refuses_strangers() {
    if !gantry_testkit::required(
        std::path::Path::new("/var/run/docker.sock").exists(),
        "docker is not running",
        "run scripts/setup-engines.sh",
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    make_certs(dir.path());
    let port = 23752;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls_terminator.py"
    );
    let child = std::process::Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(dir.path())
        .arg("/var/run/docker.sock")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        gantry_testkit::required(
            false,
            "python3 cannot be started",
            "apt-get install python3",
        );
        return;
    };
    let mut ready = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut ready);
    }
    assert_eq!(ready.trim(), "ready", "the TLS terminator did not start");
    let _terminator = TcpService(child);
    let config = |tls: &std::path::Path| DockerConfig {
        id: "docker".into(),
        endpoint: format!("tcp://127.0.0.1:{port}"),
        tls: Some(tls.to_path_buf()),
        owner: format!("conformance-tls-{}", std::process::id()),
        runner_name: "test".into(),
    };
    let backend = DockerBackend::connect(config(dir.path()))
        .await
        .expect("docker answers through the TLS terminator");
    // A client certificate the CA never signed is refused.
    let stranger = DockerBackend::connect(config(&dir.path().join("stranger"))).await;
    assert!(
        stranger.is_err(),
        "a client certificate from another CA was accepted"
    );
    // No certificates at all: refused before any connection, naming what is missing.
    let missing = DockerBackend::connect(config(&dir.path().join("nowhere"))).await;
    assert!(missing
        .err()
        .is_some_and(|e| e.to_string().contains("ca.pem")));
    suite("docker-tls", backend).await;
}
