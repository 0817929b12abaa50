//! The command surface: discovery, --job, runs, logs, schema, exit codes, human output.

use crate::harness::{text, Project};

const SIMPLE: &str = r#"
name: simple
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: hello
        run: echo hello-from-build
  test:
    runs-on: host
    needs: build
    steps:
      - run: echo testing
  other:
    runs-on: host
    steps:
      - run: echo other-ran
"#;

#[test]
fn discovers_workflows_and_selects_jobs() {
    let p = Project::new();
    p.write(".github/workflows/ci.yml", SIMPLE);
    let out = p.run(&["run", "--job", "test"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("hello-from-build") && t.contains("testing"),
        "{t}"
    );
    assert!(!t.contains("other-ran"), "{t}");
    // Not a terminal: every output line is prefixed with its job.
    assert!(t.contains("[build] | hello-from-build"), "{t}");
    assert!(
        !t.contains('\u{1b}'),
        "NO_COLOR must mean no escape codes: {t}"
    );

    let out = p.run(&["run", "--job", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn runs_and_logs_read_the_ledger() {
    let p = Project::new();
    p.write("wf.yml", SIMPLE);
    let out = p.run(&["run", "--quiet", "wf.yml"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("hello-from-build"),
        "--quiet hides output"
    );

    let runs = p.run(&["runs"]);
    let t = text(&runs);
    assert!(
        runs.status.success() && t.contains("simple") && t.contains("success"),
        "{t}"
    );
    let id = String::from_utf8_lossy(&runs.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    assert!(!id.is_empty(), "{t}");

    let logs = p.run(&["logs", &id, "build", "hello"]);
    let t = text(&logs);
    assert!(logs.status.success(), "{t}");
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout).trim(),
        "hello-from-build",
        "{t}"
    );
    let logs = p.run(&["logs", &id[..8], "build", "1"]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("hello-from-build"),
        "{}",
        text(&logs)
    );
    let logs = p.run(&["logs", &id, "nojob"]);
    assert_eq!(logs.status.code(), Some(2));
}

#[test]
fn json_events_describe_the_run() {
    let p = Project::new();
    p.write("wf.yml", SIMPLE);
    let (out, events) = p.run_json("wf.yml", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    for k in [
        "job_started",
        "step_started",
        "output",
        "step_finished",
        "job_finished",
    ] {
        assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
    }
    assert!(events.iter().all(|e| e["time"].is_string()));
}

#[test]
fn schema_is_json() {
    let p = Project::new();
    let out = p.run(&["schema"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    assert!(
        v.get("properties").is_some() || v.get("$defs").is_some(),
        "{v}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let p = Project::new();
    p.write("wf.yml", SIMPLE);
    for args in [
        vec!["run", "-P", "nonsense", "wf.yml"],
        vec!["run", "--jobs", "0", "wf.yml"],
        vec!["run", "missing.yml"],
        vec!["run", "--no-such-flag"],
    ] {
        let out = p.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
}

#[test]
fn bind_runs_in_place_and_copy_keeps_the_tree_clean() {
    let p = Project::new();
    p.write(
        "wf.yml",
        "jobs:\n  w:\n    runs-on: host\n    steps:\n      - run: echo made > made.txt\n",
    );
    let out = p.run(&["run", "wf.yml"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!p.path().join("made.txt").exists());
    let out = p.run(&["run", "--bind", "wf.yml"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(p.path().join("made.txt").exists());
}
