//! Input that validates must never crash gantry at run time, and a closed pipe ends it
//! quietly.

use std::process::Stdio;

use crate::harness::{job, of, output, step, text, Project};

#[test]
fn huge_timeout_minutes_from_an_expression_fails_its_job_and_step_not_the_engine() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
jobs:
  huge:
    runs-on: host
    timeout-minutes: ${{ fromJSON('1e308') }}
    steps:
      - run: echo never
  step-huge:
    runs-on: host
    steps:
      - name: huge
        run: echo never
        timeout-minutes: ${{ fromJSON('18446744073709551615') }}
      - name: cleanup
        if: always()
        run: echo always-ran
  other:
    runs-on: host
    steps:
      - run: echo other-ok
"#,
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let huge = job(&events, "huge");
    assert_eq!(huge["conclusion"], "failure");
    assert!(
        huge["error"]
            .as_str()
            .unwrap_or("")
            .contains("timeout-minutes"),
        "{huge}"
    );
    let s = step(&events, "step-huge", "huge");
    assert_eq!(s["conclusion"], "failure");
    assert!(
        s["error"].as_str().unwrap_or("").contains("one year"),
        "{s}"
    );
    assert_eq!(
        step(&events, "step-huge", "cleanup")["conclusion"],
        "success"
    );
    assert!(output(&events, "step-huge").contains("always-ran"));
    assert_eq!(job(&events, "other")["conclusion"], "success");
    assert!(output(&events, "other").contains("other-ok"));
    assert_eq!(of(&events, "run_finished")[0]["conclusion"], "failure");
}

#[test]
fn a_grace_too_long_to_hold_is_a_usage_error_not_a_panic() {
    let p = Project::new();
    p.write(
        "wf.yml",
        "jobs:\n  a:\n    runs-on: host\n    steps:\n      - run: 'true'\n",
    );
    for grace in ["1e308", "-1", "NaN", "inf"] {
        let out = p.run(&["run", &format!("--grace={grace}"), "wf.yml"]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--grace {grace}: {}",
            text(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--grace") && !err.contains("panicked"),
            "{err}"
        );
    }
}

/// Runs `gantry args` with stdout and stderr on a pipe whose reader is already gone.
fn with_closed_pipe(p: &Project, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let err = writer.try_clone().expect("dup");
    p.gantry()
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(err))
        .output()
        .expect("run gantry")
}

#[test]
fn a_closed_pipe_ends_validate_runs_logs_and_run_quietly() {
    let p = Project::new();
    p.write("bad.yml", "jobs:\n  a:\n    runs-on: host\n    stepz: []\n");
    p.write(
        "wf.yml",
        "jobs:\n  a:\n    runs-on: host\n    steps:\n      - run: seq 1 20000\n",
    );
    // Invalid: the diagnostics cannot be written; the exit code still says invalid.
    let out = with_closed_pipe(&p, &["validate", "bad.yml"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = with_closed_pipe(&p, &["run", "bad.yml"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // A run whose output nobody reads still runs to its end and is recorded.
    let out = with_closed_pipe(&p, &["run", "wf.yml"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for args in [
        &["runs"][..],
        &["logs", "last"],
        &["gc", "--dry-run"],
        &["--help"],
    ] {
        let out = with_closed_pipe(&p, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    }
    let runs = p.run(&["runs", "--json"]);
    assert!(
        String::from_utf8_lossy(&runs.stdout).contains(r#""status":"success""#),
        "{}",
        text(&runs)
    );
}
