//! The container layers through the real binary on real engines, Docker and Podman
//! each: job containers, services, `docker://` steps, env files, timeouts, Ctrl-C and a
//! killed gantry. With `CI=true` a missing engine fails the test instead of skipping it.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness::{job, output, step, text, Project};

/// One engine under test: the label scheme gantry knows it by and its API socket.
#[derive(Clone, Copy)]
struct Engine {
    scheme: &'static str,
    socket: &'static str,
}

const DOCKER: Engine = Engine {
    scheme: "docker",
    socket: "/var/run/docker.sock",
};
const PODMAN: Engine = Engine {
    scheme: "podman",
    socket: "/run/gantry-podman.sock",
};

const IMAGE: &str = "gantry-test/busybox:1";
const WEB: &str = "gantry-test/web:1";

impl Engine {
    /// Whether the engine is there; panics under CI when it is not.
    fn available(self) -> bool {
        let ok = Command::new("docker")
            .args(["-H", &format!("unix://{}", self.socket), "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        crate::harness::required(
            ok,
            &format!("{} is not answering on {}", self.scheme, self.socket),
            "run scripts/setup-engines.sh",
        )
    }

    fn platform(self) -> String {
        format!("ubuntu-latest={}://{IMAGE}", self.scheme)
    }

    /// Containers, networks and volumes carrying `run`'s label on this engine.
    fn objects(self, run: &str) -> Vec<String> {
        let mut found = Vec::new();
        for what in [&["ps", "-a"][..], &["network", "ls"], &["volume", "ls"]] {
            let out = Command::new("docker")
                .args(["-H", &format!("unix://{}", self.socket)])
                .args(what)
                .args(["-q", "--filter", &format!("label=io.gantry.run-id={run}")])
                .output()
                .expect("docker CLI");
            assert!(
                out.status.success(),
                "listing {what:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            found.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| format!("{} {l}", what[0])),
            );
        }
        found
    }
}

/// A project whose workspace is `ws/` (the state dir stays out of the copied tree).
fn project(workflow: &str) -> (Project, PathBuf) {
    let p = Project::new();
    let ws = p.path().join("ws");
    p.write("ws/wf.yml", workflow);
    (p, ws)
}

fn run_json(
    p: &Project,
    ws: &PathBuf,
    engine: Engine,
    extra: &[&str],
) -> (Output, Vec<serde_json::Value>) {
    let out = p
        .gantry()
        .current_dir(ws)
        .args(["run", "--json", "-P", &engine.platform()])
        .args(extra)
        .arg("wf.yml")
        .output()
        .expect("run gantry");
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (out, events)
}

fn run_id(events: &[serde_json::Value]) -> String {
    events
        .iter()
        .find_map(|e| e["run_id"].as_str().map(str::to_string))
        .expect("a run id in the events")
}

const JOB_CONTAINER: &str = r#"
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.out.outputs.greeting }}
    steps:
      - id: out
        shell: sh
        run: |
          echo "greeting=hello from $(uname -s)" >> "$GITHUB_OUTPUT"
          printf 'multi<<EOF\nline one\nline two\nEOF\n' >> "$GITHUB_OUTPUT"
          echo "FROM_ENV=carried" >> "$GITHUB_ENV"
          mkdir -p /tmp/tools && printf '#!/bin/sh\necho tool-ran\n' > /tmp/tools/mytool && chmod +x /tmp/tools/mytool
          echo /tmp/tools >> "$GITHUB_PATH"
      - name: check
        shell: sh
        env:
          MULTI: ${{ steps.out.outputs.multi }}
        run: |
          echo "env=$FROM_ENV"
          mytool
          echo "multi=$(echo "$MULTI" | tr '\n' '|')"
          echo "ws=$GITHUB_WORKSPACE pwd=$(pwd)"
          echo "link=$(readlink tree/link)"
          echo "big=$(wc -c < tree/big.bin)"
          cat tree/sub/file.txt
  use:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - shell: sh
        run: echo "got ${{ needs.build.outputs.greeting }}"
"#;

