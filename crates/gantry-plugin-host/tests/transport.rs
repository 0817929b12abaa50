#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The reference plugin over tcp with TLS and mutual TLS (certificates made with the
//! `openssl` CLI), and its shutdown on SIGTERM: NOT_SERVING, environments removed, exit.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_backend::{Backend, EnvironmentRequest, LabelSpec, WorkspaceSource};
use gantry_plugin::{ClientTls, PluginBackend, PluginConfig, PluginSource};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian: apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=gantry-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .expect("ext");
    for (name, ext) in [
        ("server", Some("server.ext")),
        ("client", Some("client.ext")),
    ] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &*format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.push(format!("{name}.pem"));
        if let Some(e) = ext {
            args.push("-extfile".into());
            args.push(e.into());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl(dir, &refs);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_plugin(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gantry-plugin-host"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the reference plugin")
}

async fn connect(address: &str, tls: ClientTls) -> Result<Arc<PluginBackend>, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let cfg = PluginConfig::new(
            "tls",
            PluginSource::Connect {
                address: address.into(),
                tls: Some(tls.clone()),
                insecure: false,
            },
        );
        match PluginBackend::start(cfg).await {
            Ok(b) => return Ok(b),
            // Retry only while the plugin is still binding its socket.
            Err(e)
                if Instant::now() > deadline
                    || !["os error 2)", "os error 111)"]
                        .iter()
                        .any(|n| e.to_string().contains(n)) =>
            {
                return Err(e.to_string())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_is_required_and_works() {
    let dir = tempfile::tempdir().expect("temp dir");
    certificates(dir.path());
    let p = |n: &str| dir.path().join(n);
    let port = free_port();
    let root = dir.path().join("root");
    let mut plugin = start_plugin(&[
        "--listen".into(),
        format!("tcp://127.0.0.1:{port}"),
        "--tls-cert".into(),
        p("server.pem").display().to_string(),
        "--tls-key".into(),
        p("server.key").display().to_string(),
        "--tls-client-ca".into(),
        p("ca.pem").display().to_string(),
        "--root".into(),
        root.display().to_string(),
    ]);
    let address = format!("tcp://127.0.0.1:{port}");
    let full = ClientTls {
        ca: Some(p("ca.pem")),
        cert: Some(p("client.pem")),
        key: Some(p("client.key")),
        domain: Some("localhost".into()),
    };
    let backend = connect(&address, full).await.expect("mutual TLS connects");
    let mut options = gantry_conformance::Options::new(LabelSpec::new("tls", "tls"), dir.path());
    options.filter = Some("e".into());
    let results = gantry_conformance::run(backend.clone(), options).await;
    let failed: Vec<_> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {}", r.name, r.detail))
        .collect();
    assert!(results.len() > 5 && failed.is_empty(), "{failed:?}");

    // Without a client certificate the plugin refuses the connection.
    let ca_only = ClientTls {
        ca: Some(p("ca.pem")),
        domain: Some("localhost".into()),
        ..Default::default()
    };
    let err = match connect(&address, ca_only).await {
        Ok(b) => b
            .create_environment(EnvironmentRequest::new(
                "r",
                "j",
                LabelSpec::new("tls", "tls"),
                WorkspaceSource::new(dir.path(), true),
            ))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
        Err(e) => e,
    };
    assert!(!err.is_empty(), "a client without a certificate was served");
    let _ = plugin.kill();
    let _ = plugin.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_removes_environments_and_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("p.sock");
    let root = dir.path().join("root");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("ws");
    let mut plugin = start_plugin(&[
        "--listen".into(),
        format!("unix://{}", socket.display()),
        "--root".into(),
        root.display().to_string(),
    ]);
    let backend = connect(
        &format!("unix://{}", socket.display()),
        ClientTls::default(),
    )
    .await
    .expect("connects");
    let env = backend
        .create_environment(EnvironmentRequest::new(
            "run-1",
            "job",
            LabelSpec::new("p", "p"),
            WorkspaceSource::new(&ws, false),
        ))
        .await
        .expect("environment");
    let _ = env.primary().await.expect("primary");
    assert!(
        std::fs::read_dir(&root).map(|d| d.count()).unwrap_or(0) > 0,
        "nothing created"
    );
    let _ = Command::new("kill").arg(plugin.id().to_string()).status();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = plugin.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the plugin ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("stopped {:?} after SIGTERM", start.elapsed());
    assert!(status.success(), "{status:?}");
    let left: Vec<_> = std::fs::read_dir(&root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!socket.exists(), "the socket file was left");
}
