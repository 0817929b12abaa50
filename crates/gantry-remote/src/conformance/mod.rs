//! The conformance suite every remote adapter must pass (`gantry remote test NAME`).
//!
//! It checks epack conformance: the capabilities in epack's spelling, a push, pulls by
//! digest, canonical ref, release id, version and latest, `pull.finalize` confirming (and
//! refusing tokens it never issued), `runs.sync` in epack's shape, whoami, and the
//! malformed requests that must come back as error objects. It drives the adapter through
//! gantry's real code paths (the same calls, transfers and checks `gantry push`/`pull`
//! use), in the adapter's dialect: with [`Dialect::Epack`](crate::Dialect::Epack) the
//! adapter is driven exactly as epack's executor drives it.
//!
//! A suite that cannot run has failed: when the capabilities cannot be read, that case
//! fails and every other selected case is reported as failed, not run.
//!
//! Use a remote dedicated to testing: the suite pushes small packs (named
//! `gantry-conformance` where the remote has names).

mod wire;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::adapter::{new_request_id, Adapter};
use crate::error::RemoteError;
use crate::pack::{digests, AnyFile, PackDigests, PackFormat};
use crate::protocol::{
    Capabilities, ErrorCode, PullFinalize, PullPrepare, ReleaseInfo, SyncStatus, Target, KIND,
};
use crate::pull::{pull, PullRef, Pulled};
use crate::push::{push, PushOptions, Pushed};
use crate::runs::{sync_runs, RunFile};

/// The name of every case, in the order they run.
pub const CASES: [&str; 18] = [
    "capabilities_shape",
    "push_round_trip",
    "push_same_pack_again",
    "pull_by_digest",
    "pull_by_canonical_ref",
    "pull_by_release_id",
    "pull_by_version",
    "pull_latest",
    "pull_finalize_confirms",
    "pull_finalize_unknown_token_is_an_error",
    "pull_missing_is_not_found",
    "unknown_command_is_an_error",
    "request_id_echoed",
    "bad_request_is_an_error",
    "unsupported_protocol_is_an_error",
    "whoami",
    "runs_sync",
    "runs_sync_again_is_not_rejected",
];

/// The outcome of one case.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CaseResult {
    /// The case.
    pub name: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// Why it failed, or what was checked or skipped.
    pub detail: String,
    /// How long it took.
    pub duration: Duration,
}

/// Where the suite may write its test packs, the target it pushes to, and how it reads
/// packs.
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// A directory the suite may write to.
    pub scratch: PathBuf,
    /// Where on the remote.
    pub target: Target,
    /// Only cases whose name contains this.
    pub filter: Option<String>,
    /// How pulled packs are read (their pack digest).
    pub format: Arc<dyn PackFormat>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("scratch", &self.scratch)
            .field("target", &self.target)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Options writing into `scratch`, with no filter and no pack format.
    pub fn new(scratch: impl Into<PathBuf>) -> Self {
        Options {
            scratch: scratch.into(),
            target: Target::default(),
            filter: None,
            format: Arc::new(AnyFile),
        }
    }

    fn selects(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }
}

/// Whether `filter` selects at least one case.
pub fn selects_any(filter: Option<&str>) -> bool {
    filter.is_none_or(|f| CASES.iter().any(|c| c.contains(f)))
}

type Outcome = Result<String, String>;

struct Suite<'a> {
    options: &'a Options,
    results: Vec<CaseResult>,
}

