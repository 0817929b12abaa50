#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Real adapter processes (tiny shell scripts that misbehave on purpose) driven through
//! `Adapter`: timeouts, garbage, wrong ids, size caps, retries, pins and sealed copies.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gantry_remote::lock::{digest_file, AdapterPin};
use gantry_remote::protocol::ErrorCode;
use gantry_remote::{Adapter, AdapterConfig, AdapterSource, Dialect, RemoteError, RetryPolicy};

/// Reads the request line and sets `$id` to its request_id.
const PRELUDE: &str = "#!/bin/sh\nread -r line\nid=$(printf '%s' \"$line\" | sed -n 's/.*\"request_id\":\"\\([^\"]*\\)\".*/\\1/p')\n";

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("{PRELUDE}{body}")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn config(path: &Path) -> AdapterConfig {
    let mut c = AdapterConfig::new("test", AdapterSource::Command(path.to_path_buf()));
    c.timeout = Duration::from_secs(10);
    c.retry = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    c
}

fn open(path: &Path) -> Adapter {
    Adapter::open(config(path)).expect("open adapter")
}

const WHOAMI_OK: &str = "printf '{\"ok\":true,\"type\":\"%s.result\",\"request_id\":\"%s\",\"identity\":{\"authenticated\":true,\"subject\":\"me\"}}\\n' \"$1\" \"$id\"\n";

#[tokio::test]
async fn a_well_behaved_script_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let adapter = open(&script(dir.path(), "ok", WHOAMI_OK));
    let who = adapter.auth_whoami().await.expect("whoami");
    assert_eq!(who.identity.subject.as_deref(), Some("me"));
}

#[tokio::test]
async fn a_hanging_adapter_times_out_and_its_group_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("sleeper.pid");
    let path = script(
        dir.path(),
        "hang",
        &format!("sleep 60 &\necho $! > {}\nwait\n", pidfile.display()),
    );
    let mut cfg = config(&path);
    cfg.timeout = Duration::from_millis(700);
    let adapter = Adapter::open(cfg).expect("open");
    let start = Instant::now();
    let err = adapter.auth_whoami().await.expect_err("must time out");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(err, RemoteError::Timeout { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("`test`") && msg.contains("auth.whoami"),
        "{msg}"
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    std::thread::sleep(Duration::from_millis(200));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    assert!(
        state.is_none() || state == Some("Z"),
        "the adapter's child survived: {stat}"
    );
}

#[tokio::test]
async fn garbage_and_partial_output_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = open(&script(
        dir.path(),
        "garbage",
        "echo 'hello, I am not JSON'\n",
    ));
    let msg = garbage
        .auth_whoami()
        .await
        .expect_err("garbage")
        .to_string();
    assert!(
        msg.contains("`test` auth.whoami") && msg.contains("not a JSON object"),
        "{msg}"
    );
    let partial = open(&script(
        dir.path(),
        "partial",
        "printf '{\"ok\": true, \"type\":'\n",
    ));
    let msg = partial
        .auth_whoami()
        .await
        .expect_err("partial")
        .to_string();
    assert!(msg.contains("incomplete JSON"), "{msg}");
    let silent = open(&script(dir.path(), "silent", "echo oops >&2\nexit 3\n"));
    let msg = silent.auth_whoami().await.expect_err("silent").to_string();
    assert!(
        msg.contains("no response") && msg.contains("code 3") && msg.contains("oops"),
        "{msg}"
    );
}

#[tokio::test]
async fn wrong_request_id_or_type_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong_id = open(&script(
        dir.path(),
        "wrong-id",
        "printf '{\"ok\":true,\"type\":\"%s.result\",\"request_id\":\"someone-else\",\"identity\":{}}\\n' \"$1\"\n",
    ));
    let msg = wrong_id
        .auth_whoami()
        .await
        .expect_err("wrong id")
        .to_string();
    assert!(msg.contains("request_id `someone-else`"), "{msg}");
    let wrong_type = open(&script(
        dir.path(),
        "wrong-type",
        "printf '{\"ok\":true,\"type\":\"push.prepare.result\",\"request_id\":\"%s\"}\\n' \"$id\"\n",
    ));
    let msg = wrong_type
        .auth_whoami()
        .await
        .expect_err("wrong type")
        .to_string();
    assert!(msg.contains("expected `auth.whoami.result`"), "{msg}");
}

