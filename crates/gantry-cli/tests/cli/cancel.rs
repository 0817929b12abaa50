//! Cancellation: SIGTERM then SIGKILL after the grace period, always() steps, a second
//! Ctrl-C forcing, and no process or temp dir left behind.

use std::time::{Duration, Instant};

use crate::harness::{alive, text, Project};

fn wait_for_file(path: &std::path::Path, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s;
            }
        }
        assert!(start.elapsed() < limit, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map(|s| s.success());
    assert_eq!(ok.ok(), Some(true), "kill {sig} {pid}");
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

fn workflow(p: &Project) {
    let pids = p.path().join("pids");
    p.write(
        "wf.yml",
        &format!(
            r#"
jobs:
  stubborn:
    runs-on: host
    steps:
      - name: ignores TERM
        run: |
          trap '' TERM
          sleep 1000 &
          echo "$! $$" > {pids}.tmp && mv {pids}.tmp {pids}
          sleep 1000 & wait
      - name: never
        run: echo never-ran
      - name: cleanup
        if: always()
        run: echo "cleanup ran, cancelled=${{{{ cancelled() }}}}" > {out}
"#,
            pids = pids.display(),
            out = p.path().join("cleanup").display()
        ),
    );
}

#[test]
fn ctrl_c_terminates_then_kills_after_grace_and_runs_always_steps() {
    let p = Project::new();
    workflow(&p);
    let mut child = p
        .gantry()
        .args(["run", "--grace", "1", "wf.yml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn gantry");
    let pids = wait_for_file(&p.path().join("pids"), Duration::from_secs(30));
    signal(child.id(), "-INT");
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let out = child.wait_with_output().expect("output");
    assert_eq!(status.code(), Some(130), "{}", text(&out));

    let cleanup = std::fs::read_to_string(p.path().join("cleanup")).unwrap_or_default();
    assert!(
        cleanup.contains("cleanup ran, cancelled=true"),
        "{cleanup:?} {}",
        text(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("never-ran"));
    for pid in pids
        .split_whitespace()
        .filter_map(|s| s.parse::<i32>().ok())
    {
        assert!(!alive(pid), "process {pid} of the run survived");
    }
    // No workspace left in the state dir.
    let work = p.state().join("work");
    let leftovers: Vec<_> = std::fs::read_dir(&work)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn second_ctrl_c_forces() {
    let p = Project::new();
    workflow(&p);
    let mut child = p
        .gantry()
        .args(["run", "--grace", "600", "wf.yml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn gantry");
    let pids = wait_for_file(&p.path().join("pids"), Duration::from_secs(30));
    signal(child.id(), "-INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(child.id(), "-INT");
    // The grace period is 10 minutes: exiting at all within a minute proves the force.
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130));
    for pid in pids
        .split_whitespace()
        .filter_map(|s| s.parse::<i32>().ok())
    {
        assert!(!alive(pid), "process {pid} of the run survived");
    }
}

#[test]
fn sigterm_cancels_like_ctrl_c() {
    let p = Project::new();
    workflow(&p);
    let mut child = p
        .gantry()
        .args(["run", "--grace", "1", "wf.yml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn gantry");
    wait_for_file(&p.path().join("pids"), Duration::from_secs(30));
    signal(child.id(), "-TERM");
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130));
    let out = p.run(&["runs", "--json"]);
    let runs = String::from_utf8_lossy(&out.stdout);
    assert!(runs.contains("\"cancelled\""), "{runs}");
}

#[test]
fn gc_reaps_what_a_killed_gantry_left_behind_and_a_crash_is_recorded_as_a_crash() {
    let p = Project::new();
    workflow(&p);
    let mut child = p
        .gantry()
        .args(["run", "wf.yml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn gantry");
    let pids = wait_for_file(&p.path().join("pids"), Duration::from_secs(30));
    // A crash of gantry and of the job's supervisor at once (the supervisor alone would
    // end the step's processes as gantry dies): no cleanup runs at all.
    let supervisors = std::process::Command::new("pgrep")
        .args([
            "-P",
            &child.id().to_string(),
            "-f",
            "__gantry-host-supervisor",
        ])
        .output()
        .expect("pgrep");
    for pid in String::from_utf8_lossy(&supervisors.stdout).split_whitespace() {
        signal(pid.parse().expect("pid"), "-KILL");
    }
    signal(child.id(), "-KILL");
    let _ = child.wait();
    let pids: Vec<i32> = pids
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    assert!(
        pids.iter().any(|p| alive(*p)),
        "the step's processes outlive a SIGKILLed gantry"
    );

    let out = p.run(&["gc"]);
    assert!(out.status.success(), "{}", text(&out));
    std::thread::sleep(Duration::from_millis(300));
    for pid in &pids {
        assert!(!alive(*pid), "gc left process {pid} alive: {}", text(&out));
    }
    let work = p.state().join("work");
    let leftovers: Vec<_> = std::fs::read_dir(&work)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "gc left {leftovers:?}");
    // A crash is no cancel: the run failed, and the ledger says gantry stopped.
    let runs = p.run(&["runs", "--json"]);
    let runs = String::from_utf8_lossy(&runs.stdout).to_string();
    assert!(runs.contains(r#""status":"failure""#), "{runs}");
    assert!(runs.contains("crashed or was killed"), "{runs}");
    assert!(!runs.contains("cancelled"), "{runs}");
}
