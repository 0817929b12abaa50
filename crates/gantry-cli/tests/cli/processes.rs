//! Everything a step starts ends with its job, however it detaches (`setsid`, `env -i`
//! drops every gantry variable), and with gantry itself if gantry is killed.

use std::time::{Duration, Instant};

use crate::harness::{alive, text, Project};

fn detaching_workflow(p: &Project, then: &str) {
    let pids = p.path().join("pids");
    p.write(
        "wf.yml",
        &format!(
            r#"
jobs:
  leak:
    runs-on: host
    steps:
      - run: |
          setsid env -i /bin/sh -c 'echo $$ >> {pids}; exec sleep 300' &
          setsid sh -c 'sleep 301 & echo $! >> {pids}' &
          sleep 0.2
      - run: {then}
"#,
            pids = pids.display()
        ),
    );
}

fn pids(p: &Project) -> Vec<i32> {
    std::fs::read_to_string(p.path().join("pids"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn gone_soon(pids: &[i32]) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if pids.iter().all(|p| !alive(*p)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_setsid_env_i_process_does_not_outlive_its_job() {
    let p = Project::new();
    detaching_workflow(&p, "echo the background processes live on between steps");
    let out = p.run(&["run", "wf.yml"]);
    assert!(out.status.success(), "{}", text(&out));
    let pids = pids(&p);
    assert!(pids.len() >= 2, "{pids:?}: {}", text(&out));
    assert!(gone_soon(&pids), "still alive after the job: {pids:?}");
}

#[test]
fn a_setsid_env_i_process_does_not_outlive_a_killed_gantry() {
    let p = Project::new();
    detaching_workflow(&p, "sleep 300");
    let mut child = p
        .gantry()
        .args(["run", "wf.yml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn gantry");
    let start = Instant::now();
    while pids(&p).len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the step never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pids = pids(&p);
    let _ = child.kill();
    let _ = child.wait();
    assert!(gone_soon(&pids), "alive after gantry was killed: {pids:?}");
}