impl Suite<'_> {
    async fn case<F: Future<Output = Outcome>>(&mut self, name: &'static str, f: F) {
        if !self.options.selects(name) {
            return;
        }
        let start = Instant::now();
        let (passed, detail) = match f.await {
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

    /// Records the outcome of case `name`, which had to run whatever the filter (later
    /// cases need what it did), when the filter selects it.
    fn record(&mut self, name: &'static str, outcome: Outcome, duration: Duration) {
        if self.options.selects(name) {
            let (passed, detail) = match outcome {
                Ok(d) => (true, d),
                Err(d) => (false, d),
            };
            self.results.push(CaseResult {
                name,
                passed,
                detail,
                duration,
            });
        }
    }

    fn not_run(&mut self, reason: &str) {
        for name in CASES.iter().skip(1) {
            if self.options.selects(name) {
                self.results.push(CaseResult {
                    name,
                    passed: false,
                    detail: format!("not run: {reason}"),
                    duration: Duration::ZERO,
                });
            }
        }
    }
}

/// What the push cases left for the pull cases.
struct Pushed1 {
    pushed: Pushed,
    content: Vec<u8>,
}

/// Runs every selected case against `adapter`.
pub async fn run(adapter: &Adapter, options: &Options) -> Vec<CaseResult> {
    let mut suite = Suite {
        options,
        results: Vec::new(),
    };
    let start = Instant::now();
    let caps = adapter.capabilities().await;
    let caps = match caps {
        Err(e) => {
            // Reported whatever the filter: without capabilities nothing else can run.
            suite.results.push(CaseResult {
                name: CASES[0],
                passed: false,
                detail: e.to_string(),
                duration: start.elapsed(),
            });
            suite.not_run("the capabilities could not be read");
            return suite.results;
        }
        Ok(c) => c,
    };
    suite
        .case("capabilities_shape", async { check_capabilities(&caps) })
        .await;

    let pushed = push_cases(&mut suite, adapter, &caps).await;
    pull_cases(&mut suite, adapter, &caps, pushed.as_ref()).await;
    wire::cases(&mut suite, adapter, &caps).await;
    runs_cases(
        &mut suite,
        adapter,
        &caps,
        pushed.as_ref().map(|p| &p.pushed.digests),
    )
    .await;
    suite.results
}

fn check_capabilities(c: &Capabilities) -> Outcome {
    let name_ok = c.name.len() <= 64
        && c.name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || (i > 0 && matches!(b, b'.' | b'_' | b'-'))
        })
        && !c.name.is_empty();
    if !name_ok {
        return Err(format!(
            "`name` {:?} must match ^[a-z0-9][a-z0-9._-]{{0,63}}$ (epack's adapter names)",
            c.name
        ));
    }
    if c.kind.as_deref() != Some(KIND) {
        return Err(format!(
            "`kind` is {:?}; epack adapters declare \"{KIND}\"",
            c.kind
        ));
    }
    if c.deploy_protocol_version.is_none() {
        return Err("no `deploy_protocol_version`: epack reads 0 and refuses the adapter".into());
    }
    let f = &c.features;
    Ok(format!(
        "`{}` v{}: prepare_finalize {}, pull {}, runs_sync {}, auth_login {}, whoami {}",
        c.name,
        c.deploy_protocol_version.unwrap_or_default(),
        f.prepare_finalize,
        f.pull,
        f.runs_sync,
        f.auth_login,
        f.whoami
    ))
}

async fn push_cases(
    suite: &mut Suite<'_>,
    adapter: &Adapter,
    caps: &Capabilities,
) -> Option<Pushed1> {
    let options = suite.options;
    let pack = options.scratch.join("gantry-conformance.pack");
    let content: Vec<u8> = format!("gantry conformance pack {}\n", new_request_id())
        .into_bytes()
        .into_iter()
        .cycle()
        .take(70_000)
        .collect();
    let mut release = ReleaseInfo::default();
    release.name = Some("gantry-conformance".into());
    release.labels = vec!["gantry-conformance".into()];
    let push_options = PushOptions::new(options.target.clone(), release);
    let mut result = None;
    let start = Instant::now();
    let first = if !caps.features.prepare_finalize {
        Ok("skipped: prepare_finalize not advertised".into())
    } else if let Err(e) = std::fs::write(&pack, &content) {
        Err(format!("writing {}: {e}", pack.display()))
    } else {
        match push(adapter, &pack, options.format.as_ref(), &push_options).await {
            Ok(p) => {
                let checked = check_release(&p);
                result = Some(Pushed1 {
                    pushed: p,
                    content: content.clone(),
                });
                checked
            }
            Err(e) => Err(e.to_string()),
        }
    };
    suite.record("push_round_trip", first, start.elapsed());
    let start = Instant::now();
    let again = match &result {
        None => Err("nothing was pushed".to_string()),
        Some(_) => match push(adapter, &pack, options.format.as_ref(), &push_options).await {
            Ok(p) if p.uploaded => Ok(format!(
                "a new release {} (uploaded again)",
                p.release.release_id
            )),
            Ok(p) => Ok(format!(
                "a new release {} (upload skipped)",
                p.release.release_id
            )),
            Err(e) => Err(e.to_string()),
        },
    };
    let again = if caps.features.prepare_finalize {
        again
    } else {
        Ok("skipped: prepare_finalize not advertised".into())
    };
    suite.record("push_same_pack_again", again, start.elapsed());
    let _ = std::fs::remove_file(&pack);
    result
}

