//! The conformance suite every remote adapter must pass (`gantry remote test NAME`).
//!
//! It drives the adapter through gantry's real code paths (the same [`Adapter`] calls,
//! transfers and checks `gantry push`/`pull` use) and sends the malformed requests the
//! protocol says must come back as error objects. Use a remote dedicated to testing: the
//! suite pushes small packs named `gantry-conformance`.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::adapter::{new_request_id, Adapter};
use crate::error::RemoteError;
use crate::flow::{pull, push, PushOptions};
use crate::protocol::{
    command, Capabilities, ErrorCode, ReleaseInfo, RunRecord, RunsSync, Target, PROTOCOL_VERSION,
};

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: &'static str,
    pub passed: bool,
    /// Why it failed, or what was skipped.
    pub detail: String,
    pub duration: Duration,
}

/// Where the suite may write its test packs, and the target it pushes to.
#[derive(Debug, Clone)]
pub struct Options {
    pub scratch: PathBuf,
    pub target: Target,
    /// Only cases whose name contains this.
    pub filter: Option<String>,
}

impl Options {
    pub fn new(scratch: impl Into<PathBuf>) -> Self {
        Options {
            scratch: scratch.into(),
            target: Target::default(),
            filter: None,
        }
    }
}

type Outcome = Result<String, String>;

struct Suite<'a> {
    options: &'a Options,
    results: Vec<CaseResult>,
}

impl Suite<'_> {
    async fn case<F: Future<Output = Outcome>>(&mut self, name: &'static str, f: F) {
        if self
            .options
            .filter
            .as_deref()
            .is_some_and(|f| !name.contains(f))
        {
            return;
        }
        let start = Instant::now();
        let outcome = f.await;
        let (passed, detail) = match outcome {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        self.results.push(CaseResult {
            name,
            passed,
            detail,
            duration: start.elapsed(),
        });
    }
}

