//! Jobs, needs, outputs, matrix, conditions, env files, timeouts and retries.

use crate::harness::{job, of, output, step, text, Project};

#[test]
fn dag_passes_outputs_between_jobs() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
name: dag
on: push
env:
  GREETING: hello
jobs:
  produce:
    runs-on: host
    outputs:
      word: ${{ steps.make.outputs.word }}
      lines: ${{ steps.make.outputs.lines }}
    steps:
      - id: make
        run: |
          echo "word=$GREETING-world" >> "$GANTRY_OUTPUT"
          { echo 'lines<<EOF'; echo one; echo two; echo EOF; } >> "$GITHUB_OUTPUT"
  consume:
    runs-on: host
    needs: produce
    steps:
      - run: echo "got ${{ needs.produce.outputs.word }} / ${{ needs.produce.result }}"
      - env:
          LINES: ${{ needs.produce.outputs.lines }}
        run: printf '%s\n' "$LINES" | wc -l | tr -d ' ' | sed 's/^/count=/'
  last:
    runs-on: host
    needs: [produce, consume]
    steps:
      - run: echo done
"#,
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(job(&events, "produce")["outputs"]["word"], "hello-world");
    let consumed = output(&events, "consume");
    assert!(consumed.contains("got hello-world / success"), "{consumed}");
    assert!(consumed.contains("count=2"), "{consumed}");
    // `last` starts only after both of its needs finished.
    let order: Vec<String> = of(&events, "job_finished")
        .iter()
        .map(|e| e["job"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(order.last().map(String::as_str), Some("last"), "{order:?}");
}

#[test]
fn matrix_with_include_and_exclude() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
jobs:
  test:
    runs-on: host
    strategy:
      matrix:
        os: [linux, bsd]
        n: [1, 2]
        exclude:
          - os: bsd
            n: 2
        include:
          - os: linux
            extra: yes
          - os: plan9
            n: 9
    steps:
      - run: echo "os=${{ matrix.os }} n=${{ matrix.n }} extra=${{ matrix.extra }} idx=${{ strategy.job-index }}/${{ strategy.job-total }}"
"#,
    );
    let (out, events) = p.run_json("wf.yml", &["--jobs", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut keys: Vec<String> = of(&events, "job_finished")
        .iter()
        .map(|e| e["job"].as_str().unwrap_or("").to_string())
        .collect();
    keys.sort();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let all: String = keys.iter().map(|k| output(&events, k)).collect();
    assert!(all.contains("os=linux n=1 extra=yes"), "{all}");
    assert!(all.contains("os=linux n=2 extra=yes"), "{all}");
    assert!(all.contains("os=bsd n=1 extra= "), "{all}");
    assert!(all.contains("os=plan9 n=9"), "{all}");
    assert!(!all.contains("os=bsd n=2"), "{all}");
}

#[test]
fn failure_and_always_paths() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
jobs:
  a:
    runs-on: host
    steps:
      - name: breaks
        run: exit 3
      - name: skipped on failure
        run: echo should-not-run
      - name: on failure
        if: failure()
        run: echo failure-ran
      - name: always
        if: always()
        run: echo always-ran
      - name: tolerated
        if: always()
        continue-on-error: true
        run: exit 1
  b:
    runs-on: host
    needs: a
    steps:
      - run: echo b-should-not-run
  cleanup:
    runs-on: host
    needs: a
    if: always()
    steps:
      - run: echo "cleanup saw ${{ needs.a.result }}"
  notify:
    runs-on: host
    needs: a
    if: failure()
    steps:
      - run: echo notify-ran
"#,
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let a = output(&events, "a");
    assert!(!a.contains("should-not-run"), "{a}");
    assert!(a.contains("failure-ran") && a.contains("always-ran"), "{a}");
    assert_eq!(step(&events, "a", "breaks")["exit_code"], 3);
    assert_eq!(
        step(&events, "a", "skipped on failure")["conclusion"],
        "skipped"
    );
    let tolerated = step(&events, "a", "tolerated");
    assert_eq!(
        (
            tolerated["outcome"].as_str(),
            tolerated["conclusion"].as_str()
        ),
        (Some("failure"), Some("success"))
    );
    assert_eq!(job(&events, "a")["conclusion"], "failure");
    assert_eq!(job(&events, "b")["conclusion"], "skipped");
    assert!(output(&events, "cleanup").contains("cleanup saw failure"));
    assert!(output(&events, "notify").contains("notify-ran"));
}

#[test]
fn step_timeout_stops_the_step_and_the_job_goes_on() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
jobs:
  slow:
    runs-on: host
    steps:
      - name: sleeper
        timeout-minutes: 0.02
        run: sleep 60
      - name: after failure
        if: failure()
        run: echo failure-step-ran
      - name: after always
        if: always()
        run: echo always-step-ran
"#,
    );
    let started = std::time::Instant::now();
    let (out, events) = p.run_json("wf.yml", &["--grace", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let s = step(&events, "slow", "sleeper");
    assert_eq!(s["outcome"], "failure");
    assert!(s["error"].as_str().unwrap_or("").contains("timeout"), "{s}");
    let o = output(&events, "slow");
    assert!(
        o.contains("failure-step-ran") && o.contains("always-step-ran"),
        "{o}"
    );
    // Not a timing assertion on speed: only that the 60 s sleep did not run to its end.
    assert!(started.elapsed().as_secs() < 55);
}

#[test]
fn retries_until_success() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
jobs:
  flaky:
    runs-on: host
    steps:
      - name: third time lucky
        retry:
          attempts: 3
          delay-seconds: 0.1
        run: |
          n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
          echo "attempt $n"
          [ "$n" -ge 3 ]
      - name: never
        retry: { attempts: 2 }
        continue-on-error: true
        run: exit 7
"#,
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let s = step(&events, "flaky", "third time lucky");
    assert_eq!(
        (s["conclusion"].as_str(), s["attempts"].as_u64()),
        (Some("success"), Some(3))
    );
    let n = step(&events, "flaky", "never");
    assert_eq!(
        (
            n["outcome"].as_str(),
            n["attempts"].as_u64(),
            n["exit_code"].as_i64()
        ),
        (Some("failure"), Some(2), Some(7))
    );
    // The user's tree is untouched: the counter lived in the job's private workspace.
    assert!(!p.path().join("count").exists());
}