fn check_release(p: &Pushed) -> Outcome {
    let r = &p.release;
    if r.release_id.is_empty() {
        return Err("the release has no release_id".into());
    }
    if let Some(cref) = &r.canonical_ref {
        match PullRef::parse(cref) {
            Ok(parsed) if parsed.digest.as_deref() == Some(p.digests.digest.as_str()) => {}
            _ => {
                return Err(format!(
                    "canonical_ref `{cref}` is not in epack's form `<location>@{}`",
                    p.digests.digest
                ))
            }
        }
    }
    Ok(format!(
        "release {} ({}), pack digest {}",
        r.release_id,
        r.canonical_ref.as_deref().unwrap_or("no canonical_ref"),
        p.digests.digest
    ))
}

async fn pull_cases(
    suite: &mut Suite<'_>,
    adapter: &Adapter,
    caps: &Capabilities,
    pushed: Option<&Pushed1>,
) {
    if !caps.features.pull {
        for name in CASES.iter().filter(|c| c.starts_with("pull_")) {
            suite.record(
                name,
                Ok("skipped: pull not advertised".into()),
                Duration::ZERO,
            );
        }
        return;
    }
    let options = suite.options;
    let out = options.scratch.join("gantry-conformance.pulled");
    let target = &options.target;
    let format = options.format.as_ref();
    let fetch = |asked: PullRef| {
        let out = out.clone();
        async move {
            let Some(p) = pushed else {
                return Err("nothing was pushed to pull back".to_string());
            };
            let pulled = pull(adapter, &asked, target, &out, format)
                .await
                .map_err(|e| e.to_string())?;
            let got = std::fs::read(&out).map_err(|e| format!("reading {}: {e}", out.display()))?;
            let _ = std::fs::remove_file(&out);
            if got != p.content {
                return Err("pulled bytes differ from the pushed pack".into());
            }
            if let Some(w) = &pulled.finalize_warning {
                return Err(format!("pull.finalize: {w}"));
            }
            Ok(pulled)
        }
    };
    let describe = |p: Pulled| {
        format!(
            "{} bytes, {}, release {}",
            p.size_bytes,
            p.file_digest,
            p.pack.release_id.as_deref().unwrap_or("?")
        )
    };
    let digest = pushed
        .map(|p| p.pushed.digests.digest.clone())
        .unwrap_or_default();
    let mut version = pushed.and_then(|p| p.pushed.release.version.clone());
    let by_digest = fetch(PullRef::digest(digest.clone())).await;
    if let Ok(p) = &by_digest {
        version = version.or_else(|| p.pack.version.clone());
    }
    suite
        .case("pull_by_digest", async { by_digest.map(describe) })
        .await;
    let cref = pushed.and_then(|p| p.pushed.release.canonical_ref.clone());
    suite
        .case("pull_by_canonical_ref", async {
            match cref {
                None if pushed.is_some() => Ok("skipped: the release has no canonical_ref".into()),
                None => Err("nothing was pushed to pull back".into()),
                Some(c) => {
                    let asked =
                        PullRef::parse(&c).map_err(|e| format!("canonical_ref `{c}`: {e}"))?;
                    fetch(asked).await.map(describe)
                }
            }
        })
        .await;
    let release_id = pushed
        .map(|p| p.pushed.release.release_id.clone())
        .unwrap_or_default();
    suite
        .case("pull_by_release_id", async {
            fetch(PullRef::release_id(release_id)).await.map(describe)
        })
        .await;
    suite
        .case("pull_by_version", async {
            match version {
                Some(v) => fetch(PullRef::version(v)).await.map(describe),
                None if pushed.is_some() => {
                    Ok("skipped: the adapter reported no version for the release".into())
                }
                None => Err("nothing was pushed to pull back".into()),
            }
        })
        .await;
    suite
        .case("pull_latest", async {
            fetch(PullRef::latest()).await.map(describe)
        })
        .await;
    suite
        .case("pull_finalize_confirms", async {
            finalize_confirms(adapter, target, &digest).await
        })
        .await;
    suite
        .case("pull_finalize_unknown_token_is_an_error", async {
            let req = PullFinalize::new(
                adapter.name().to_string(),
                target.clone(),
                digest.clone(),
                format!("gantry-conformance-unknown-{}", new_request_id()),
                adapter.dialect().sends_gantry_fields(),
            );
            match adapter.pull_finalize(&req).await {
                Err(RemoteError::Adapter { code, .. })
                    if matches!(code, ErrorCode::NotFound | ErrorCode::InvalidRequest) =>
                {
                    Ok(format!("{code}"))
                }
                Err(e) => Err(format!(
                    "expected a not_found or invalid_request error, got: {e}"
                )),
                Ok(_) => Err("pull.finalize accepted a token pull.prepare never issued".into()),
            }
        })
        .await;
    suite
        .case("pull_missing_is_not_found", async {
            let missing = options.scratch.join("missing.pack");
            let absent = format!("sha256:{}", "0".repeat(64));
            match pull(adapter, &PullRef::digest(absent), target, &missing, format).await {
                Err(RemoteError::Adapter {
                    code: ErrorCode::NotFound,
                    ..
                }) => Ok(String::new()),
                Err(e) => Err(format!("expected a not_found error, got: {e}")),
                Ok(_) => Err("pulling a pack that does not exist succeeded".into()),
            }
        })
        .await;
}