fn job_container(engine: Engine) {
    if !engine.available() {
        return;
    }
    let (p, ws) = project(JOB_CONTAINER);
    p.write("ws/tree/sub/file.txt", "nested file\n");
    std::fs::write(ws.join("tree/big.bin"), vec![7u8; 24 << 20]).expect("big file");
    std::os::unix::fs::symlink("sub/file.txt", ws.join("tree/link")).expect("symlink");
    let (out, events) = run_json(&p, &ws, engine, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let log = output(&events, "build");
    assert!(log.contains("env=carried"), "{log}");
    assert!(log.contains("tool-ran"), "{log}");
    assert!(log.contains("multi=line one|line two|"), "{log}");
    assert!(
        log.contains("ws=/__w/workspace pwd=/__w/workspace"),
        "{log}"
    );
    assert!(log.contains("link=sub/file.txt"), "{log}");
    assert!(log.contains(&format!("big={}", 24 << 20)), "{log}");
    assert!(log.contains("nested file"), "{log}");
    assert!(
        output(&events, "use").contains("got hello from Linux"),
        "{}",
        output(&events, "use")
    );
    assert!(
        engine.objects(&run_id(&events)).is_empty(),
        "objects left: {:?}",
        engine.objects(&run_id(&events))
    );
}

#[test]
fn docker_job_container_steps_outputs_env_files_and_tree() {
    job_container(DOCKER);
}

#[test]
fn podman_job_container_steps_outputs_env_files_and_tree() {
    job_container(PODMAN);
}

fn services(engine: Engine) {
    if !engine.available() {
        return;
    }
    let (p, ws) = project(&format!(
        r#"
jobs:
  svc:
    runs-on: ubuntu-latest
    services:
      web:
        image: {WEB}
        env:
          GREETING: from-service
        options: --health-cmd "wget -q -O /dev/null http://127.0.0.1:8080/hostname" --health-interval 500ms --health-retries 20
    steps:
      - shell: sh
        run: wget -q -O - http://web:8080/passwd | head -n 1 && echo reached-web
      - uses: docker://{IMAGE}
        with:
          entrypoint: /bin/sh
          args: -c "echo in-step-container; cat marker.txt; wget -q -O /dev/null http://web:8080/hostname && echo step-reached-web"
"#
    ));
    p.write(
        "ws/marker.txt",
        "workspace shared with the step container\n",
    );
    let (out, events) = run_json(&p, &ws, engine, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let log = output(&events, "svc");
    assert!(log.contains("reached-web"), "{log}");
    assert!(log.contains("in-step-container"), "{log}");
    assert!(
        log.contains("workspace shared with the step container"),
        "{log}"
    );
    assert!(log.contains("step-reached-web"), "{log}");
    assert!(
        engine.objects(&run_id(&events)).is_empty(),
        "objects left: {:?}",
        engine.objects(&run_id(&events))
    );
}

#[test]
fn docker_services_health_dns_and_step_containers() {
    services(DOCKER);
}

#[test]
fn podman_services_health_dns_and_step_containers() {
    services(PODMAN);
}

fn unhealthy_service(engine: Engine) {
    if !engine.available() {
        return;
    }
    let (p, ws) = project(&format!(
        r#"
jobs:
  svc:
    runs-on: ubuntu-latest
    services:
      broken:
        image: {WEB}
        options: --health-cmd "exit 1" --health-interval 200ms --health-retries 2
    steps:
      - run: echo never-ran
"#
    ));
    let (out, events) = run_json(&p, &ws, engine, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = String::from_utf8_lossy(&out.stdout);
    assert!(
        all.contains("service `broken`") && all.contains("health check failed 2 times"),
        "{all}"
    );
    assert!(!output(&events, "svc").contains("never-ran"));
    assert!(
        engine.objects(&run_id(&events)).is_empty(),
        "objects left: {:?}",
        engine.objects(&run_id(&events))
    );
}

#[test]
fn docker_unhealthy_service_fails_the_job_naming_it() {
    unhealthy_service(DOCKER);
}

#[test]
fn podman_unhealthy_service_fails_the_job_naming_it() {
    unhealthy_service(PODMAN);
}

fn step_timeout(engine: Engine) {
    if !engine.available() {
        return;
    }
    let (p, ws) = project(
        r#"
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - name: sleeper
        shell: sh
        timeout-minutes: 0.05
        run: sleep 300
      - name: cleanup
        if: always()
        shell: sh
        run: ps -o pid,args | grep -c "[s]leep 300" || echo no-sleeper-left
"#,
    );
    let started = Instant::now();
    let (out, events) = run_json(&p, &ws, engine, &["--grace", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the timeout did not stop the step"
    );
    assert_eq!(
        step(&events, "slow", "sleeper")["conclusion"],
        "failure",
        "{events:#?}"
    );
    assert_eq!(
        step(&events, "slow", "cleanup")["conclusion"],
        "success",
        "{events:#?}"
    );
    assert!(
        output(&events, "slow").contains("no-sleeper-left"),
        "{}",
        output(&events, "slow")
    );
    assert_eq!(job(&events, "slow")["conclusion"], "failure");
}

#[test]
fn docker_step_timeout_kills_the_step_and_always_runs() {
    step_timeout(DOCKER);
}

#[test]
fn podman_step_timeout_kills_the_step_and_always_runs() {
    step_timeout(PODMAN);
}

const LONG: &str = r#"
jobs:
  long:
    runs-on: ubuntu-latest
    services:
      web:
        image: gantry-test/web:1
    steps:
      - shell: sh
        run: echo step-is-running; sleep 300
"#;

/// Starts `gantry run --json` on [`LONG`] and returns it once the step runs, with its run id.
fn start_long(p: &Project, ws: &PathBuf, engine: Engine) -> (std::process::Child, String) {
    let mut child = p
        .gantry()
        .current_dir(ws)
        .args([
            "run",
            "--json",
            "--grace",
            "2",
            "-P",
            &engine.platform(),
            "wf.yml",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gantry");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut run = None;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if run.is_none() {
                run = event["run_id"].as_str().map(str::to_string);
            }
            if event["event"] == "output"
                && event["data"]
                    .as_str()
                    .is_some_and(|d| d.contains("step-is-running"))
            {
                let _ = tx.send(run.clone());
            }
        }
    });
    let run = rx.recv_timeout(Duration::from_secs(120)).ok().flatten();
    let Some(run) = run else {
        let _ = child.kill();
        let _ = child.wait();
        // Leave nothing behind even when failing: this project's state dir owns the objects.
        let _ = p.gantry().current_dir(ws).arg("gc").output();
        panic!("the step never started");
    };
    (child, run)
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("gantry did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ctrl_c(engine: Engine) {
    if !engine.available() {
        return;
    }
    let (p, ws) = project(LONG);
    let (mut child, run) = start_long(&p, &ws, engine);
    assert!(
        !engine.objects(&run).is_empty(),
        "the run's objects are labelled"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .is_ok_and(|s| s.success()));
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130));
    assert!(
        engine.objects(&run).is_empty(),
        "Ctrl-C left {:?}",
        engine.objects(&run)
    );
}

#[test]
fn docker_ctrl_c_leaves_no_container_network_or_volume() {
    ctrl_c(DOCKER);
}

#[test]
fn podman_ctrl_c_leaves_no_container_network_or_volume() {
    ctrl_c(PODMAN);
}

fn killed_then_gc(engine: Engine) {
    if !engine.available() {
        return;
    }
    let (p, ws) = project(LONG);
    let (mut child, run) = start_long(&p, &ws, engine);
    // A crash: no cleanup runs at all.
    let _ = child.kill();
    let _ = child.wait();
    let left = engine.objects(&run);
    assert!(
        left.len() >= 4,
        "a killed gantry leaves its objects for gc: {left:?}"
    );
    let out = p.gantry().current_dir(&ws).arg("gc").output().expect("gc");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        engine.objects(&run).is_empty(),
        "gc left {:?}: {}",
        engine.objects(&run),
        text(&out)
    );
}

