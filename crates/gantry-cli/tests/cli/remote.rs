//! `gantry push`, `gantry pull` and `gantry remote ...` with real adapters: the
//! reference `gantry-remote-fs` binary and the stdlib Python adapter, in gantry's dialect
//! and driven as epack drives them (`--as-epack`). Adapters written for epack are in
//! `epack.rs`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::{text, Project};

/// The `gantry-remote-fs` binary next to `gantry`, built when missing.
pub(crate) fn fs_adapter() -> PathBuf {
    let gantry = PathBuf::from(env!("CARGO_BIN_EXE_gantry"));
    let adapter = gantry.with_file_name("gantry-remote-fs");
    if !adapter.exists() {
        let release = gantry
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "release");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "gantry-remote-fs"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo build gantry-remote-fs");
        assert!(status.success(), "building gantry-remote-fs failed");
    }
    adapter
}

fn python_adapter() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/python/gantry_remote_py.py")
}

/// Writes a gantry.toml with remote `py` served by the Python adapter rooted at `root`;
/// `settings` and `env` are extra TOML lines and inline-table entries.
fn python_remote(p: &Project, root: &Path, settings: &str, env: &str) {
    let adapter = python_adapter().canonicalize().expect("adapter path");
    p.write(
        "gantry.toml",
        &format!(
            "[remotes.py]\ncommand = {:?}\n{settings}env = {{ GANTRY_REMOTE_PY_ROOT = {:?}{env} }}\n",
            adapter.display().to_string(),
            root.display().to_string()
        ),
    );
}

pub(crate) fn has_python() -> bool {
    crate::harness::required(
        Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "no python3",
        "apt-get install python3",
    )
}

/// gantry.toml with remote `origin` on gantry-remote-fs rooted in the project.
fn configure_fs(p: &Project) -> PathBuf {
    let root = p.path().join("remote-root");
    p.write(
        "gantry.toml",
        &format!(
            "[remotes.origin]\ncommand = {:?}\nenv = {{ GANTRY_REMOTE_FS_ROOT = {:?} }}\ntimeout = 30\n",
            fs_adapter().display().to_string(),
            root.display().to_string()
        ),
    );
    root
}