/// Runs every case against `adapter`.
pub async fn run(adapter: &Adapter, options: &Options) -> Vec<CaseResult> {
    let mut suite = Suite {
        options,
        results: Vec::new(),
    };
    let caps = adapter.capabilities().await;
    let caps_outcome = match &caps {
        Ok(c) => check_capabilities(c),
        Err(e) => Err(e.to_string()),
    };
    suite
        .case("capabilities_shape", async { caps_outcome })
        .await;
    let Ok(caps) = caps else {
        return suite.results;
    };
    let pack = options.scratch.join("gantry-conformance.pack");
    let content: Vec<u8> = format!("gantry conformance pack {}\n", new_request_id())
        .into_bytes()
        .into_iter()
        .cycle()
        .take(70_000)
        .collect();
    let mut pushed_ref = None;
    let push_outcome = if !caps.features.prepare_finalize {
        Ok("skipped: prepare_finalize not advertised".into())
    } else {
        match std::fs::write(&pack, &content) {
            Err(e) => Err(format!("writing {}: {e}", pack.display())),
            Ok(()) => {
                let opts = PushOptions {
                    target: options.target.clone(),
                    release: ReleaseInfo {
                        name: Some("gantry-conformance".into()),
                        ..ReleaseInfo::default()
                    },
                };
                match push(adapter, &pack, &opts).await {
                    Ok(r) if r.canonical_ref.is_empty() => Err("empty canonical_ref".into()),
                    Ok(r) => {
                        pushed_ref = Some(r.canonical_ref.clone());
                        Ok(format!("release {}", r.canonical_ref))
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    };
    suite.case("push_round_trip", async { push_outcome }).await;
    if caps.features.pull {
        let out = options.scratch.join("gantry-conformance.pulled");
        let expected = content.clone();
        let target = options.target.clone();
        suite
            .case("pull_round_trip", async {
                let Some(reference) = pushed_ref.as_deref() else {
                    return Err("nothing was pushed to pull back".into());
                };
                let pulled = pull(adapter, reference, &target, &out)
                    .await
                    .map_err(|e| e.to_string())?;
                let got =
                    std::fs::read(&out).map_err(|e| format!("reading {}: {e}", out.display()))?;
                if got != expected {
                    return Err("pulled bytes differ from the pushed pack".into());
                }
                Ok(format!("{} bytes, {}", pulled.size_bytes, pulled.digest))
            })
            .await;
        suite
            .case("pull_missing_is_not_found", async {
                let missing = options.scratch.join("missing.pack");
                match pull(
                    adapter,
                    "gantry-conformance-missing@0",
                    &options.target,
                    &missing,
                )
                .await
                {
                    Err(RemoteError::Adapter {
                        code: ErrorCode::NotFound,
                        ..
                    }) => Ok(String::new()),
                    Err(e) => Err(format!("expected a not_found error, got: {e}")),
                    Ok(_) => Err("pulling a release that does not exist succeeded".into()),
                }
            })
            .await;
    }
    suite
        .case("unknown_command_is_an_error", async {
            expect_error(
                adapter,
                "gantry.no-such-command",
                None,
                ErrorCode::InvalidRequest,
            )
            .await
        })
        .await;
    suite
        .case("request_id_echoed", async {
            let id = format!("conformance \"quoted\" ü {}", new_request_id());
            let body = json!({"type": command::PULL_PREPARE, "protocol_version": PROTOCOL_VERSION,
                "request_id": id, "remote": adapter.name(), "ref": {"raw": "x@y", "name": "x", "version": "y"}});
            let value = send(adapter, command::PULL_PREPARE, &body).await?;
            match value.get("request_id").and_then(|v| v.as_str()) {
                Some(echo) if echo == id => Ok(String::new()),
                other => Err(format!("sent request_id {id:?}, got back {other:?}")),
            }
        })
        .await;
    suite
        .case("bad_request_is_an_error", async {
            let missing_pack = json!({"type": command::PUSH_PREPARE, "protocol_version": PROTOCOL_VERSION,
                "request_id": "conformance-bad", "remote": adapter.name()});
            expect_error(adapter, command::PUSH_PREPARE, Some(missing_pack), ErrorCode::InvalidRequest).await?;
            let value = adapter
                .exchange(command::PUSH_PREPARE, b"this is not json")
                .await
                .map_err(|e| e.to_string())?;
            expect_error_value(&value, None, &ErrorCode::InvalidRequest)
        })
        .await;
    suite
        .case("unsupported_protocol_is_an_error", async {
            let body = json!({"type": command::AUTH_WHOAMI, "protocol_version": 99,
                "request_id": "conformance-v99", "remote": adapter.name()});
            expect_error(
                adapter,
                command::AUTH_WHOAMI,
                Some(body),
                ErrorCode::UnsupportedProtocol,
            )
            .await
        })
        .await;
    suite
        .case("whoami", async {
            if !caps.features.whoami {
                return Ok("skipped: whoami not advertised".into());
            }
            let who = adapter.auth_whoami().await.map_err(|e| e.to_string())?;
            Ok(format!(
                "authenticated: {}, subject: {}",
                who.identity.authenticated,
                who.identity.subject.as_deref().unwrap_or("-")
            ))
        })
        .await;
    suite
        .case("runs_sync", async {
            if !caps.features.runs_sync {
                return Ok("skipped: runs_sync not advertised".into());
            }
            let run_id = new_request_id();
            let synced = adapter
                .runs_sync(&RunsSync {
                    remote: adapter.name().to_string(),
                    target: options.target.clone(),
                    runs: vec![RunRecord {
                        run_id: run_id.clone(),
                        ledger: json!({"run_id": run_id, "status": "success", "jobs": []}),
                    }],
                })
                .await
                .map_err(|e| e.to_string())?;
            if synced.accepted != 1 || !synced.items.iter().any(|i| i.run_id == run_id) {
                return Err(format!("expected 1 accepted run {run_id}, got {synced:?}"));
            }
            Ok(String::new())
        })
        .await;
    let _ = std::fs::remove_file(&pack);
    suite.results
}

fn check_capabilities(c: &Capabilities) -> Outcome {
    if c.name.trim().is_empty() {
        return Err("`name` is empty".into());
    }
    if c.limits.max_pack_bytes == Some(0) {
        return Err("`limits.max_pack_bytes` is 0".into());
    }
    let f = &c.features;
    Ok(format!(
        "`{}` v{}: prepare_finalize {}, pull {}, runs_sync {}, auth_login {}, whoami {}",
        c.name, c.protocol_version, f.prepare_finalize, f.pull, f.runs_sync, f.auth_login, f.whoami
    ))
}

async fn send(
    adapter: &Adapter,
    command: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    adapter
        .exchange(command, &bytes)
        .await
        .map_err(|e| e.to_string())
}

/// Sends `body` (default: a well-formed envelope) as `command` and expects an error
/// object with `code` and the request id echoed.
async fn expect_error(
    adapter: &Adapter,
    command: &str,
    body: Option<serde_json::Value>,
    code: ErrorCode,
) -> Outcome {
    let body = body.unwrap_or_else(|| {
        json!({"type": command, "protocol_version": PROTOCOL_VERSION,
            "request_id": new_request_id(), "remote": adapter.name()})
    });
    let id = body
        .get("request_id")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let value = send(adapter, command, &body).await?;
    expect_error_value(&value, id.as_deref(), &code)
}

fn expect_error_value(value: &serde_json::Value, id: Option<&str>, code: &ErrorCode) -> Outcome {
    let shown: String = value.to_string().chars().take(200).collect();
    if value.get("ok").and_then(|v| v.as_bool()) != Some(false)
        || value.get("type").and_then(|v| v.as_str()) != Some("error")
    {
        return Err(format!(
            "expected {{ok: false, type: \"error\"}}, got {shown}"
        ));
    }
    if let Some(id) = id {
        if value.get("request_id").and_then(|v| v.as_str()) != Some(id) {
            return Err(format!("error does not echo request_id {id:?}: {shown}"));
        }
    }
    let got = value
        .pointer("/error/code")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if got != code.as_str() {
        return Err(format!("expected error code {code}, got `{got}`: {shown}"));
    }
    if value
        .pointer("/error/message")
        .and_then(|v| v.as_str())
        .is_none_or(str::is_empty)
    {
        return Err(format!("error has no message: {shown}"));
    }
    Ok(String::new())
}