#[test]
fn docker_sigkill_then_gc_leaves_nothing() {
    killed_then_gc(DOCKER);
}

#[test]
fn podman_sigkill_then_gc_leaves_nothing() {
    killed_then_gc(PODMAN);
}

/// The loopback registry scripts/setup-registry.sh runs (htpasswd auth).
const REGISTRY: &str = "127.0.0.1:5000";
const REGISTRY_USER: &str = "gantry";
const REGISTRY_PASS: &str = "gantry-registry-pass";

fn registry_answers() -> bool {
    let ok = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{REGISTRY}/v2/"),
        ])
        .output()
        .is_ok_and(|o| o.stdout == b"401");
    crate::harness::required(
        ok,
        &format!("the registry is not answering on {REGISTRY}"),
        "run scripts/setup-registry.sh",
    )
}

fn pull_from_registry(engine: Engine) {
    if !engine.available() || !registry_answers() {
        return;
    }
    let image = format!("{REGISTRY}/gantry-test/busybox:1");
    let forget = || {
        let _ = Command::new("docker")
            .args([
                "-H",
                &format!("unix://{}", engine.socket),
                "rmi",
                "-f",
                &image,
            ])
            .output();
    };
    // Credentials from a gantry secret, in the workflow's `container:`.
    forget();
    let (p, ws) = project(&format!(
        r#"
jobs:
  pulled:
    runs-on: ubuntu-latest
    container:
      image: {image}
      credentials:
        username: {REGISTRY_USER}
        password: ${{{{ secrets.REG_PASS }}}}
    steps:
      - shell: sh
        run: echo "pulled and ran"
"#
    ));
    let out = p
        .gantry()
        .current_dir(&ws)
        .env("REG_PASS", REGISTRY_PASS)
        .args([
            "run",
            "--secret",
            "REG_PASS",
            "-P",
            &engine.platform(),
            "wf.yml",
        ])
        .output()
        .expect("run gantry");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pulled and ran"),
        "{}",
        text(&out)
    );

    // A wrong password fails the job, naming the image and the registry.
    forget();
    let out = p
        .gantry()
        .current_dir(&ws)
        .env("REG_PASS", "wrong")
        .args([
            "run",
            "--secret",
            "REG_PASS",
            "-P",
            &engine.platform(),
            "wf.yml",
        ])
        .output()
        .expect("run gantry");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = String::from_utf8_lossy(&out.stdout);
    assert!(
        all.contains(&format!("pulling `{image}`")) && all.contains(REGISTRY),
        "{all}"
    );
    assert!(!all.contains("wrong"), "the secret leaked: {all}");

    // Credentials from the Docker config file, for a label image, pull policy `always`.
    let config = p.path().join("docker-config");
    std::fs::create_dir_all(&config).expect("config dir");
    let auth = base64_encode(&format!("{REGISTRY_USER}:{REGISTRY_PASS}"));
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths":{{"{REGISTRY}":{{"auth":"{auth}"}}}}}}"#),
    )
    .expect("config");
    p.write("ws/wf.yml", "jobs:\n  label:\n    runs-on: ubuntu-latest\n    steps:\n      - shell: sh\n        run: echo label-image-ran\n");
    let out = p
        .gantry()
        .current_dir(&ws)
        .env("DOCKER_CONFIG", &config)
        .args([
            "run",
            "-P",
            &format!("ubuntu-latest={}://{image}?pull=always", engine.scheme),
            "wf.yml",
        ])
        .output()
        .expect("run gantry");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("label-image-ran"),
        "{}",
        text(&out)
    );
    forget();
}

