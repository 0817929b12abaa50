#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Good workflows become the expected plan; no input makes `load` panic.

use gantry_workflow::{load, SourceFile, StepBody};
use proptest::prelude::*;

fn plan(text: &str) -> gantry_workflow::Plan {
    load(&SourceFile::new("wf.yml", text)).unwrap_or_else(|d| panic!("{d:?}"))
}

#[test]
fn matrix_jobs_are_expanded_and_ordered_after_their_needs() {
    let p = plan(
        r#"
name: ${{ github.event_name }} build
defaults:
  run:
    shell: bash
jobs:
  test:
    needs: build
    runs-on: [self-hosted, linux]
    strategy:
      fail-fast: false
      max-parallel: 2
      matrix:
        os: [linux, bsd]
        v: [1, "2"]
        include:
          - os: linux
            extra: true
    defaults:
      run:
        working-directory: sub
    steps:
      - run: echo ${{ matrix.os }} ${{ matrix.extra }}
  build:
    runs-on: host
    timeout-minutes: 5
    outputs:
      x: ${{ steps.s.outputs.x }}
    steps:
      - id: s
        uses: actions/checkout@v4
        with:
          fetch-depth: 0
        retry: {attempts: 2, delay-seconds: 1.5}
"#,
    );
    let keys: Vec<&str> = p.jobs.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "build",
            "test (linux, 1, true)",
            "test (linux, 2, true)",
            "test (bsd, 1)",
            "test (bsd, 2)"
        ]
    );
    let t = &p.jobs[1];
    assert_eq!(t.matrix["v"], serde_json::json!(1));
    assert_eq!(
        p.jobs[2].matrix["v"],
        serde_json::json!("2"),
        "quoted values stay strings"
    );
    assert_eq!(
        (
            t.strategy.fail_fast,
            t.strategy.max_parallel,
            t.strategy.job_index,
            t.strategy.job_total
        ),
        (false, Some(2), 0, 4)
    );
    assert_eq!(t.defaults.shell.as_deref(), Some("bash"));
    assert_eq!(t.defaults.working_directory.as_deref(), Some("sub"));
    assert_eq!(t.runs_on, ["self-hosted", "linux"]);
    let b = &p.jobs[0];
    assert_eq!(b.timeout_minutes.as_deref(), Some("5"));
    let StepBody::Uses { uses, with, .. } = &b.steps[0].body else {
        panic!("uses step")
    };
    assert_eq!(
        (uses.as_str(), with["fetch-depth"].as_str()),
        ("actions/checkout@v4", "0")
    );
    assert_eq!(
        b.steps[0].retry.map(|r| (r.attempts, r.delay_seconds)),
        Some((2, 1.5))
    );
    assert_eq!(p.name, "${{ github.event_name }} build");
}

#[test]
fn containers_and_services_are_planned() {
    let p = plan(
        r#"
jobs:
  a:
    runs-on: docker
    container: alpine:3
    services:
      db:
        image: postgres:16
        env: {POSTGRES_PASSWORD: x}
        ports: ["5432:5432"]
        options: --health-cmd pg_isready
        credentials: {username: u, password: "${{ secrets.P }}"}
    steps:
      - run: "true"
"#,
    );
    let j = &p.jobs[0];
    assert_eq!(
        j.container.as_ref().map(|c| c.image.as_str()),
        Some("alpine:3")
    );
    let db = &j.services["db"];
    assert_eq!(
        (db.image.as_str(), db.ports[0].as_str()),
        ("postgres:16", "5432:5432")
    );
    assert_eq!(
        db.credentials.as_ref().map(|c| c.1.as_str()),
        Some("${{ secrets.P }}")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn load_never_panics_on_text(text in "\\PC{0,200}") {
        let _ = load(&SourceFile::new("f.yml", text));
    }

    #[test]
    fn load_never_panics_on_mutated_workflows(cut in 0usize..400, insert in "[ \\-:\\[\\]{}'\"$#&*!|>\n\ta-z]{0,6}") {
        let base = "name: x\non: push\njobs:\n  a:\n    runs-on: host\n    strategy:\n      matrix:\n        os: [l, b]\n    steps:\n      - id: s\n        run: echo ${{ matrix.os }}\n        if: success()\n  b:\n    needs: a\n    runs-on: host\n    steps:\n      - run: echo ${{ needs.a.outputs.x }}\n";
        let at = cut.min(base.len());
        let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
        let _ = load(&SourceFile::new("f.yml", text));
    }
}
