//! `gantry push`, `gantry pull` and `gantry remote ...` with real adapters: the
//! reference `gantry-remote-fs` binary and the stdlib Python adapter.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{text, Project};

/// The `gantry-remote-fs` binary next to `gantry`, built when missing.
fn fs_adapter() -> PathBuf {
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

fn has_python() -> bool {
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
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("app@1"),
        "{}",
        text(&out)
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
    let out = p.run(&["remote", "test", "origin"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" 0 failed"),
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
    let out = p.run(&["remote", "test", "py", "--frozen"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout.contains("running a verified copy"), "{stdout}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    assert!(
        stdout.lines().filter(|l| l.starts_with("PASS ")).count() >= 9,
        "{stdout}"
    );
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

/// A device-code login: gantry prints where to enter the code the adapter returned, and
/// the session opens on the next login once the code was approved.
#[test]
fn device_code_login_prints_the_code_and_opens_the_session_once_approved() {
    let p = Project::new();
    let root = p.path().join("py-root");
    python_remote(&p, &root, "", ", GANTRY_REMOTE_PY_LOGIN = \"device\"");

    let out = p.run(&["remote", "login", "py"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let device_dir = root.join("device");
    let prefix = format!("open file://{} and enter the code ", device_dir.display());
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no device-code instructions in:\n{stdout}"));
    let code = line[prefix.len()..]
        .split_whitespace()
        .next()
        .expect("a code after the prefix")
        .to_string();
    assert!(line.ends_with("s)"), "{line}");
    assert!(stdout.contains("py: not authenticated"), "{stdout}");

    // Not approved yet: the same code again, still no session.
    let out = p.run(&["remote", "login", "py"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&code),
        "{}",
        text(&out)
    );
    // Approving it (what visiting the URI does) lets the next login open the session.
    std::fs::create_dir_all(&device_dir).expect("device dir");
    std::fs::write(device_dir.join(&code), "").expect("approving the code");
    let out = p.run(&["remote", "login", "py"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("py: authenticated as "), "{stdout}");
    assert!(!stdout.contains("enter the code"), "{stdout}");
}