fn base64_encode(s: &str) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(s.as_bytes())?;
            c.wait_with_output()
        });
    String::from_utf8_lossy(&out.expect("base64").stdout)
        .trim()
        .to_string()
}

#[test]
fn docker_pulls_from_the_authenticated_registry() {
    pull_from_registry(DOCKER);
}

#[test]
fn podman_pulls_from_the_authenticated_registry() {
    pull_from_registry(PODMAN);
}

fn host_with_containers(engine: Engine, port: u16) {
    if !engine.available() {
        return;
    }
    let (p, ws) = project(&format!(
        r#"
jobs:
  onhost:
    runs-on: host
    services:
      web:
        image: {WEB}
        ports: ["{port}:8080"]
    steps:
      - name: host step
        run: |
          echo "written on the host" > shared.txt
          echo "plain step on $(cat /proc/sys/kernel/hostname)"
          for i in $(seq 1 50); do curl -sf -o /dev/null http://127.0.0.1:{port}/passwd && echo service-reached && break; sleep 0.2; done
      - uses: docker://{IMAGE}
        with:
          args: cat shared.txt
  incontainer:
    runs-on: host
    container:
      image: {IMAGE}
    steps:
      - run: echo "in the job container at $(pwd)"
"#
    ));
    p.write(
        "ws/gantry.toml",
        &format!("[host]\ncontainers = \"{}\"\n", engine.scheme),
    );
    let out = p
        .gantry()
        .current_dir(&ws)
        .args(["run", "--json", "wf.yml"])
        .output()
        .expect("run gantry");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(out.status.success(), "{}", text(&out));
    let log = output(&events, "onhost");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert!(
        log.contains(&format!("plain step on {}", hostname.trim())),
        "{log}"
    );
    assert!(log.contains("service-reached"), "{log}");
    assert!(
        log.contains("written on the host"),
        "the step container shares the host workspace: {log}"
    );
    assert!(
        output(&events, "incontainer").contains("in the job container at /__w/workspace"),
        "{events:#?}"
    );
    assert!(
        engine.objects(&run_id(&events)).is_empty(),
        "objects left: {:?}",
        engine.objects(&run_id(&events))
    );

    // Without an engine for host jobs, validation refuses the container layers up front.
    p.write("ws/gantry.toml", "[host]\ncontainers = \"none\"\n");
    let out = p
        .gantry()
        .current_dir(&ws)
        .args(["validate", "wf.yml"])
        .output()
        .expect("validate");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("services") && all.contains("container"),
        "{all}"
    );
}

