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

/// `gantry validate FILE` in a fresh project holding `text` as FILE: (exit code, stderr).
fn validate(file: &str, text: &[u8]) -> (Option<i32>, String) {
    let p = Project::new();
    std::fs::write(p.path().join(file), text).unwrap();
    let out = p.run(&["validate", file]);
    (out.status.code(), stderr(&out))
}

/// Issue 10: a UTF-8 byte order mark was "unknown key `\u{feff}name`".
#[test]
fn a_utf8_bom_is_accepted() {
    let wf = "\u{feff}name: x\njobs:\n  a:\n    runs-on: host\n    steps:\n      - run: echo hi\n";
    let (code, err) = validate("wf.yml", wf.as_bytes());
    assert_eq!(code, Some(0), "{err}");
}

/// Issue 10: a NUL byte ended the file for the YAML parser ("no `jobs:`" at 1:1).
#[test]
fn a_nul_byte_is_reported_as_a_nul_byte_at_its_place() {
    let (code, err) = validate(
        "wf.yml",
        b"jobs:\n  a:\n    runs-on: host\n    steps:\n      - run: echo \0hi\n",
    );
    assert_eq!(code, Some(1), "{err}");
    insta::assert_snapshot!("nul_byte", err);
}

/// Issue 10: a second YAML document was silently ignored.
#[test]
fn a_second_yaml_document_is_refused_at_its_start() {
    let (code, err) = validate(
        "wf.yml",
        b"jobs:\n  a:\n    runs-on: host\n    steps:\n      - run: echo hi\n---\njobs:\n  b: {}\n",
    );
    assert_eq!(code, Some(1), "{err}");
    insta::assert_snapshot!("second_document", err);
}

/// Issue 10: each of these validated, then went wrong at run time (an image named `~`
/// pulled, `true` as an image, an empty `docker://`, an unterminated expression in
/// `concurrency:` ignored).
#[test]
fn values_that_broke_at_run_time_are_located_errors() {
    let (code, err) = validate(
        "wf.yml",
        br#"concurrency: ${{ (
jobs:
  a:
    runs-on: host
    services:
      db: ~
    container:
      image: true
    concurrency:
      group: ${{ github.ref
    steps:
      - uses: 'docker://'
"#,
    );
    assert_eq!(code, Some(1), "{err}");
    insta::assert_snapshot!("run_time_breakers", err);
}

/// Issue 10: `timeout-minutes: 1e308` (or 2^64-1) validated, then panicked converting
/// to a duration.
#[test]
fn huge_timeout_minutes_literals_are_refused() {
    let (code, err) = validate(
        "wf.yml",
        b"jobs:\n  a:\n    runs-on: host\n    timeout-minutes: 1e308\n    steps:\n      - run: echo hi\n        timeout-minutes: 18446744073709551615\n        retry: {attempts: 2, delay-seconds: 1e308}\n",
    );
    assert_eq!(code, Some(1), "{err}");
    insta::assert_snapshot!("huge_timeouts", err);
}

/// Issue 10: `/dev/zero` was read until memory ran out.
#[test]
fn dev_zero_is_refused_not_read_until_memory_runs_out() {
    let p = Project::new();
    let out = p.run(&["validate", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("larger than 16 MiB"),
        "{}",
        text(&out)
    );
}

/// Issue 10: a 10 MB source line was echoed whole in the diagnostic.
#[test]
fn a_10_mb_line_is_excerpted_not_echoed() {
    let wf = format!(
        "jobs:\n  a:\n    runs-on: host\n    timeout-minutes: x{}\n    steps:\n      - run: echo hi\n",
        "y".repeat(10_000_000)
    );
    let (code, err) = validate("wf.yml", wf.as_bytes());
    assert_eq!(code, Some(1));
    assert!(err.len() < 4_000, "{} bytes of diagnostics", err.len());
    assert!(err.contains("wf.yml:4:22") && err.contains("yyy…"), "{err}");
}

/// Issue 10: a 4000x4000 matrix took 8 GB and 29 s before the 256-job limit refused it.
#[test]
fn a_4000x4000_matrix_is_refused_before_it_is_expanded() {
    let values: Vec<String> = (0..4000).map(|i| i.to_string()).collect();
    let values = values.join(", ");
    let wf = format!("jobs:\n  a:\n    runs-on: host\n    strategy:\n      matrix:\n        a: [{values}]\n        b: [{values}]\n    steps:\n      - run: echo hi\n");
    let (code, err) = validate("wf.yml", wf.as_bytes());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("16000000 combinations"), "{err}");
}

/// Issue 10: a 2000-operand `||` validated, then overflowed the stack at run time; at 50k
/// operands `validate` itself overflowed.
#[test]
fn long_or_chains_validate_and_run() {
    let p = Project::new();
    let ops = vec!["github.ref == 'x'"; 50_000].join(" || ");
    p.write(
        "big.yml",
        &format!("jobs:\n  a:\n    runs-on: host\n    steps:\n      - if: ${{{{ {ops} }}}}\n        run: echo hi\n"),
    );
    let out = p.run(&["validate", "big.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let ops = vec!["github.ref == 'x'"; 2_000].join(" || ");
    p.write(
        "wf.yml",
        &format!("jobs:\n  a:\n    runs-on: host\n    steps:\n      - if: ${{{{ {ops} || true }}}}\n        run: echo ran-the-step\n"),
    );
    let out = p.run(&["run", "wf.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ran-the-step"),
        "{}",
        text(&out)
    );
}
