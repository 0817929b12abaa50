#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The scheduler's semantics on the scripted in-memory backend: needs, `if`, fail-fast,
//! retries, timeouts, cancel, continue-on-error, matrix and outputs, each in milliseconds.

use std::sync::Arc;
use std::time::Duration;

use gantry_backend::WorkspaceSource;
use gantry_engine::{
    Builtins, CancelLevel, CancelReason, CancelSignal, Conclusion, Engine, Event, RunConfig,
    RunOutcome,
};
use gantry_testkit::{JournalEntry, ScriptedBackend};

struct Ran {
    outcome: RunOutcome,
    events: Vec<Event>,
    backend: ScriptedBackend,
}

impl Ran {
    fn job(&self, key: &str) -> Conclusion {
        self.outcome.jobs[key].conclusion
    }

    /// `(name, conclusion)` of every finished step of `job`, in order.
    fn steps(&self, job: &str) -> Vec<(String, Conclusion)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::StepFinished {
                    job: j,
                    name,
                    conclusion,
                    ..
                } if j == job => Some((name.clone(), *conclusion)),
                _ => None,
            })
            .collect()
    }

    fn step(&self, job: &str, name: &str) -> Conclusion {
        self.steps(job)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .unwrap_or_else(|| panic!("no step `{name}` in `{job}`: {:?}", self.steps(job)))
    }

    fn output(&self, job: &str) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Output { job: j, data, .. } if j == job => {
                    Some(String::from_utf8_lossy(data).into_owned())
                }
                _ => None,
            })
            .collect()
    }
}

async fn run_with(yaml: &str, during: impl FnOnce(CancelSignal) + Send + 'static) -> Ran {
    let source = gantry_workflow::SourceFile::new("wf.yml", yaml);
    let plan = gantry_workflow::load(&source).unwrap_or_else(|d| panic!("invalid: {d:?}"));
    let backend = ScriptedBackend::new();
    let engine = Engine::new(Arc::new(backend.registry()), Builtins::default());
    let config = RunConfig {
        run_id: "01TESTRUN".into(),
        workspace: WorkspaceSource::new("/nowhere", false),
        max_jobs: 4,
        grace: Duration::from_millis(200),
        secrets: Default::default(),
        vars: Default::default(),
        inputs: Default::default(),
        github: Default::default(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        events
    });
    let cancel = CancelSignal::new();
    during(cancel.clone());
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        engine.run(plan, config, tx, cancel),
    )
    .await
    .expect("the run ended");
    let events = collector.await.unwrap();
    Ran {
        outcome,
        events,
        backend,
    }
}

async fn run(yaml: &str) -> Ran {
    run_with(yaml, |_| {}).await
}