#[test]
fn docker_runs_the_container_layers_of_host_jobs() {
    host_with_containers(DOCKER, 18181);
}

#[test]
fn podman_runs_the_container_layers_of_host_jobs() {
    host_with_containers(PODMAN, 18182);
}

const SANDBOX_CHECKS: &str = r#"
          if touch /rootfs-probe 2>/dev/null; then echo root-writable; else echo root-read-only; fi
          touch /tmp/ok && echo tmp-writable
          touch "$GITHUB_WORKSPACE/ok" && echo workspace-writable
          echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ',')"
          grep -E '^(CapEff|NoNewPrivs)' /proc/self/status
          echo "mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
          echo "pids=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)"
          echo "argv-hits=$(cat /proc/[0-9]*/cmdline | tr '\0' '\n' | grep -c "hunter2-sandbox-secre[t]")"
          echo "token=$TOKEN""#;

fn sandbox(engine: Engine) {
    if !engine.available() {
        return;
    }
    let (p, ws) = project(&format!(
        r#"
jobs:
  label:
    runs-on: sandboxed
    steps:
      - shell: sh
        env:
          TOKEN: ${{{{ secrets.TOKEN }}}}
        run: |{SANDBOX_CHECKS}
  job:
    runs-on: ubuntu-latest
    container:
      image: {IMAGE}
      options: --read-only --network none --memory 64m --pids-limit 100 --cap-drop ALL --security-opt no-new-privileges
    steps:
      - shell: sh
        env:
          TOKEN: ${{{{ secrets.TOKEN }}}}
        run: |{SANDBOX_CHECKS}
"#
    ));
    let label = format!(
        "sandboxed={}://{IMAGE}?network=none&read-only=true&memory=64m&pids=100&cap-drop=ALL&no-new-privileges=true",
        engine.scheme
    );
    let out = p
        .gantry()
        .current_dir(&ws)
        .env("TOKEN", "hunter2-sandbox-secret")
        .args([
            "run",
            "--json",
            "--secret",
            "TOKEN",
            "-P",
            &label,
            "-P",
            &engine.platform(),
            "wf.yml",
        ])
        .output()
        .expect("run gantry");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("hunter2"),
        "the secret leaked: {}",
        text(&out)
    );
    for job in ["label", "job"] {
        let log = output(&events, job);
        for want in [
            "root-read-only",
            "tmp-writable",
            "workspace-writable",
            "ifaces=lo,\n",
            "CapEff:\t0000000000000000",
            "NoNewPrivs:\t1",
            "mem=67108864",
            "pids=100",
            "argv-hits=0",
            "token=***",
        ] {
            assert!(log.contains(want), "job `{job}` lacks `{want}`:\n{log}");
        }
    }
}

#[test]
fn docker_sandbox_options_per_label_and_per_job() {
    sandbox(DOCKER);
}