#[tokio::test]
async fn oversized_responses_are_cut_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = script(
        dir.path(),
        "flood",
        "yes '{\"padding\": 1}' | head -c 100000\n",
    );
    let mut cfg = config(&path);
    cfg.max_response_bytes = 4096;
    let adapter = Adapter::open(cfg).expect("open");
    let msg = adapter
        .auth_whoami()
        .await
        .expect_err("too big")
        .to_string();
    assert!(msg.contains("4096 byte limit"), "{msg}");
}

fn counting_error(dir: &Path, name: &str, retryable: bool, fail_times: u32) -> (PathBuf, PathBuf) {
    let counter = dir.join(format!("{name}.count"));
    let body = format!(
        "n=$(cat {c} 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > {c}\n\
         if [ $n -le {fail_times} ]; then\n\
         printf '{{\"ok\":false,\"type\":\"error\",\"request_id\":\"%s\",\"error\":{{\"code\":\"server_error\",\"message\":\"try %s\",\"retryable\":{retryable}}}}}\\n' \"$id\" \"$n\"\n\
         exit 1\nfi\n{WHOAMI_OK}",
        c = counter.display()
    );
    (script(dir, name, &body), counter)
}

fn count(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .expect("counter")
        .trim()
        .parse()
        .expect("number")
}

#[tokio::test]
async fn retryable_errors_are_retried_with_backoff() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, counter) = counting_error(dir.path(), "flaky", true, 2);
    let adapter = open(&path);
    let who = adapter.auth_whoami().await.expect("third attempt succeeds");
    assert!(who.identity.authenticated);
    assert_eq!(count(&counter), 3);

    let (path, counter) = counting_error(dir.path(), "down", true, 10);
    let err = open(&path).auth_whoami().await.expect_err("gives up");
    assert_eq!(count(&counter), 3, "attempts are capped");
    assert!(
        err.is_retryable() && err.to_string().contains("try 3"),
        "{err}"
    );
}

#[tokio::test]
async fn non_retryable_errors_are_not_retried() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, counter) = counting_error(dir.path(), "broken", false, 10);
    let err = open(&path).auth_whoami().await.expect_err("fails");
    assert_eq!(count(&counter), 1);
    assert_eq!(err.code(), Some(&ErrorCode::ServerError));
    let msg = err.to_string();
    assert!(
        msg.contains("remote adapter `test` auth.whoami: server_error: try 1"),
        "{msg}"
    );
}

fn capabilities_script(dir: &Path, name: &str, adapter_name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\necho '{{\"name\":\"{adapter_name}\",\"protocol_version\":1}}'\n"),
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test]
async fn a_pinned_adapter_runs_from_its_sealed_copy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seal_dir = tempfile::tempdir().expect("seal dir");
    let path = capabilities_script(dir.path(), "gantry-remote-one", "one");
    let mut cfg = config(&path);
    cfg.pin = Some(AdapterPin {
        command: path.clone(),
        sha256: digest_file(&path).expect("digest"),
    });
    cfg.seal_dir = Some(seal_dir.path().to_path_buf());
    cfg.frozen = true;
    let adapter = Adapter::open(cfg.clone()).expect("pinned adapter opens");
    assert!(adapter.is_sealed());
    assert_ne!(adapter.exec_path(), path.as_path());
    assert!(
        adapter.exec_path().starts_with(seal_dir.path()),
        "{:?}",
        adapter.exec_path()
    );
    // The original is swapped after the check: what runs is still the verified copy.
    capabilities_script(dir.path(), "gantry-remote-one", "evil");
    assert_eq!(adapter.capabilities().await.expect("caps").name, "one");
    let sealed = adapter.exec_path().to_path_buf();
    drop(adapter);
    assert!(!sealed.exists(), "the sealed copy is removed");
    // Opening again now sees the tampered bytes and refuses them.
    let err = Adapter::open(cfg).expect_err("tampered");
    assert!(matches!(err, RemoteError::PinMismatch { .. }), "{err}");
    assert!(err.to_string().contains("gantry remote lock test"), "{err}");
    assert_eq!(std::fs::read_dir(seal_dir.path()).expect("ls").count(), 0);
}

