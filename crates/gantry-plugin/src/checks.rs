//! Protocol checks the contract-level conformance suite cannot make, because they need
//! the wire: a plugin must answer malformed requests with the documented status codes
//! rather than crash, hang or accept them.

use std::time::{Duration, Instant};

use gantry_plugin_proto::v1;
use tonic::Code;

use crate::backend::PluginBackend;

/// One wire check's outcome.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
    pub duration: Duration,
}

fn expect(code: Code, got: Result<(), tonic::Status>) -> Result<String, String> {
    match got {
        Err(s) if s.code() == code => Ok(format!("{code:?}: {}", s.message())),
        Err(s) => Err(format!(
            "expected {code:?}, got {:?}: {}",
            s.code(),
            s.message()
        )),
        Ok(()) => Err(format!("expected {code:?}, the call succeeded")),
    }
}

/// Runs every wire check against the plugin behind `backend`.
pub async fn run(backend: &PluginBackend) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let session = match backend.inner().session().await {
        Ok(s) => s,
        Err(e) => {
            out.push(CheckResult {
                name: "wire-session",
                passed: false,
                detail: e.to_string(),
                duration: Duration::ZERO,
            });
            return out;
        }
    };
    let client = session.client.clone();
    let deadline = Duration::from_secs(10);
    macro_rules! check {
        ($name:literal, $code:expr, $call:expr) => {{
            let started = Instant::now();
            let mut c = client.clone();
            #[allow(clippy::redundant_closure_call)]
            let r = tokio::time::timeout(deadline, ($call)(&mut c)).await;
            let (passed, detail) = match r {
                Ok(got) => match expect($code, got) {
                    Ok(d) => (true, d),
                    Err(d) => (false, d),
                },
                Err(_) => (false, format!("no answer within {}s", deadline.as_secs())),
            };
            out.push(CheckResult {
                name: $name,
                passed,
                detail,
                duration: started.elapsed(),
            });
        }};
    }
    check!(
        "wire-exec-unknown-container",
        Code::NotFound,
        |c: &mut v1::backend_client::BackendClient<_>| {
            let mut c = c.clone();
            async move {
                let mut s = c
                    .exec(v1::ExecRequest {
                        exec_id: "conformance-unknown".into(),
                        container_id: "no-such-container".into(),
                        argv: vec!["true".into()],
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                // Some servers report the error as the stream's first item.
                loop {
                    match s.message().await? {
                        Some(_) => continue,
                        None => return Ok(()),
                    }
                }
            }
        }
    );
    check!(
        "wire-primary-unknown-environment",
        Code::NotFound,
        |c: &mut v1::backend_client::BackendClient<_>| {
            let mut c = c.clone();
            async move {
                c.primary(v1::PrimaryRequest {
                    environment_id: "no-such-environment".into(),
                })
                .await
                .map(|_| ())
            }
        }
    );
    check!(
        "wire-signal-unspecified-level",
        Code::InvalidArgument,
        |c: &mut v1::backend_client::BackendClient<_>| {
            let mut c = c.clone();
            async move {
                c.signal(v1::SignalRequest {
                    exec_id: "conformance-unknown".into(),
                    level: 0,
                })
                .await
                .map(|_| ())
            }
        }
    );
    check!(
        "wire-copy-in-without-header",
        Code::InvalidArgument,
        |c: &mut v1::backend_client::BackendClient<_>| {
            let mut c = c.clone();
            async move {
                let msg = v1::CopyInMessage {
                    message: Some(v1::copy_in_message::Message::Chunk(vec![0u8; 512].into())),
                };
                c.copy_in(futures_util::stream::iter(vec![msg]))
                    .await
                    .map(|_| ())
            }
        }
    );
    check!(
        "wire-create-environment-without-run-id",
        Code::InvalidArgument,
        |c: &mut v1::backend_client::BackendClient<_>| {
            let mut c = c.clone();
            async move {
                c.create_environment(v1::CreateEnvironmentRequest {
                    job_id: "x".into(),
                    label: Some(v1::Label::default()),
                    ..Default::default()
                })
                .await
                .map(|_| ())
            }
        }
    );
    check!(
        "wire-remove-unknown-environment-is-ok",
        Code::Ok,
        |c: &mut v1::backend_client::BackendClient<_>| {
            let mut c = c.clone();
            async move {
                c.remove_environment(v1::RemoveEnvironmentRequest {
                    environment_id: "no-such-environment".into(),
                })
                .await
                .map(|_| ())
                .and(Err(tonic::Status::ok("removed")))
            }
        }
    );
    out
}