#[tokio::test]
async fn a_job_whose_need_failed_is_skipped_unless_its_if_says_always() {
    let r = run(r#"
jobs:
  build:
    runs-on: scripted
    steps:
      - run: exit 3
  test:
    needs: build
    runs-on: scripted
    steps:
      - run: echo never
  report:
    needs: [build, test]
    if: always()
    runs-on: scripted
    steps:
      - run: echo reported
"#)
    .await;
    assert_eq!(r.job("build"), Conclusion::Failure);
    assert_eq!(r.job("test"), Conclusion::Skipped);
    assert_eq!(r.job("report"), Conclusion::Success);
    assert!(r.output("report").contains("reported"));
    assert!(
        r.backend.scripts("test").is_empty(),
        "a skipped job runs nothing"
    );
    assert_eq!(r.outcome.conclusion, Conclusion::Failure);
}

#[tokio::test]
async fn step_conditions_see_earlier_failures_and_continue_on_error_hides_them() {
    let r = run(r#"
jobs:
  j:
    runs-on: scripted
    steps:
      - name: tolerated
        run: exit 1
        continue-on-error: true
      - name: after tolerated
        run: echo still-success
      - name: breaks
        run: exit 2
      - name: skipped after failure
        run: echo no
      - name: on failure
        if: failure()
        run: echo handled
      - name: always
        if: always()
        run: echo always
"#)
    .await;
    let steps = r.steps("j");
    assert_eq!(
        steps,
        vec![
            ("tolerated".to_string(), Conclusion::Success),
            ("after tolerated".to_string(), Conclusion::Success),
            ("breaks".to_string(), Conclusion::Failure),
            ("skipped after failure".to_string(), Conclusion::Skipped),
            ("on failure".to_string(), Conclusion::Success),
            ("always".to_string(), Conclusion::Success),
        ]
    );
    assert_eq!(r.job("j"), Conclusion::Failure);
}

#[tokio::test]
async fn a_job_with_continue_on_error_does_not_fail_the_run_or_its_dependents() {
    let r = run(r#"
jobs:
  flaky:
    runs-on: scripted
    continue-on-error: true
    steps:
      - run: exit 1
  next:
    needs: flaky
    runs-on: scripted
    steps:
      - run: echo ran
"#)
    .await;
    assert_eq!(r.job("flaky"), Conclusion::Failure);
    assert_eq!(r.job("next"), Conclusion::Success);
    assert_eq!(r.outcome.conclusion, Conclusion::Success);
}

#[tokio::test]
async fn retries_run_a_failing_step_again_until_it_passes() {
    let r = run(r#"
jobs:
  j:
    runs-on: scripted
    steps:
      - name: flaky
        run: fail-until 3 flaky
        retry: {attempts: 3, delay-seconds: 0}
      - name: hopeless
        run: fail-until 9 hopeless
        retry: {attempts: 2, delay-seconds: 0}
"#)
    .await;
    assert_eq!(r.step("j", "flaky"), Conclusion::Success);
    assert_eq!(r.step("j", "hopeless"), Conclusion::Failure);
    let attempts: Vec<u32> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished { attempts, .. } => Some(*attempts),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, vec![3, 2]);
}

#[tokio::test]
async fn a_step_timeout_stops_it_and_always_steps_still_run() {
    let r = run(r#"
jobs:
  j:
    runs-on: scripted
    steps:
      - name: hangs
        run: hang
        timeout-minutes: 0.002
      - name: cleanup
        if: always()
        run: echo cleaned
"#)
    .await;
    assert_eq!(r.step("j", "hangs"), Conclusion::Failure);
    assert_eq!(r.step("j", "cleanup"), Conclusion::Success);
    assert!(r.output("j").contains("cleaned"));
}

#[tokio::test]
async fn a_job_timeout_fails_the_job_and_a_step_ignoring_terminate_is_killed() {
    let r = run(r#"
jobs:
  j:
    runs-on: scripted
    timeout-minutes: 0.002
    steps:
      - name: stubborn
        run: hang-hard
  other:
    runs-on: scripted
    steps:
      - run: echo fine
"#)
    .await;
    assert_eq!(r.job("j"), Conclusion::Failure);
    assert!(r.outcome.jobs["j"]
        .error
        .as_deref()
        .unwrap_or("")
        .contains("timeout"));
    assert_eq!(r.job("other"), Conclusion::Success);
}

#[tokio::test]
async fn fail_fast_cancels_the_other_matrix_instances_and_off_it_does_not() {
    let yaml = |fail_fast: bool| {
        format!(
            r#"
jobs:
  m:
    runs-on: scripted
    strategy:
      fail-fast: {fail_fast}
      matrix:
        n: [bad, slow]
    steps:
      - run: |
          echo ${{{{ matrix.n }}}}
          ${{{{ matrix.n == 'bad' && 'exit 1' || 'sleep 0.5' }}}}
"#
        )
    };
    let r = run(&yaml(true)).await;
    assert_eq!(r.job("m (bad)"), Conclusion::Failure);
    assert_eq!(r.job("m (slow)"), Conclusion::Cancelled);
    let r = run(&yaml(false)).await;
    assert_eq!(r.job("m (bad)"), Conclusion::Failure);
    assert_eq!(r.job("m (slow)"), Conclusion::Success);
}

#[tokio::test]
async fn a_matrix_expands_and_job_outputs_reach_dependents() {
    let r = run(r#"
jobs:
  m:
    runs-on: scripted
    strategy:
      matrix:
        os: [a, b]
        v: [1, 2]
    steps:
      - run: echo ${{ matrix.os }}-${{ matrix.v }}
  producer:
    runs-on: scripted
    outputs:
      version: ${{ steps.set.outputs.version }}
    steps:
      - id: set
        run: output version=1.2.3
  consumer:
    needs: producer
    runs-on: scripted
    steps:
      - run: echo got ${{ needs.producer.outputs.version }}
"#)
    .await;
    let keys: Vec<&String> = r
        .outcome
        .jobs
        .keys()
        .filter(|k| k.starts_with("m ("))
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for k in keys {
        assert_eq!(r.job(k), Conclusion::Success);
    }
    assert!(
        r.output("consumer").contains("got 1.2.3"),
        "{}",
        r.output("consumer")
    );
}

#[tokio::test]
async fn a_cancel_stops_running_steps_runs_always_steps_and_removes_every_environment() {
    let r = run_with(
        r#"
jobs:
  j:
    runs-on: scripted
    steps:
      - name: long
        run: hang
      - name: never
        run: echo never
      - name: cleanup
        if: always()
        run: echo cleaned
"#,
        |cancel| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                cancel.raise(CancelLevel::Graceful, CancelReason::Interrupted);
            });
        },
    )
    .await;
    assert_eq!(r.outcome.conclusion, Conclusion::Cancelled);
    assert_eq!(r.step("j", "long"), Conclusion::Cancelled);
    assert_eq!(r.step("j", "never"), Conclusion::Skipped);
    assert_eq!(r.step("j", "cleanup"), Conclusion::Success);
    let journal = r.backend.journal();
    assert_eq!(journal.first(), Some(&JournalEntry::Created("j".into())));
    assert_eq!(journal.last(), Some(&JournalEntry::Removed("j".into())));
}

#[tokio::test]
async fn a_fault_fails_the_run_instead_of_cancelling_it_and_always_steps_run() {
    let r = run_with(
        r#"
jobs:
  j:
    runs-on: scripted
    steps:
      - name: long
        run: hang
      - name: cleanup
        if: always()
        run: echo cleaned
"#,
        |cancel| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                cancel.raise(
                    CancelLevel::Graceful,
                    CancelReason::Fault("the disk is full".into()),
                );
            });
        },
    )
    .await;
    assert_eq!(r.outcome.conclusion, Conclusion::Failure);
    assert_eq!(r.step("j", "long"), Conclusion::Failure);
    assert_eq!(r.step("j", "cleanup"), Conclusion::Success);
    assert_eq!(r.job("j"), Conclusion::Failure);
}

#[tokio::test]
async fn a_huge_timeout_from_an_expression_is_a_step_error_not_a_panic() {
    let r = run(r#"
jobs:
  j:
    runs-on: scripted
    steps:
      - name: huge
        run: echo no
        timeout-minutes: ${{ fromJSON('1e308') }}
      - name: after
        if: always()
        run: echo after
"#)
    .await;
    assert_eq!(r.step("j", "huge"), Conclusion::Failure);
    assert_eq!(r.step("j", "after"), Conclusion::Success);
}