#[tokio::test]
async fn frozen_refuses_unpinned_and_paths_must_be_absolute() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = capabilities_script(dir.path(), "a", "a");
    let mut cfg = config(&path);
    cfg.frozen = true;
    let err = Adapter::open(cfg).expect_err("frozen");
    assert!(matches!(err, RemoteError::NotPinned { .. }), "{err}");
    let err = Adapter::open(config(Path::new("bin/adapter"))).expect_err("relative");
    assert!(err.to_string().contains("not an absolute path"), "{err}");
    let lookup = AdapterConfig::new("x", AdapterSource::Lookup("fs".into()));
    let err = Adapter::open(lookup).expect_err("no opt-in");
    assert!(err.to_string().contains("path-lookup = true"), "{err}");
    let mut pinned_elsewhere = config(&path);
    pinned_elsewhere.pin = Some(AdapterPin {
        command: "/usr/bin/other".into(),
        sha256: "00".into(),
    });
    let err = Adapter::open(pinned_elsewhere).expect_err("pin for another path");
    assert!(
        err.to_string().contains("gantry.lock pins /usr/bin/other"),
        "{err}"
    );
}

#[tokio::test]
async fn the_adapter_gets_an_allowlisted_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("env.txt");
    let path = script(
        dir.path(),
        "gantry-remote-envy",
        &format!("env > {}\n{WHOAMI_OK}", dump.display()),
    );
    let mut cfg = config(&path);
    cfg.env = vec![("GANTRY_REMOTE_ENVY_TOKEN".into(), "s3cret".into())];
    assert_eq!(cfg.kind(), "envy");
    Adapter::open(cfg)
        .expect("open")
        .auth_whoami()
        .await
        .expect("whoami");
    let env = std::fs::read_to_string(&dump).expect("env dump");
    assert!(env.contains("GANTRY_REMOTE_ENVY_TOKEN=s3cret"), "{env}");
    assert!(env.contains("PATH="), "{env}");
    // What epack's executor sets for every adapter.
    assert!(env.contains("EPACK_REMOTE_PROTOCOL_VERSION=1"), "{env}");
    // cargo sets these for the test process; the adapter must not inherit them.
    assert!(!env.contains("CARGO_MANIFEST_DIR"), "{env}");
    assert!(!env.contains("CARGO_PKG_NAME"), "{env}");
}

fn raw_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test]
async fn epacks_capability_spelling_is_accepted_and_epack_reads_only_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let epack = raw_script(
        dir.path(),
        "epack-remote-x",
        "echo '{\"name\":\"x\",\"kind\":\"remote_adapter\",\"deploy_protocol_version\":1,\"features\":{\"pull\":true}}'\n",
    );
    let caps = open(&epack)
        .capabilities()
        .await
        .expect("epack capabilities");
    assert!(caps.features.pull);
    // gantry's first spelling only: gantry reads it, epack reads version 0 and refuses.
    let gantry_only = capabilities_script(dir.path(), "old", "old");
    assert!(open(&gantry_only).capabilities().await.is_ok());
    let mut cfg = config(&gantry_only);
    cfg.dialect = Dialect::Epack;
    let err = Adapter::open(cfg)
        .expect("open")
        .capabilities()
        .await
        .expect_err("epack refuses");
    assert!(err.to_string().contains("epack reads 0"), "{err}");
    let none = raw_script(dir.path(), "none", "echo '{\"name\":\"n\"}'\n");
    let err = open(&none).capabilities().await.expect_err("no version");
    assert!(err.to_string().contains("deploy_protocol_version"), "{err}");
}