#[test]
fn env_files_path_and_shells() {
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("tools")).unwrap();
    p.write("tools/hello-tool", "#!/bin/sh\necho tool-says-hi\n");
    std::process::Command::new("chmod")
        .args(["+x", "tools/hello-tool"])
        .current_dir(p.path())
        .status()
        .unwrap();
    p.write(
        "wf.yml",
        r#"
defaults:
  run:
    shell: sh
jobs:
  env:
    runs-on: host
    env:
      JOB_LEVEL: job
    steps:
      - run: |
          echo "FROM_STEP=one" >> "$GANTRY_ENV"
          { echo 'MULTI<<X'; echo a; echo b; echo X; } >> "$GITHUB_ENV"
          echo "$GITHUB_WORKSPACE/tools" >> "$GANTRY_PATH"
      - run: |
          echo "from=$FROM_STEP job=$JOB_LEVEL expr=${{ env.FROM_STEP }}"
          echo "$MULTI" | tr '\n' '+'
          echo
          hello-tool
      - shell: python
        run: |
          import os
          print("python sees", os.environ["FROM_STEP"])
      - shell: bash
        working-directory: tools
        run: echo "pwd=$(basename "$PWD")"
"#,
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let o = output(&events, "env");
    for want in [
        "from=one job=job expr=one",
        "a+b+",
        "tool-says-hi",
        "python sees one",
        "pwd=tools",
    ] {
        assert!(o.contains(want), "missing `{want}` in {o}");
    }
}

#[test]
fn job_timeout_stops_the_job_and_runs_always_steps() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
jobs:
  slow:
    runs-on: host
    timeout-minutes: 0.02
    steps:
      - name: sleeper
        run: sleep 60
      - name: never
        run: echo never-ran
      - name: cleanup
        if: always()
        run: echo cleanup-ran
"#,
    );
    let (out, events) = p.run_json("wf.yml", &["--grace", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let j = job(&events, "slow");
    assert_eq!(j["conclusion"], "failure");
    assert!(j["error"].as_str().unwrap_or("").contains("timeout"), "{j}");
    let o = output(&events, "slow");
    assert!(o.contains("cleanup-ran") && !o.contains("never-ran"), "{o}");
}

#[test]
fn max_parallel_limits_matrix_instances() {
    let p = Project::new();
    let log = p.path().join("spans");
    p.write(
        "wf.yml",
        &format!(
            r#"
jobs:
  m:
    runs-on: host
    strategy:
      max-parallel: 1
      matrix:
        n: [1, 2, 3]
    steps:
      - run: |
          echo "start ${{{{ matrix.n }}}}" >> {log}
          sleep 0.3
          echo "end ${{{{ matrix.n }}}}" >> {log}
"#,
            log = log.display()
        ),
    );
    let (out, _) = p.run_json("wf.yml", &["--jobs", "4"]);
    assert!(out.status.success(), "{}", text(&out));
    let spans = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = spans.lines().collect();
    assert_eq!(lines.len(), 6, "{spans}");
    for pair in lines.chunks(2) {
        let (s, e) = (pair[0], pair[1]);
        assert!(
            s.starts_with("start") && e.starts_with("end") && s[6..] == e[4..],
            "instances overlapped:\n{spans}"
        );
    }
}

/// Every step starts with empty env, output, path and summary files, whether the steps
/// before it wrote to them or not (gantry skips truncating files it knows are empty).
#[test]
fn every_step_starts_with_empty_step_files() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
defaults:
  run:
    shell: sh
jobs:
  files:
    runs-on: host
    steps:
      - id: one
        run: |
          echo "a=1" >> "$GITHUB_OUTPUT"
          echo "summary one" >> "$GITHUB_STEP_SUMMARY"
      - id: two
        run: "true"
      - id: three
        run: |
          wc -c < "$GITHUB_OUTPUT" | sed 's/^/three-before=/'
          echo "b=2" >> "$GITHUB_OUTPUT"
      - id: four
        run: |
          cat "$GITHUB_OUTPUT" "$GITHUB_ENV" "$GITHUB_PATH" "$GITHUB_STEP_SUMMARY" | wc -c | sed 's/^ */four-sees=/'
          rm "$GITHUB_OUTPUT"
      - id: five
        run: test -f "$GITHUB_OUTPUT" && wc -c < "$GITHUB_OUTPUT" | sed 's/^ */five-sees=/'
      - run: |
          echo "one=${{ steps.one.outputs.a }}/${{ steps.one.outputs.b }}"
          echo "three=${{ steps.three.outputs.a }}/${{ steps.three.outputs.b }}"
"#,
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let o = output(&events, "files");
    for want in [
        "three-before=0",
        "four-sees=0",
        "five-sees=0",
        "one=1/",
        "three=/2",
    ] {
        assert!(o.contains(want), "missing `{want}` in {o}");
    }
}
