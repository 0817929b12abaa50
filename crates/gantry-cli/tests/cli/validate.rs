//! `gantry validate` and validation inside `gantry run`: exit codes and rendered
//! diagnostics (snapshots, temp paths redacted).

use crate::harness::{text, Project};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn clean_workflow_validates() {
    let p = Project::new();
    p.write(
        "wf.yml",
        "jobs:\n  a:\n    runs-on: host\n    steps:\n      - run: echo hi\n",
    );
    let out = p.run(&["validate", "wf.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn backend_problems_are_reported_with_their_place() {
    let p = Project::new();
    // Without an engine the host backend cannot run containers; say so explicitly so the
    // snapshot does not depend on whether this machine runs Docker.
    p.write("gantry.toml", "[host]\ncontainers = \"none\"\n");
    p.write(
        "wf.yml",
        r#"jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
  b:
    runs-on: host
    services:
      db:
        image: postgres:16
    steps:
      - uses: actions/setup-node@v4
      - uses: docker://alpine:3
"#,
    );
    let out = p.run(&["validate", "wf.yml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    insta::assert_snapshot!("backend_problems", stderr(&out));

    // The same file refuses to run: exit 2, nothing ran.
    let out = p.run(&["run", "wf.yml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hi"));

    // Mapping the label fixes that one.
    let out = p.run(&["validate", "-P", "ubuntu-latest=host", "wf.yml"]);
    assert!(!stderr(&out).contains("ubuntu-latest"), "{}", text(&out));
}

#[test]
fn workflow_errors_are_all_reported() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"jobs:
  a:
    runs-on: host
    needs: [c]
    stepz:
      - run: echo hi
  b:
    runs-on: host
    steps:
      - run: echo ${{ steps.nope.outputs.x }}
      - run: echo ${{ 1 + }}
"#,
    );
    let out = p.run(&["validate", "wf.yml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("wf.yml:"),
        "diagnostics name file:line:column: {err}"
    );
    assert!(
        err.contains("stepz") && err.contains("steps"),
        "did-you-mean hint: {err}"
    );
    insta::assert_snapshot!("workflow_errors", err);
}

#[test]
fn garbage_is_a_diagnostic_not_a_panic() {
    let p = Project::new();
    std::fs::write(p.path().join("bin.yml"), [0u8, 159, 146, 150, 255, 0, 1, 2]).unwrap();
    p.write("empty.yml", "");
    for f in ["bin.yml", "empty.yml"] {
        let out = p.run(&["validate", f]);
        assert_eq!(out.status.code(), Some(1), "{f}: {}", text(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", text(&out));
    }
}

/// A misspelt `[host] containers` engine is refused even by a workflow that runs no
/// container, naming the setting and the values it takes.
#[test]
fn an_unknown_host_container_engine_is_a_usage_error() {
    let p = Project::new();
    p.write("gantry.toml", "[host]\ncontainers = \"dokcer\"\n");
    p.write(
        "wf.yml",
        "jobs:\n  a:\n    runs-on: host\n    steps:\n      - run: echo hi\n",
    );
    let out = p.run(&["validate", "wf.yml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[host] containers = \"dokcer\"")
            && stderr.contains("docker, podman, none"),
        "{stderr}"
    );
}