#[tokio::test]
async fn the_response_cap_is_epacks_10_mib() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A whoami answer padded to 2 MiB: over gantry's old 1 MiB cap, under epack's 10 MiB.
    let big = script(
        dir.path(),
        "big",
        "printf '{\"ok\":true,\"type\":\"auth.whoami.result\",\"request_id\":\"%s\",\"identity\":{\"authenticated\":true},\"pad\":\"' \"$id\"\nhead -c 2097152 /dev/zero | tr '\\0' 'x'\nprintf '\"}\\n'\n",
    );
    let who = open(&big).auth_whoami().await.expect("2 MiB is accepted");
    assert!(who.identity.authenticated);
    let flood = script(
        dir.path(),
        "flood",
        "head -c 11000000 /dev/zero | tr '\\0' ' '\n",
    );
    let msg = open(&flood)
        .auth_whoami()
        .await
        .expect_err("11 MB is refused")
        .to_string();
    assert!(msg.contains("10485760 byte limit"), "{msg}");
}

#[tokio::test]
async fn a_success_answer_with_a_failing_exit_status_is_refused() {
    // epack's executor fails the command whatever stdout says when the process failed.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = script(dir.path(), "liar", &format!("{WHOAMI_OK}exit 4\n"));
    let msg = open(&path)
        .auth_whoami()
        .await
        .expect_err("exit 4")
        .to_string();
    assert!(
        msg.contains("answered `ok: true` but exited with code 4"),
        "{msg}"
    );
}

#[tokio::test]
async fn answers_shaped_by_epacks_go_sdk_are_accepted() {
    // componentsdk writes the request's type (no `.result`), and `action` as a string.
    let dir = tempfile::tempdir().expect("temp dir");
    let sdk = script(
        dir.path(),
        "sdk",
        "printf '{\"ok\":true,\"type\":\"auth.whoami\",\"request_id\":\"%s\",\"identity\":{\"authenticated\":true,\"subject\":\"sdk\"}}\\n' \"$id\"\n",
    );
    let who = open(&sdk).auth_whoami().await.expect("sdk type");
    assert_eq!(who.identity.subject.as_deref(), Some("sdk"));
    let failing = script(
        dir.path(),
        "sdk-error",
        "printf '{\"ok\":false,\"type\":\"error\",\"request_id\":\"%s\",\"error\":{\"code\":\"forbidden\",\"message\":\"no\",\"action\":\"ask an admin\"}}\\n' \"$id\"\n",
    );
    let err = open(&failing).auth_whoami().await.expect_err("forbidden");
    assert_eq!(err.code(), Some(&ErrorCode::Forbidden));
    assert!(err.to_string().contains("(ask an admin)"), "{err}");
}

#[tokio::test]
async fn the_epack_dialect_writes_requests_as_epack_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seen = dir.path().join("stdin");
    let env = dir.path().join("env");
    let path = raw_script(
        dir.path(),
        "gantry-remote-recorder",
        &format!(
            "cat > {seen}\nenv > {env}\nid=$(sed -n 's/.*\"request_id\":\"\\([^\"]*\\)\".*/\\1/p' {seen})\n{WHOAMI_OK}",
            seen = seen.display(),
            env = env.display()
        ),
    );
    // gantry: a trailing newline and its `remote`; the adapter kind's variables.
    std::env::set_var("GANTRY_REMOTE_RECORDER_TOKEN", "t");
    open(&path).auth_whoami().await.expect("gantry whoami");
    let request = std::fs::read(&seen).expect("request");
    assert_eq!(request.last(), Some(&b'\n'));
    assert!(String::from_utf8_lossy(&request).contains("\"remote\":\"test\""));
    assert!(std::fs::read_to_string(&env)
        .expect("env")
        .contains("GANTRY_REMOTE_RECORDER_TOKEN=t"));

    let mut cfg = config(&path);
    cfg.dialect = Dialect::Epack;
    Adapter::open(cfg)
        .expect("open")
        .auth_whoami()
        .await
        .expect("epack whoami");
    let request = std::fs::read(&seen).expect("request");
    assert_eq!(request.last(), Some(&b'}'), "no trailing newline");
    let value: serde_json::Value = serde_json::from_slice(&request).expect("json");
    assert_eq!(
        value
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec![
            "type".into(),
            "protocol_version".into(),
            "request_id".into()
        ]),
        "epack's auth.whoami request is the envelope only"
    );
    let env = std::fs::read_to_string(&env).expect("env");
    assert!(env.contains("EPACK_REMOTE_PROTOCOL_VERSION=1"), "{env}");
    assert!(!env.contains("GANTRY_REMOTE_RECORDER_TOKEN"), "{env}");
}