/// pull.prepare by digest, then pull.finalize with its token: must answer `confirmed: true`.
async fn finalize_confirms(adapter: &Adapter, target: &Target, digest: &str) -> Outcome {
    if digest.is_empty() {
        return Err("nothing was pushed to pull back".into());
    }
    let asked = PullRef::digest(digest);
    let prepared = adapter
        .pull_prepare(&PullPrepare::new(
            adapter.name().to_string(),
            target.clone(),
            asked.wire(adapter.dialect()),
        ))
        .await
        .map_err(|e| e.to_string())?;
    let done = adapter
        .pull_finalize(&PullFinalize::new(
            adapter.name().to_string(),
            target.clone(),
            prepared.pack.digest,
            prepared.finalize_token,
            adapter.dialect().sends_gantry_fields(),
        ))
        .await
        .map_err(|e| e.to_string())?;
    match done.confirmed {
        Some(true) => Ok("confirmed".into()),
        other => Err(format!("expected `confirmed: true`, got {other:?}")),
    }
}

async fn runs_cases(
    suite: &mut Suite<'_>,
    adapter: &Adapter,
    caps: &Capabilities,
    pushed: Option<&PackDigests>,
) {
    let options = suite.options;
    let result = options.scratch.join("gantry-conformance-result.json");
    let run_id = format!("gantry-conformance-{}", new_request_id());
    let runs = vec![RunFile::new(run_id.clone(), result.clone())];
    let prepared = std::fs::write(
        &result,
        serde_json::json!({"run_id": run_id, "status": "success", "jobs": []}).to_string(),
    )
    .map_err(|e| format!("writing {}: {e}", result.display()))
    .and_then(|()| match pushed {
        Some(d) => Ok(d.clone()),
        None => digests(&result, &AnyFile).map_err(|e| e.to_string()),
    });
    let sync = |expect_first: bool| {
        let prepared = prepared.clone();
        let (runs, run_id) = (runs.clone(), run_id.clone());
        async move {
            if !caps.features.runs_sync {
                return Ok("skipped: runs_sync not advertised".into());
            }
            let pack = prepared?;
            let done = sync_runs(adapter, &options.target, &pack, &runs)
                .await
                .map_err(|e| e.to_string())?;
            let item = done.items.iter().find(|i| i.run_id == run_id);
            match (expect_first, item.map(|i| &i.status)) {
                (true, Some(SyncStatus::Accepted)) => Ok(format!("run {run_id} accepted")),
                (false, Some(s @ (SyncStatus::Accepted | SyncStatus::Duplicate))) => {
                    Ok(format!("run {run_id} {s:?} again").to_lowercase())
                }
                (_, other) => Err(format!(
                    "run {run_id}: expected accepted, got {other:?} in {done:?}"
                )),
            }
        }
    };
    suite.case("runs_sync", sync(true)).await;
    suite
        .case("runs_sync_again_is_not_rejected", sync(false))
        .await;
    let _ = std::fs::remove_file(&result);
}
