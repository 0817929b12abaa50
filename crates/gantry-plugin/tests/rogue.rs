#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Misbehaving plugins: a real gRPC server that hangs, answers out of order, or speaks
//! another protocol version. gantry must report each clearly and never panic or wait
//! forever.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_backend::{
    Backend, BackendError, EnvironmentRequest, ExecRequest, LabelSpec, StopLevel, WorkspaceSource,
};
use gantry_plugin::{PluginBackend, PluginConfig, PluginSource};
use gantry_plugin_proto::v1::{self, backend_server, exec_event::Event};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// How the rogue misbehaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    HangCreate,
    OutputBeforeStarted,
    NoExit,
    BadExit,
    BadStream,
    EventAfterExit,
    WrongVersion,
    ShortRead,
}

struct Rogue {
    mode: Mode,
}

type R<T> = Result<Response<T>, Status>;
type S<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

fn ev(e: Event) -> Result<v1::ExecEvent, Status> {
    Ok(v1::ExecEvent { event: Some(e) })
}

#[tonic::async_trait]
impl backend_server::Backend for Rogue {
    async fn get_capabilities(
        &self,
        _: Request<v1::GetCapabilitiesRequest>,
    ) -> R<v1::Capabilities> {
        Ok(Response::new(v1::Capabilities {
            protocol_version: if self.mode == Mode::WrongVersion {
                2
            } else {
                1
            },
            protocol_revision: 1,
            backend_name: "rogue".into(),
            os: "Linux".into(),
            arch: "X64".into(),
            workspace: v1::WorkspaceDelivery::LocalPath as i32,
            ..Default::default()
        }))
    }
    async fn validate_label(
        &self,
        _: Request<v1::ValidateLabelRequest>,
    ) -> R<v1::ValidateLabelResponse> {
        Ok(Response::new(v1::ValidateLabelResponse::default()))
    }
    async fn create_environment(
        &self,
        _: Request<v1::CreateEnvironmentRequest>,
    ) -> R<v1::CreateEnvironmentResponse> {
        if self.mode == Mode::HangCreate {
            std::future::pending::<()>().await;
        }
        Ok(Response::new(v1::CreateEnvironmentResponse {
            environment_id: "env".into(),
            ..Default::default()
        }))
    }
    async fn primary(&self, _: Request<v1::PrimaryRequest>) -> R<v1::ContainerInfo> {
        Ok(Response::new(v1::ContainerInfo {
            container_id: "c".into(),
            workspace: "/tmp".into(),
            temp: "/tmp".into(),
            ..Default::default()
        }))
    }
    async fn remove_environment(
        &self,
        _: Request<v1::RemoveEnvironmentRequest>,
    ) -> R<v1::RemoveEnvironmentResponse> {
        Ok(Response::new(v1::RemoveEnvironmentResponse {}))
    }
    async fn create_container(
        &self,
        _: Request<v1::CreateContainerRequest>,
    ) -> R<v1::ContainerInfo> {
        Err(Status::failed_precondition("no containers"))
    }
    async fn start_container(&self, _: Request<v1::ContainerRef>) -> R<v1::StartContainerResponse> {
        Ok(Response::new(v1::StartContainerResponse {}))
    }
    type ExecStream = S<v1::ExecEvent>;
    async fn exec(&self, _: Request<v1::ExecRequest>) -> R<Self::ExecStream> {
        let out = |s: i32| {
            Event::Output(v1::Output {
                stream: s,
                data: "x".into(),
            })
        };
        let exit = Event::Exit(v1::Exit {
            code: Some(0),
            signal: None,
        });
        let events = match self.mode {
            Mode::OutputBeforeStarted => vec![ev(out(1)), ev(exit)],
            Mode::NoExit => vec![ev(Event::Started(v1::Started {})), ev(out(1))],
            Mode::BadExit => vec![
                ev(Event::Started(v1::Started {})),
                ev(Event::Exit(v1::Exit::default())),
            ],
            Mode::BadStream => vec![ev(Event::Started(v1::Started {})), ev(out(9))],
            Mode::EventAfterExit => vec![ev(Event::Started(v1::Started {})), ev(exit), ev(out(1))],
            _ => vec![ev(Event::Started(v1::Started {})), ev(exit)],
        };
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            for e in events {
                let _ = tx.send(e).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
    async fn signal(&self, _: Request<v1::SignalRequest>) -> R<v1::SignalResponse> {
        Ok(Response::new(v1::SignalResponse {}))
    }
    async fn copy_in(&self, _: Request<Streaming<v1::CopyInMessage>>) -> R<v1::CopyInResponse> {
        Err(Status::unimplemented("no"))
    }
    type CopyOutStream = S<v1::CopyOutChunk>;
    async fn copy_out(&self, _: Request<v1::CopyOutRequest>) -> R<Self::CopyOutStream> {
        Err(Status::unimplemented("no"))
    }
    async fn write_files(&self, _: Request<v1::WriteFilesRequest>) -> R<v1::WriteFilesResponse> {
        Ok(Response::new(v1::WriteFilesResponse {}))
    }
    async fn read_env_file(
        &self,
        _: Request<v1::ReadEnvFileRequest>,
    ) -> R<v1::ReadEnvFileResponse> {
        Ok(Response::new(v1::ReadEnvFileResponse { files: vec![] }))
    }
    async fn health(&self, _: Request<v1::ContainerRef>) -> R<v1::HealthResponse> {
        Ok(Response::new(v1::HealthResponse {
            state: 42,
            detail: String::new(),
        }))
    }
    async fn remove_container(
        &self,
        _: Request<v1::ContainerRef>,
    ) -> R<v1::RemoveContainerResponse> {
        Ok(Response::new(v1::RemoveContainerResponse {}))
    }
    async fn reap(&self, _: Request<v1::ReapRequest>) -> R<v1::ReapResponse> {
        Ok(Response::new(v1::ReapResponse::default()))
    }
}

/// Serves a rogue on a fresh unix socket; returns its address and the dir holding it.
async fn serve(mode: Mode) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rogue.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    tokio::spawn(async move {
        let _keep = reporter;
        let _ = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(backend_server::BackendServer::new(Rogue { mode }))
            .serve_with_incoming(UnixListenerStream::new(listener))
            .await;
    });
    (format!("unix://{}", path.display()), dir)
}

async fn backend(mode: Mode) -> (Arc<PluginBackend>, tempfile::TempDir) {
    let (address, dir) = serve(mode).await;
    let mut cfg = PluginConfig::new(
        "rogue",
        PluginSource::Connect {
            address,
            tls: None,
            insecure: false,
        },
    );
    cfg.call_timeout = Duration::from_secs(1);
    cfg.setup_timeout = Duration::from_secs(1);
    (PluginBackend::start(cfg).await.expect("connects"), dir)
}

fn request() -> EnvironmentRequest {
    EnvironmentRequest::new(
        "run",
        "job",
        LabelSpec::new("rogue", "rogue"),
        WorkspaceSource::new(std::env::temp_dir(), true),
    )
}

async fn exec_error(mode: Mode) -> String {
    let (b, _dir) = backend(mode).await;
    let env = b.create_environment(request()).await.expect("environment");
    let c = env.primary().await.expect("primary");
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(StopLevel::Run);
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        c.exec(ExecRequest::new(vec!["true".into()]), tx, stop_rx),
    )
    .await
    .expect("the exec must not hang");
    match r {
        Ok(status) => panic!("{mode:?}: accepted with {status}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_plugin_is_reported_not_waited_on() {
    let (b, _dir) = backend(Mode::HangCreate).await;
    let started = Instant::now();
    let err = match b.create_environment(request()).await {
        Ok(_) => panic!("a hanging CreateEnvironment succeeded"),
        Err(e) => e,
    };
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, BackendError::Timeout { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("rogue") && text.contains("CreateEnvironment"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_and_malformed_exec_streams_are_errors() {
    for (mode, needle) in [
        (Mode::OutputBeforeStarted, "first event must be `started`"),
        (Mode::NoExit, "without an `exit` event"),
        (Mode::BadExit, "neither code nor signal"),
        (Mode::BadStream, "neither STDOUT nor STDERR"),
        (Mode::EventAfterExit, "after `exit`"),
    ] {
        let err = exec_error(mode).await;
        assert!(err.contains(needle), "{mode:?}: {err}");
        assert!(
            err.contains("rogue"),
            "{mode:?} does not name the plugin: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_answers_and_unknown_states_are_errors() {
    let (b, _dir) = backend(Mode::ShortRead).await;
    let env = b.create_environment(request()).await.expect("environment");
    let c = env.primary().await.expect("primary");
    let err = c
        .read_files(&["/a".into(), "/b".into()])
        .await
        .expect_err("two asked, none answered");
    assert!(
        err.to_string().contains("2 files asked for, 0 answered"),
        "{err}"
    );
    let err = c.health().await.expect_err("state 42");
    assert!(
        err.to_string().contains("42 is not a health state"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_of_another_protocol_version_is_refused() {
    let (address, _dir) = serve(Mode::WrongVersion).await;
    let cfg = PluginConfig::new(
        "rogue",
        PluginSource::Connect {
            address,
            tls: None,
            insecure: false,
        },
    );
    let err = match PluginBackend::start(cfg).await {
        Ok(_) => panic!("a v2 plugin was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("protocol v2") && err.contains("speaks v1"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_plain_tcp_addresses_are_explained() {
    let cfg = PluginConfig::new(
        "gone",
        PluginSource::Connect {
            address: "unix:///nonexistent/gantry.sock".into(),
            tls: None,
            insecure: false,
        },
    );
    let err = PluginBackend::start(cfg)
        .await
        .err()
        .expect("fails")
        .to_string();
    assert!(
        err.contains("gone") && err.contains("/nonexistent/gantry.sock"),
        "{err}"
    );
    let cfg = PluginConfig::new(
        "plain",
        PluginSource::Connect {
            address: "tcp://127.0.0.1:9".into(),
            tls: None,
            insecure: false,
        },
    );
    let err = PluginBackend::start(cfg)
        .await
        .err()
        .expect("fails")
        .to_string();
    assert!(err.contains("insecure = true"), "{err}");
}