#[test]
fn push_and_pull_round_trip_through_gantry_remote_fs() {
    let p = Project::new();
    let root = configure_fs(&p);
    p.write("app.pack", &"pack bytes\n".repeat(5_000));
    let out = p.run(&["push", "app.pack", "--remote", "origin", "--env", "staging"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The canonical ref in epack's form, the release, both digests.
    assert!(stdout.contains(": fs/app@sha256:"), "{}", text(&out));
    assert!(
        stdout.contains("release app/1, version 1"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("pack digest sha256:") && stdout.contains("file sha256:"),
        "{stdout}"
    );
    assert!(root.join("releases/app/1/pack").is_file());

    let out = p.run(&[
        "pull",
        "app@1",
        "--remote",
        "origin",
        "--output",
        "back.pack",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read(p.path().join("back.pack")).expect("pulled"),
        std::fs::read(p.path().join("app.pack")).expect("pushed")
    );
    let out = p.run(&["pull", "nope@1", "--remote", "origin"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not_found"),
        "{}",
        text(&out)
    );

    let out = p.run(&["remote", "whoami", "origin"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("authenticated as local:"));
    for extra in [None, Some("--as-epack")] {
        let mut args = vec!["remote", "test", "origin"];
        args.extend(extra);
        let out = p.run(&args);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("18 passed, 0 failed"),
            "{extra:?}: {stdout}"
        );
        assert!(!stdout.contains("): skipped"), "{extra:?}: {stdout}");
    }
    let out = p.run(&["remote", "test", "origin", "--as-epack"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("driven as epack's executor drives it"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_python_adapter_passes_gantry_remote_test() {
    if !has_python() {
        return;
    }
    let p = Project::new();
    let root = p.path().join("py-root");
    python_remote(&p, &root, "", "");
    let out = p.run(&["remote", "lock", "py"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for extra in [None, Some("--as-epack")] {
        let mut args = vec!["remote", "test", "py", "--frozen"];
        args.extend(extra);
        let out = p.run(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", text(&out));
        assert!(stdout.contains("running a verified copy"), "{stdout}");
        assert!(
            stdout.contains("18 passed, 0 failed"),
            "{extra:?}: {stdout}"
        );
        assert!(!stdout.contains("): skipped"), "{extra:?}: {stdout}");
    }
}

#[test]
fn a_tampered_adapter_is_refused_and_frozen_refuses_unpinned() {
    if !has_python() {
        return;
    }
    let p = Project::new();
    let adapter = p.path().join("bin/gantry_remote_py.py");
    std::fs::create_dir_all(adapter.parent().expect("bin")).expect("bin dir");
    std::fs::copy(python_adapter(), &adapter).expect("copy adapter");
    p.write(
        "gantry.toml",
        &format!(
            "[remotes.py]\ncommand = {:?}\nenv = {{ GANTRY_REMOTE_PY_ROOT = {:?} }}\n",
            adapter.display().to_string(),
            p.path().join("py-root").display().to_string()
        ),
    );
    // A plugin pin already in gantry.lock must survive `gantry remote lock`.
    p.write(
        "gantry.lock",
        "[plugins.ref]\ncommand = \"/usr/local/bin/p\"\nsha256 = \"abc\"\n",
    );
    let out = p.run(&["push", "gantry.toml", "--remote", "py", "--frozen"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not pinned"),
        "{}",
        text(&out)
    );

    let out = p.run(&["remote", "lock", "py"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lock = std::fs::read_to_string(p.path().join("gantry.lock")).expect("lock");
    assert!(
        lock.contains("[plugins.ref]") && lock.contains("[adapters.py]"),
        "{lock}"
    );
    let out = p.run(&["remote", "capabilities", "py", "--frozen"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let mut bytes = std::fs::read(&adapter).expect("read");
    bytes.extend_from_slice(b"\n# tampered\n");
    std::fs::write(&adapter, bytes).expect("tamper");
    let out = p.run(&["remote", "capabilities", "py"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("gantry.lock pins") && stderr.contains("gantry remote lock py"),
        "{stderr}"
    );
    let out = p.run(&["remote", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("MISMATCH"),
        "{}",
        text(&out)
    );
}

#[test]
fn path_lookup_needs_the_opt_in_and_relative_commands_are_refused() {
    let p = Project::new();
    let bin = fs_adapter();
    let dir = bin.parent().expect("bin dir").to_path_buf();
    let root = p.path().join("remote-root");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let write = |lookup: bool| {
        p.write(
            "gantry.toml",
            &format!(
                "[remotes.o]\nadapter = \"fs\"\npath-lookup = {lookup}\nenv = {{ GANTRY_REMOTE_FS_ROOT = {:?} }}\n",
                root.display().to_string()
            ),
        )
    };
    write(false);
    let out = p
        .gantry()
        .env("PATH", &path)
        .args(["remote", "capabilities", "o"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("path-lookup = true"),
        "{}",
        text(&out)
    );
    write(true);
    let out = p
        .gantry()
        .env("PATH", &path)
        .args(["remote", "capabilities", "o"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"name\": \"fs\""),
        "{}",
        text(&out)
    );

    p.write(
        "gantry.toml",
        "[remotes.r]\ncommand = \"bin/gantry-remote-fs\"\n",
    );
    let out = p.run(&["remote", "capabilities", "r"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not an absolute path"),
        "{}",
        text(&out)
    );
}

#[test]
fn login_opens_the_session_a_remote_requires() {
    let p = Project::new();
    python_remote(
        &p,
        &p.path().join("py-root"),
        "rate-per-second = 50\nrate-burst = 2\n",
        ", GANTRY_REMOTE_PY_LOGIN = \"required\"",
    );
    p.write("app.pack", "pack bytes\n");

    let out = p.run(&["remote", "whoami", "py"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("py: not authenticated"),
        "{}",
        text(&out)
    );
    // Without a session the adapter refuses, and gantry passes on what fixes it.
    let out = p.run(&["push", "app.pack", "--remote", "py"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("auth_required"), "{}", text(&out));
    assert!(stderr.contains("gantry remote login py"), "{}", text(&out));

    let out = p.run(&["remote", "login", "py"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("py: authenticated as "), "{stdout}");
    assert!(
        stdout.contains("(issuer gantry_remote_py), expires "),
        "{stdout}"
    );
    let out = p.run(&["remote", "whoami", "py"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("py: authenticated as "),
        "{}",
        text(&out)
    );
    let out = p.run(&["push", "app.pack", "--remote", "py"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = p.run(&["pull", "app", "--remote", "py", "--output", "back.pack"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read(p.path().join("back.pack")).expect("pulled"),
        b"pack bytes\n"
    );
}

/// Runs `gantry remote login NAME --wait 60`, reads the device code it prints, calls
/// `approve` with it while gantry waits, and returns how gantry ended and every line it
/// printed.
pub(crate) fn login_approving(
    p: &Project,
    name: &str,
    approve: impl FnOnce(&str),
) -> (std::process::ExitStatus, Vec<String>) {
    let mut child = p
        .gantry()
        .args(["remote", "login", name, "--wait", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gantry remote login");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let code = first
        .split("enter the code ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no device code in {first:?}"))
        .to_string();
    approve(&code);
    let mut all = vec![first];
    all.extend(lines.map_while(Result::ok));
    let status = child.wait().expect("login ends");
    (status, all)
}

/// A device-code login the epack way: `auth.login` returns only a code; gantry prints it
/// and asks `auth.whoami` until the code is approved, then reports who it is.
#[test]
fn device_code_login_waits_for_the_code_to_be_approved() {
    if !has_python() {
        return;
    }
    let p = Project::new();
    let root = p.path().join("py-root");
    python_remote(&p, &root, "", ", GANTRY_REMOTE_PY_LOGIN = \"device\"");
    let device_dir = root.join("device");

    // --no-wait: the instructions, and no claim about the outcome.
    let out = p.run(&["remote", "login", "py", "--no-wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "open file://{} and enter the code ",
            device_dir.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("then check with `gantry remote whoami py`"),
        "{stdout}"
    );
    assert!(!stdout.contains("not authenticated"), "{stdout}");

    // Not approved in time: a failure, not a success.
    let out = p.run(&["remote", "login", "py", "--wait", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not completed within 1s"),
        "{}",
        text(&out)
    );

    // Approved while gantry waits: gantry notices through whoami.
    let (status, lines) = login_approving(&p, "py", |code| {
        std::fs::create_dir_all(&device_dir).expect("device dir");
        std::fs::write(device_dir.join(code), "").expect("approving the code");
    });
    assert!(status.success(), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("py: authenticated as ")),
        "{lines:?}"
    );
    let out = p.run(&["remote", "whoami", "py"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("py: authenticated as "),
        "{}",
        text(&out)
    );
}