#[test]
fn podman_sandbox_options_per_label_and_per_job() {
    sandbox(PODMAN);
}

fn label_forms(engine: Engine) {
    if !engine.available() {
        return;
    }
    let (p, ws) = project(
        r#"
jobs:
  mapped:
    runs-on: big
    steps:
      - shell: sh
        run: echo "mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
  forgejo:
    runs-on: [self-hosted-linux, small]
    steps:
      - shell: sh
        run: echo "pids=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)"
"#,
    );
    p.write(
        "ws/gantry.toml",
        &format!(
            "[labels]\nbig = {{ backend = \"{}\", target = \"{IMAGE}\", options = {{ memory = \"96m\" }} }}\n",
            engine.scheme
        ),
    );
    let forgejo = format!("small:{}://{IMAGE}?pids=77", engine.scheme);
    let (out, events) = run_json(&p, &ws, engine, &["-P", &forgejo]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        output(&events, "mapped").contains(&format!("mem={}", 96 << 20)),
        "{events:#?}"
    );
    assert!(
        output(&events, "forgejo").contains("pids=77"),
        "{events:#?}"
    );
}

#[test]
fn docker_label_map_form_and_forgejo_form() {
    label_forms(DOCKER);
}

#[test]
fn podman_label_map_form_and_forgejo_form() {
    label_forms(PODMAN);
}

/// Connecting to an engine costs requests (Podman's `/version` alone takes a third of a
/// second), so a run connects only to the engines its jobs use.
#[test]
fn engines_are_connected_only_for_jobs_that_use_them() {
    let p = Project::new();
    let sock = p.path().join("fake-docker.sock");
    // An "engine" that accepts connections and never answers.
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("binding the socket");
    listener.set_nonblocking(true).expect("non-blocking socket");
    let docker_host = format!("unix://{}", sock.display());
    p.write(
        "host.yml",
        "jobs:\n  h:\n    runs-on: host\n    steps:\n      - run: echo on the host\n",
    );
    let out = p
        .gantry()
        .env("DOCKER_HOST", &docker_host)
        .args(["run", "host.yml"])
        .output()
        .expect("running gantry");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a host-only run connected to the engine"
    );

    // A job container on the host runs on an engine, so this one is asked (and fails the
    // check clearly, naming the engine that does not answer).
    p.write("gantry.toml", "[host]\ncontainers = \"docker\"\n");
    p.write(
        "boxed.yml",
        "jobs:\n  b:\n    runs-on: host\n    container: alpine\n    steps:\n      - run: echo boxed\n",
    );
    let out = p
        .gantry()
        .env("DOCKER_HOST", &docker_host)
        .args(["validate", "boxed.yml"])
        .output()
        .expect("running gantry");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(listener.accept().is_ok(), "the engine was never asked");
    assert!(text(&out).contains("docker"), "{}", text(&out));
}

const ORPHANS: &str = r#"
jobs:
  orphans:
    runs-on: ubuntu-latest
    steps:
      - shell: sh
        run: |
          # The subshell exits at once: its `sleep` is orphaned and re-parented to PID 1.
          (sleep 0.2 &)
          true
      - shell: sh
        run: |
          sleep 1.5
          echo "zombies=$(grep -l '^State:[[:space:]]*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)"
"#;

/// A background process a step leaves behind is reaped once it exits: the job
/// container's PID 1 waits for orphans instead of leaving zombies.
fn reaps_orphans(engine: Engine, label_options: &str) {
    if !engine.available() {
        return;
    }
    let (p, ws) = project(ORPHANS);
    let platform = format!("{}{label_options}", engine.platform());
    let (out, events) = run_json(&p, &ws, engine, &["-P", &platform]);
    assert!(out.status.success(), "{}", text(&out));
    let log = output(&events, "orphans");
    assert!(log.contains("zombies=0"), "{log}");
}

#[test]
fn docker_job_container_reaps_orphaned_step_processes() {
    reaps_orphans(DOCKER, "");
    // Without the shim, Docker's own init is PID 1.
    reaps_orphans(DOCKER, "?exec=api");
}

#[test]
fn podman_job_container_reaps_orphaned_step_processes() {
    reaps_orphans(PODMAN, "");
}
