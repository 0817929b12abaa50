//! Adapters written for epack, driven by the real `gantry` binary unchanged:
//! `plugins/python/epack_remote_spec.py`, written from epack's published Remote Adapter
//! Protocol v1 spec only, and a small adapter answering the way epack's Go SDK
//! (`componentsdk`) does. Each test is one thing the issue saw gantry refuse or get wrong.

use std::path::{Path, PathBuf};

use crate::harness::{output, text, Project};
use crate::remote::{has_python, login_approving};

fn spec_adapter() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/python/epack_remote_spec.py")
        .canonicalize()
        .expect("epack_remote_spec.py")
}

/// gantry.toml with remote `spec` on the spec adapter rooted at `root`, plus `extra`
/// lines and `env` entries.
fn spec_remote(p: &Project, root: &Path, extra: &str, env: &str) {
    p.write(
        "gantry.toml",
        &format!(
            "[remotes.spec]\ncommand = {:?}\nworkspace = \"acme\"\n{extra}env = {{ EPACK_REMOTE_SPEC_ROOT = {:?}{env} }}\n",
            spec_adapter().display().to_string(),
            root.display().to_string()
        ),
    );
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The text after `prefix` up to the next space or `)`.
fn after<'a>(text: &'a str, prefix: &str) -> &'a str {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {text}"))
        + prefix.len();
    text[start..]
        .split([' ', ')', ',', '\n'])
        .next()
        .unwrap_or_default()
}

