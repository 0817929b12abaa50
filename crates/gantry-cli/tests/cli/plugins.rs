//! Backend plugins through the real binary: the conformance suite against the reference
//! plugin and the Python plugin, pinning, a plugin killed mid-exec, cancel and step
//! timeouts reaching the plugin, and job containers delegated to Docker.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{alive, docker_available, job, output, step, text, Project};

/// The reference plugin binary next to `gantry` (built on demand when a test runs alone).
fn reference_plugin() -> PathBuf {
    let gantry = PathBuf::from(env!("CARGO_BIN_EXE_gantry"));
    let plugin = gantry.with_file_name("gantry-plugin-host");
    if !plugin.exists() {
        let release = gantry
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "release");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "gantry-plugin-host"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo build the reference plugin");
        assert!(status.success(), "building gantry-plugin-host failed");
    }
    plugin
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// gantry.toml mapping label `k8s` to the reference plugin launched with `extra` args.
fn configure(p: &Project, extra: &[&str]) -> PathBuf {
    let root = p.path().join("plugin-root");
    // Job copies of the project must not contain the plugin's and gantry's own dirs.
    p.write(".gitignore", "plugin-root/\nstate/\n");
    let mut args = vec!["--root".to_string(), root.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    p.write(
        "gantry.toml",
        &format!(
            "[labels]\nk8s = \"ref\"\n\n[plugins.ref]\ncommand = {:?}\nargs = [{}]\ntimeout = 10\n",
            reference_plugin().display().to_string(),
            args.join(", ")
        ),
    );
    root
}

fn pin(p: &Project) {
    let out = p.run(&["plugin", "pin", "ref"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Job directories left under the plugin's root.
fn leftovers(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(runs) = std::fs::read_dir(root) {
        for run in runs.flatten() {
            out.push(run.path());
        }
    }
    out
}

/// Pids of processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) && alive(pid) {
                pids.push(pid);
            }
        }
    }
    pids
}

