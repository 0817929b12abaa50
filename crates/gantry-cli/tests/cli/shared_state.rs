//! Several gantrys on one state dir: concurrent runs never reap each other, the ledger
//! waits for its lock, and `gantry gc` removes (or, dry, lists) only what dead runs left.

use crate::harness::{text, Project};

const TWO_JOBS: &str = r#"
jobs:
  a:
    runs-on: host
    steps:
      - run: echo a; ls > /dev/null
      - run: sleep 0.2; echo a-done
  b:
    runs-on: host
    steps:
      - run: echo b
      - run: sleep 0.1; echo b-done
"#;

/// Starts `n` runs of the two-job workflow at once and checks every one succeeded.
fn concurrent_runs(n: usize) {
    let p = Project::new();
    p.write("wf.yml", TWO_JOBS);
    let children: Vec<_> = (0..n)
        .map(|_| {
            p.gantry()
                .args(["run", "wf.yml"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn gantry")
        })
        .collect();
    let mut failures = Vec::new();
    let mut outputs = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        if !out.status.success() {
            failures.push(text(&out));
        }
        outputs.push(text(&out));
    }
    assert!(
        failures.is_empty(),
        "{} of {n} runs failed; first:\n{}",
        failures.len(),
        failures[0]
    );
    let runs = p.run(&["runs", "--json", "--limit", "100"]);
    let ok = String::from_utf8_lossy(&runs.stdout)
        .lines()
        .filter(|l| l.contains(r#""status":"success""#))
        .count();
    assert_eq!(
        ok,
        n,
        "{}\nthe runs said:\n{}",
        text(&runs),
        outputs.join("\n")
    );
    // Nothing is left in the work dir: every run removed its own dir, and only its own.
    let left: Vec<_> = std::fs::read_dir(p.state().join("work"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn ten_concurrent_runs_on_one_state_dir_never_reap_each_other() {
    concurrent_runs(10);
}

#[test]
fn twenty_concurrent_runs_on_one_state_dir_never_reap_each_other_nor_lock_the_ledger() {
    concurrent_runs(20);
}

#[test]
fn gc_removes_empty_work_dirs_of_dead_runs_and_dry_run_lists_them_first() {
    let p = Project::new();
    p.write(
        "wf.yml",
        "jobs:\n  a:\n    runs-on: host\n    steps:\n      - run: 'true'\n",
    );
    let out = p.run(&["run", "wf.yml"]);
    assert!(out.status.success(), "{}", text(&out));
    // What a run killed between making its dirs and its marker leaves: empty dirs.
    let empty = p.state().join("work/01M8MH782BPHHM14Z9X7B50934");
    std::fs::create_dir_all(empty.join("a-0/workspace")).unwrap();
    // A dir that is not a run's is never touched.
    let other = p.state().join("work/tool-cache");
    std::fs::create_dir_all(&other).unwrap();

    let dry = p.run(&["gc", "--dry-run"]);
    let listed = String::from_utf8_lossy(&dry.stdout).to_string();
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(
        listed.contains("host: would remove directory")
            && listed.contains("01M8MH782BPHHM14Z9X7B50934"),
        "{listed}"
    );
    assert!(empty.exists(), "a dry run removes nothing");

    let gc = p.run(&["gc"]);
    assert!(gc.status.success(), "{}", text(&gc));
    assert!(!empty.exists(), "{}", text(&gc));
    assert!(other.exists());
}

#[test]
fn a_state_dir_inside_the_project_is_not_copied_into_job_workspaces() {
    // Copying the ledger would hand steps gantry's state and, worse, closing the copied
    // file drops this process's SQLite locks on it: concurrent runs then lose writes.
    let p = Project::new();
    p.write(
        "wf.yml",
        "jobs:\n  a:\n    runs-on: host\n    steps:\n      - run: test -f wf.yml && test ! -e state\n",
    );
    let out = p.run(&["run", "wf.yml"]);
    assert!(out.status.success(), "{}", text(&out));
}