#[test]
fn an_epack_adapters_capabilities_are_read() {
    if !has_python() {
        return;
    }
    let p = Project::new();
    spec_remote(&p, &p.path().join("root"), "", "");
    let out = p.run(&["remote", "capabilities", "spec"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let caps: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(caps["kind"], "remote_adapter");
    assert_eq!(caps["deploy_protocol_version"], 1);
    assert!(caps.get("protocol_version").is_none(), "{caps}");
}

#[test]
fn push_and_pull_by_every_epack_reference() {
    if !has_python() {
        return;
    }
    let p = Project::new();
    let root = p.path().join("root");
    spec_remote(&p, &root, "", "");
    p.write("evidence.bin", &"evidence\n".repeat(3000));
    let out = p.run(&[
        "push",
        "evidence.bin",
        "--remote",
        "spec",
        "--label",
        "monthly",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pushed = stdout(&out);
    // The spec adapter's canonical ref: epack's form, with the pack digest.
    let canonical = after(&pushed, ": ").to_string();
    assert!(
        canonical.starts_with("spec.example/acme/default@sha256:"),
        "{pushed}"
    );
    let digest = after(&pushed, "pack digest ").to_string();
    assert!(canonical.ends_with(&digest), "{pushed}");
    assert!(pushed.contains("release rel_1"), "{pushed}");
    // The upload went into a directory that did not exist: gantry created it.
    assert!(root.join("packs").read_dir().expect("packs").count() == 1);

    let pushed_bytes = std::fs::read(p.path().join("evidence.bin")).expect("read");
    let cases: [&[&str]; 6] = [
        &["--digest", &digest],
        &[&canonical],
        &[],
        &["--latest"],
        &["--release-id", "rel_1"],
        &["--release-version", "v1"],
    ];
    for (i, args) in cases.iter().enumerate() {
        let file = format!("got-{i}.bin");
        let mut all = vec!["pull", "--remote", "spec", "-o", &file];
        all.extend_from_slice(args);
        let out = p.run(&all);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert!(stdout(&out).contains("verified"), "{}", text(&out));
        assert!(
            !stderr(&out).contains("warning"),
            "{args:?}: {}",
            text(&out)
        );
        assert_eq!(
            std::fs::read(p.path().join(&file)).expect("pulled"),
            pushed_bytes
        );
    }
    let out = p.run(&["pull", "--remote", "spec", "--release-version", "v9"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("not_found"), "{}", text(&out));

    // The same pack again: the adapter answers `upload.method: "skip"`.
    let out = p.run(&["push", "evidence.bin", "--remote", "spec"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("the remote had the bytes already"),
        "{}",
        text(&out)
    );
    assert!(stdout(&out).contains("release rel_2"), "{}", text(&out));
}

/// The bug: with an adapter that has no names (epack's have none), after pushing only
/// `--name app-a`, `gantry pull app-b` returned app-a's pack and called it verified.
#[test]
fn a_release_the_adapter_cannot_vouch_for_is_refused() {
    if !has_python() {
        return;
    }
    let p = Project::new();
    spec_remote(&p, &p.path().join("root"), "", "");
    p.write("a.bin", "app-a bytes\n");
    let out = p.run(&["push", "a.bin", "--remote", "spec", "--name", "app-a"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for asked in [
        vec!["app-b"],
        vec!["app-b@v1"],
        vec!["--name", "app-b", "--latest"],
    ] {
        let mut args = vec!["pull", "--remote", "spec", "-o", "b.bin"];
        args.extend(asked.iter().copied());
        let out = p.run(&args);
        assert_eq!(out.status.code(), Some(1), "{asked:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(err.contains("asked for name `app-b`"), "{err}");
        assert!(err.contains("epack adapters have none"), "{err}");
        assert!(err.contains("nothing was downloaded"), "{err}");
        assert!(!p.path().join("b.bin").exists());
    }
    // A version the adapter did resolve, but another one than asked for.
    let out = p.run(&[
        "pull",
        "--remote",
        "spec",
        "--release-version",
        "v1",
        "-o",
        "v1.bin",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_gantry_pack_on_an_epack_adapter_is_verified_by_its_pack_digest_and_its_run_synced() {
    if !has_python() {
        return;
    }
    let p = Project::new();
    let root = p.path().join("root");
    spec_remote(&p, &root, "", "");
    p.write(
        "wf.yml",
        "jobs:\n  build:\n    runs-on: host\n    steps:\n      - run: mkdir -p dist && echo one > dist/a.txt\n      - uses: actions/upload-artifact@v4\n        with:\n          name: dist\n          path: dist/\n",
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run = events
        .iter()
        .find_map(|e| e["run_id"].as_str().map(str::to_string))
        .expect("run id");
    let _ = output(&events, "build");
    let out = p.run(&["pack", "create", "--run", &run, "-o", "release.pack"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let created = stdout(&out);
    let pack_digest = after(&created, "pack digest ").to_string();

    let out = p.run(&["push", "release.pack", "--remote", "spec", "--sync-runs"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pushed = stdout(&out);
    assert_eq!(after(&pushed, "pack digest "), pack_digest, "{pushed}");
    assert!(
        pushed.contains(&format!("synced run {run} to `spec`: accepted")),
        "{pushed}"
    );
    let synced: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("runs.json")).expect("runs"))
            .expect("json");
    // The spec's field name: the pack digest.
    assert_eq!(
        synced[&run]["pack_digest"],
        pack_digest.as_str(),
        "{synced}"
    );

    // The spec adapter answers pull.prepare with the pack digest, not the file's sha256:
    // gantry recomputes it from the pulled pack's manifest and checked artifacts.
    let out = p.run(&[
        "pull",
        "--remote",
        "spec",
        "--digest",
        &pack_digest,
        "-o",
        "back.pack",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read(p.path().join("back.pack")).expect("pulled"),
        std::fs::read(p.path().join("release.pack")).expect("pushed")
    );
    // The stored pack changed behind gantry's back: refused, nothing written.
    let stored = root
        .join("packs")
        .read_dir()
        .expect("packs")
        .flatten()
        .next()
        .expect("a pack")
        .path();
    let mut bytes = std::fs::read(&stored).expect("stored");
    let at = bytes
        .windows(4)
        .position(|w| w == b"one\n")
        .expect("artifact file in the pack");
    bytes[at] = b'X';
    std::fs::write(&stored, bytes).expect("tamper");
    let out = p.run(&["pull", "--remote", "spec", "-o", "tampered.pack"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("damaged"), "{}", text(&out));
    assert!(!p.path().join("tampered.pack").exists());

    // `sync-runs = true` in the remote's table does it on every push; a run already
    // there is reported, not refused.
    spec_remote(&p, &root, "sync-runs = true\n", "");
    let out = p.run(&["push", "release.pack", "--remote", "spec"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).contains("already there"), "{}", text(&out));
    // A file that is not a gantry pack names no runs: refused before anything is pushed.
    p.write("plain.bin", "plain");
    let out = p.run(&["push", "plain.bin", "--remote", "spec"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("is not a gantry pack"),
        "{}",
        text(&out)
    );
}

#[test]
fn whoami_and_a_login_that_returns_instructions_only() {
    if !has_python() {
        return;
    }
    let p = Project::new();
    let root = p.path().join("root");
    spec_remote(&p, &root, "", ", EPACK_REMOTE_SPEC_AUTH = \"required\"");
    let out = p.run(&["remote", "whoami", "spec"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("spec: not authenticated"),
        "{}",
        text(&out)
    );
    p.write("x.bin", "x");
    let out = p.run(&["push", "x.bin", "--remote", "spec"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("auth_required"), "{}", text(&out));
    assert!(
        stderr(&out).contains("(try: epack remote login spec)"),
        "{}",
        text(&out)
    );

    let (status, lines) = login_approving(&p, "spec", |code| {
        std::fs::create_dir_all(root.join("device")).expect("device dir");
        std::fs::write(root.join("device").join(code), "").expect("approve");
    });
    assert!(status.success(), "{lines:?}");
    assert!(lines[0].contains(" (valid 600s)"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l == "spec: authenticated as spec-user@example.com (issuer https://spec.example), expires "
            || l.starts_with("spec: authenticated as spec-user@example.com (issuer https://spec.example), expires ")),
        "{lines:?}"
    );
    let out = p.run(&["push", "x.bin", "--remote", "spec"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn the_spec_adapter_passes_gantry_remote_test() {
    if !has_python() {
        return;
    }
    let p = Project::new();
    spec_remote(&p, &p.path().join("root"), "", "");
    let out = p.run(&["remote", "test", "spec"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = stdout(&out);
    assert!(out.contains("18 passed, 0 failed"), "{out}");
    for case in [
        "capabilities_shape",
        "push_round_trip",
        "pull_by_digest",
        "pull_by_canonical_ref",
        "pull_latest",
        "whoami",
        "runs_sync",
    ] {
        assert!(out.contains(&format!("PASS {case} ")), "{case}: {out}");
    }
}

/// Capabilities gantry cannot read: the suite could not run, so it failed.
#[test]
fn a_suite_that_could_not_run_has_failed() {
    let p = Project::new();
    let adapter = p.write(
        "bin/broken-adapter",
        "#!/bin/sh\necho '{\"name\": \"broken\", \"features\": 7}'\n",
    );
    std::fs::set_permissions(
        &adapter,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    p.write(
        "gantry.toml",
        &format!(
            "[remotes.broken]\ncommand = {:?}\n",
            adapter.display().to_string()
        ),
    );
    let out = p.run(&["remote", "test", "broken", "--filter", "runs_sync"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let got = stdout(&out);
    assert!(got.contains("FAIL capabilities_shape"), "{got}");
    assert!(
        got.contains("FAIL runs_sync (0 ms): not run: the capabilities could not be read"),
        "{got}"
    );
    assert!(!got.contains("0 passed, 0 failed"), "{got}");
    let out = p.run(&["remote", "test", "broken", "--filter", "no_such_case"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("no conformance case matches"),
        "{}",
        text(&out)
    );
}

/// An adapter answering as epack's Go SDK (`componentsdk`) does: results typed as the
/// request (no `.result`), a release without `canonical_ref` and `created_at`, a download
/// without `method`, `max_pack_size`, and `action` as a string.
const SDK_SHAPED: &str = r#"#!/usr/bin/env python3
import hashlib, json, os, sys
ROOT = os.environ["SDK_ROOT"]
if sys.argv[1:] == ["--capabilities"]:
    print(json.dumps({"name": "sdk", "kind": "remote_adapter", "deploy_protocol_version": 1,
        "version": "1.0.0", "description": "componentsdk-shaped",
        "features": {"prepare_finalize": True, "pull": True}, "limits": {"max_pack_size": 1048576}}))
    sys.exit(0)
req = json.loads(sys.stdin.read())
t, rid = req["type"], req.get("request_id", "")
def ok(**body):
    print(json.dumps({"type": t, "ok": True, "request_id": rid, **body}))
    sys.exit(0)
state = os.path.join(ROOT, "state.json")
os.makedirs(ROOT, exist_ok=True)
if t == "push.prepare":
    json.dump({"digest": req["pack"]["digest"], "size": req["pack"]["size_bytes"]}, open(state, "w"))
    ok(upload={"method": "PUT", "url": "file://" + os.path.join(ROOT, "blob")}, finalize_token="t1")
if t == "push.finalize":
    ok(release={"release_id": "r1", "pack_digest": json.load(open(state))["digest"], "version": "1"})
if t == "pull.prepare":
    s = json.load(open(state))
    if (req.get("ref") or {}).get("release_id") == "nope":
        print(json.dumps({"type": "error", "ok": False, "request_id": rid,
            "error": {"code": "forbidden", "message": "not for you", "action": "ask the workspace admin"}}))
        sys.exit(0)
    ok(download={"url": "file://" + os.path.join(ROOT, "blob")}, pack={"digest": s["digest"], "size_bytes": s["size"]}, finalize_token="t2")
if t == "pull.finalize":
    if os.path.exists(os.path.join(ROOT, "refuse-finalize")):
        print(json.dumps({"type": "error", "ok": False, "request_id": rid, "error": {"code": "server_error", "message": "ledger down"}}))
        sys.exit(0)
    ok(confirmed=True)
print(json.dumps({"type": "error", "ok": False, "request_id": rid, "error": {"code": "unsupported_protocol", "message": "unknown request type: " + t}}))
"#;

#[test]
fn an_adapter_shaped_by_epacks_go_sdk_works() {
    if !has_python() {
        return;
    }
    let p = Project::new();
    let adapter = p.write("bin/epack-remote-sdk", SDK_SHAPED);
    std::fs::set_permissions(
        &adapter,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    p.write(
        "gantry.toml",
        &format!(
            "[remotes.sdk]\ncommand = {:?}\nenv = {{ SDK_ROOT = {:?} }}\n",
            adapter.display().to_string(),
            p.path().join("sdk-root").display().to_string()
        ),
    );
    p.write("p.bin", "sdk pack\n");
    let out = p.run(&["push", "p.bin", "--remote", "sdk"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pushed = stdout(&out);
    assert!(pushed.contains("release r1, version 1"), "{pushed}");
    let out = p.run(&["pull", "--remote", "sdk", "-o", "back.bin"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(p.path().join("back.bin")).expect("pulled"),
        "sdk pack\n"
    );
    // The SDK's pack metadata has no version: gantry cannot check one, so it refuses.
    let out = p.run(&[
        "pull",
        "--remote",
        "sdk",
        "--release-version",
        "1",
        "-o",
        "v.bin",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("did not say which version it resolved"),
        "{}",
        text(&out)
    );
    let out = p.run(&["pull", "--remote", "sdk", "--release-id", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("forbidden: not for you (ask the workspace admin)"),
        "{}",
        text(&out)
    );
    // The download is verified and in place when pull.finalize fails: a warning, as
    // epack's CLI gives, not a failed pull.
    std::fs::write(p.path().join("sdk-root/refuse-finalize"), "").expect("marker");
    let out = p.run(&["pull", "--remote", "sdk", "-o", "again.bin"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stderr(&out).contains("warning: the pack is in place and verified, but the remote did not record the download"), "{}", text(&out));
    assert!(stderr(&out).contains("ledger down"), "{}", text(&out));
    assert!(p.path().join("again.bin").is_file());
    // 2 MiB is over the 1 MiB the SDK adapter announced as max_pack_size.
    p.write("big.bin", &"x".repeat(2 * 1024 * 1024));
    let out = p.run(&["push", "big.bin", "--remote", "sdk"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("at most 1048576"), "{}", text(&out));
}