#[test]
fn reference_plugin_passes_the_conformance_suite() {
    let p = Project::new();
    let plugin = reference_plugin();
    let root = p.path().join("plugin-root");
    let out = p.run(&[
        "plugin",
        "test",
        "--command",
        plugin.to_str().expect("utf-8 path"),
        "--",
        "--root",
        root.to_str().expect("utf-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    assert!(
        stdout.lines().filter(|l| l.starts_with("PASS ")).count() >= 20,
        "{stdout}"
    );
    assert!(leftovers(&root).is_empty(), "left: {:?}", leftovers(&root));
}

/// Whether Python can import grpc; under CI=true its absence fails the test.
fn python_grpc() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools, grpc_health"])
        .status()
        .is_ok_and(|s| s.success());
    crate::harness::required(
        ok,
        "python3 cannot import grpc",
        "pip install -r plugins/python/requirements.txt (scripts/test does)",
    )
}

#[test]
fn python_plugin_passes_the_conformance_suite() {
    if !python_grpc() {
        return;
    }
    let p = Project::new();
    let socket = p.path().join("py.sock");
    let mut plugin = Command::new("python3")
        .arg(repo_root().join("plugins/python/gantry_plugin.py"))
        .args(["--listen", &format!("unix://{}", socket.display())])
        .arg("--root")
        .arg(p.path().join("py-root"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the python plugin");
    let start = Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = p.run(&[
        "plugin",
        "test",
        "--address",
        &format!("unix://{}", socket.display()),
    ]);
    // SIGTERM: the plugin reports NOT_SERVING, cleans up and exits on its own.
    let _ = Command::new("kill").arg(plugin.id().to_string()).status();
    let stopped = Instant::now();
    let status = loop {
        if let Some(s) = plugin.try_wait().expect("wait") {
            break Some(s);
        }
        if stopped.elapsed() > Duration::from_secs(10) {
            let _ = plugin.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout.contains("plugin `python-host`"), "{stdout}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "the plugin did not stop cleanly on SIGTERM"
    );
}

const SIMPLE: &str = r#"
jobs:
  a:
    runs-on: k8s
    outputs:
      word: ${{ steps.w.outputs.word }}
    steps:
      - id: w
        run: |
          echo "on the plugin in $PWD"
          echo "word=plugged" >> "$GANTRY_OUTPUT"
          echo "FROM_ENV=yes" >> "$GITHUB_ENV"
      - run: echo "env says $FROM_ENV"
  b:
    needs: a
    runs-on: host
    steps:
      - run: echo "a said ${{ needs.a.outputs.word }}"
"#;

#[test]
fn a_launched_plugin_runs_only_when_pinned() {
    let p = Project::new();
    // A copy of the binary, so the test can change it.
    let binary = p.path().join("bin/gantry-plugin-host");
    std::fs::create_dir_all(binary.parent().expect("parent")).expect("bin dir");
    std::fs::copy(reference_plugin(), &binary).expect("copy plugin");
    let root = p.path().join("plugin-root");
    p.write(".gitignore", "plugin-root/\nstate/\nbin/\n");
    p.write(
        "gantry.toml",
        &format!(
            "[labels]\nk8s = \"ref\"\n\n[plugins.ref]\ncommand = \"bin/gantry-plugin-host\"\nargs = [\"--root\", {:?}]\n",
            root.display().to_string()
        ),
    );
    p.write("wf.yml", SIMPLE);

    let out = p.run(&["run", "wf.yml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not pinned") && err.contains("gantry plugin pin ref"),
        "{err}"
    );

    pin(&p);
    let lock = std::fs::read_to_string(p.path().join("gantry.lock")).expect("gantry.lock");
    assert!(
        lock.contains("[plugins.ref]") && lock.contains("sha256"),
        "{lock}"
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(output(&events, "a").contains("env says yes"), "{events:#?}");
    assert!(
        output(&events, "b").contains("a said plugged"),
        "{events:#?}"
    );
    assert!(leftovers(&root).is_empty(), "left: {:?}", leftovers(&root));

    // One changed byte and the plugin no longer runs.
    let mut bytes = std::fs::read(&binary).expect("read plugin");
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&binary, bytes).expect("write plugin");
    let out = p.run(&["run", "wf.yml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("but gantry.lock pins"), "{err}");
}

#[test]
fn a_plugin_killed_mid_exec_fails_its_job_and_is_started_afresh() {
    let p = Project::new();
    let root = configure(&p, &[]);
    pin(&p);
    let marker = format!("plugin-victim-{}", std::process::id());
    p.write(
        "wf.yml",
        &format!(
            r#"
jobs:
  victim:
    runs-on: k8s
    steps:
      - name: long
        run: |
          echo started
          sh -c 'exec sleep 60 # {marker}' &
          wait
  bystander:
    runs-on: host
    steps:
      - run: sleep 3 && echo bystander-ok
  after:
    needs: victim
    if: always()
    runs-on: k8s
    steps:
      - run: echo after-ok
"#
        ),
    );
    let mut child = p
        .gantry()
        .args(["run", "--json", "wf.yml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gantry");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lines
        .iter()
        .any(|l: &String| l.contains("\"event\":\"output\"") && l.contains("started"))
    {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => lines.push(line),
            Err(e) => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    use std::io::Read;
                    let _ = s.read_to_string(&mut err);
                }
                panic!("the victim step never started ({e}): {lines:#?}\n{err}");
            }
        }
    }
    // The plugin process: the reference binary serving this test's root.
    let plugins = processes_with(&root.display().to_string());
    assert!(!plugins.is_empty(), "no plugin process found");
    for pid in &plugins {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let killed = Instant::now();
    let mut failed_after = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        if failed_after.is_none() && line.contains("step_finished") && line.contains("\"victim\"") {
            failed_after = Some(killed.elapsed());
        }
        lines.push(line);
    }
    let status = child.wait().expect("wait gantry");
    let events: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    println!("the victim step failed {failed_after:?} after the kill");
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    let all = lines.join("\n");
    assert!(
        all.contains("plugin process") && all.contains("signal 9"),
        "{all}"
    );
    assert_eq!(job(&events, "victim")["conclusion"], "failure", "{all}");
    assert_eq!(
        step(&events, "victim", "long")["conclusion"],
        "failure",
        "{all}"
    );
    assert_eq!(job(&events, "bystander")["conclusion"], "success", "{all}");
    assert_eq!(job(&events, "after")["conclusion"], "success", "{all}");
    assert!(output(&events, "after").contains("after-ok"), "{all}");
    assert!(
        failed_after.is_some_and(|d| d < Duration::from_secs(10)),
        "the step took {failed_after:?} to fail"
    );
    // Nothing of the dead plugin's job survives the run.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        processes_with(&marker).is_empty(),
        "the victim's sleep survived"
    );
    assert!(
        processes_with(&root.display().to_string()).is_empty(),
        "a plugin process survived"
    );
    assert!(leftovers(&root).is_empty(), "left: {:?}", leftovers(&root));
}

#[test]
fn step_timeout_and_cancel_reach_the_plugin() {
    let p = Project::new();
    let root = configure(&p, &[]);
    pin(&p);
    let pidfile = p.path().join("pid");
    p.write(
        "wf.yml",
        &format!(
            r#"
jobs:
  a:
    runs-on: k8s
    steps:
      - name: slow
        timeout-minutes: 0.05
        run: |
          echo $$ > {pid}
          sleep 60
      - name: cleanup
        if: always()
        run: test -f "$GITHUB_WORKSPACE/gantry.toml" && echo cleanup-ran
"#,
            pid = pidfile.display()
        ),
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        step(&events, "a", "slow")["conclusion"],
        "failure",
        "{events:#?}"
    );
    assert_eq!(
        step(&events, "a", "cleanup")["conclusion"],
        "success",
        "{events:#?}"
    );
    assert!(output(&events, "a").contains("cleanup-ran"));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert!(!alive(pid), "the timed-out step still runs");

    // Ctrl-C: the running step is stopped on the plugin, always() steps still run.
    std::fs::remove_file(&pidfile).expect("rm pid");
    let child = p
        .gantry()
        .args(["run", "--grace", "2", "wf.yml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gantry");
    let start = Instant::now();
    while !std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n')) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the step never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait gantry");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cleanup-ran"),
        "{}",
        text(&out)
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert!(!alive(pid), "the cancelled step still runs");
    assert!(leftovers(&root).is_empty(), "left: {:?}", leftovers(&root));
    assert!(
        processes_with(&root.display().to_string()).is_empty(),
        "the plugin outlived gantry"
    );
}

#[test]
fn a_plugin_delegates_job_containers_to_docker() {
    if !docker_available() {
        return;
    }
    let p = Project::new();
    let root = configure(&p, &["--delegate-docker", "unix:///var/run/docker.sock"]);
    pin(&p);
    p.write(
        "wf.yml",
        r#"
jobs:
  boxed:
    runs-on: k8s
    container: gantry-test/busybox:1
    steps:
      - run: test -f /.dockerenv && echo "in docker as $(hostname)"
      - uses: docker://gantry-test/busybox:1
        with:
          args: echo step-container-ok
"#,
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = output(&events, "boxed");
    assert!(log.contains("in docker as"), "{log}");
    assert!(log.contains("step-container-ok"), "{log}");
    let run_id = events
        .iter()
        .find_map(|e| e["run_id"].as_str().map(str::to_string))
        .expect("run id");
    let left = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.gantry.run-id={run_id}"),
        ])
        .output()
        .expect("docker ps");
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "containers left"
    );
    assert!(leftovers(&root).is_empty(), "left: {:?}", leftovers(&root));
}

#[test]
fn a_pinned_python_plugin_is_launched_like_any_binary() {
    if !python_grpc() {
        return;
    }
    let p = Project::new();
    let root = p.path().join("py-root");
    p.write(".gitignore", "py-root/\nstate/\n");
    p.write("data.txt", "uploaded with CopyIn\n");
    p.write(
        "gantry.toml",
        &format!(
            "[labels]\npy = \"py\"\n\n[plugins.py]\ncommand = {:?}\nargs = [\"--root\", {:?}]\n",
            repo_root()
                .join("plugins/python/gantry_plugin.py")
                .display()
                .to_string(),
            root.display().to_string()
        ),
    );
    p.write(
        "wf.yml",
        "jobs:\n  a:\n    runs-on: py\n    steps:\n      - run: cat data.txt && echo \"runner $RUNNER_OS\"\n",
    );
    let out = p.run(&["plugin", "pin", "py"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (out, events) = p.run_json("wf.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = output(&events, "a");
    assert!(
        log.contains("uploaded with CopyIn") && log.contains("runner Linux"),
        "{log}"
    );
    assert!(leftovers(&root).is_empty(), "left: {:?}", leftovers(&root));
}

/// A plugin is a process: `gantry run` and `gantry validate` start only the plugins some
/// job of the workflow runs on.
#[test]
fn only_plugins_a_job_runs_on_are_started() {
    let p = Project::new();
    let marker = p.path().join("plugin-started");
    p.write(".gitignore", "state/\n");
    // A "plugin" that records that it was launched and then never answers the handshake.
    p.write(
        "gantry.toml",
        &format!(
            "[labels]\nk8s = \"fake\"\n\n[plugins.fake]\ncommand = \"/bin/sh\"\n\
             args = [\"-c\", \"echo launched >> {}; exec sleep 30\"]\ntimeout = 2\n",
            marker.display()
        ),
    );
    pin_named(&p, "fake");
    p.write(
        "host.yml",
        "jobs:\n  h:\n    runs-on: host\n    steps:\n      - run: echo on the host\n",
    );
    p.write(
        "remote.yml",
        "jobs:\n  r:\n    runs-on: k8s\n    steps:\n      - run: echo never\n",
    );
    p.write(
        "both.yml",
        "jobs:\n  h:\n    runs-on: host\n    steps:\n      - run: echo on the host\n\
         \x20 r:\n    runs-on: k8s\n    steps:\n      - run: echo never\n",
    );

    for args in [
        &["run", "host.yml"][..],
        &["validate", "host.yml"][..],
        // `--job` runs (and checks backends for) the selected job only.
        &["run", "both.yml", "--job", "h"][..],
    ] {
        let out = p.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    assert!(!marker.exists(), "a plugin no job needs was launched");

    // A job on the plugin's label does launch it (and fails clearly: it never answers).
    let out = p.run(&["run", "remote.yml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(marker.exists(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fake"),
        "{}",
        text(&out)
    );
}

fn pin_named(p: &Project, name: &str) {
    let out = p.run(&["plugin", "pin", name]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
