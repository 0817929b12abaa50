//! The job DAG: starts jobs when their needs are done, within the concurrency limit and
//! each job's `max-parallel`, applies `fail-fast` across matrix instances, and gathers
//! results.
//!
//! ```text
//!   pending ──needs done & slot free──> running ──> done(outcome)
//!      │                                   │
//!      └──force-cancelled─────────────> done(cancelled)
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use gantry_workflow::{Plan, PlannedJob};
use indexmap::IndexMap;
use tokio::task::JoinSet;

use crate::cancel::{CancelLevel, CancelReason, CancelSignal};
use crate::context::NeedResult;
use crate::event::{Conclusion, Event};
use crate::job::{run_job, JobOutcome, RunShared};

/// The result of a whole run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// How the run ended.
    pub conclusion: Conclusion,
    /// Every job's outcome, by job key.
    pub jobs: IndexMap<String, JobOutcome>,
}

enum State {
    Pending,
    Running,
    Done(JobOutcome),
}

pub(crate) async fn schedule(
    shared: Arc<RunShared>,
    plan: Plan,
    max_jobs: usize,
    cancel: CancelSignal,
) -> RunOutcome {
    let started = Instant::now();
    let jobs: Vec<PlannedJob> = plan.jobs;
    let _ = shared
        .events
        .send(Event::RunStarted {
            run_id: shared.run_id.clone(),
            workflow: shared.masker.mask_str(&plan.name),
            jobs: jobs.iter().map(|j| j.key.clone()).collect(),
        })
        .await;

    let mut state: Vec<State> = jobs.iter().map(|_| State::Pending).collect();
    let mut instances: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, j) in jobs.iter().enumerate() {
        instances.entry(j.id.clone()).or_default().push(i);
    }
    let fail_fast: HashMap<String, CancelSignal> = instances
        .keys()
        .map(|id| (id.clone(), cancel.child()))
        .collect();
    let mut running_per_id: HashMap<String, usize> = HashMap::new();
    let mut running = 0usize;
    let mut set: JoinSet<(usize, JobOutcome)> = JoinSet::new();
    let mut cancel_rx = cancel.subscribe();
    let max_jobs = max_jobs.max(1);

    loop {
        // Start every job that can start.
        for i in 0..jobs.len() {
            if !matches!(state[i], State::Pending) || running >= max_jobs {
                continue;
            }
            let job = &jobs[i];
            let Some(needs) = needs_results(job, &jobs, &state, &instances) else {
                continue;
            };
            if cancel.level() == CancelLevel::Force {
                state[i] = State::Done(cancelled_outcome(&shared, job, &cancel).await);
                continue;
            }
            let limit = job.strategy.max_parallel.unwrap_or(usize::MAX).max(1);
            let per_id = running_per_id.entry(job.id.clone()).or_default();
            if *per_id >= limit {
                continue;
            }
            *per_id += 1;
            running += 1;
            state[i] = State::Running;
            let job_cancel = fail_fast
                .get(&job.id)
                .cloned()
                .unwrap_or_else(|| cancel.child());
            let shared = shared.clone();
            let job = job.clone();
            set.spawn(async move { (i, run_job(shared, job, needs, job_cancel).await) });
        }
        if set.is_empty() {
            break;
        }
        tokio::select! {
            joined = set.join_next() => {
                let Some(joined) = joined else { break };
                match joined {
                    Ok((i, outcome)) => {
                        running -= 1;
                        if let Some(n) = running_per_id.get_mut(&jobs[i].id) {
                            *n = n.saturating_sub(1);
                        }
                        if outcome.effective == Conclusion::Failure && jobs[i].strategy.fail_fast {
                            if let Some(sig) = fail_fast.get(&jobs[i].id) {
                                sig.raise(CancelLevel::Graceful, CancelReason::FailFast(jobs[i].key.clone()));
                            }
                        }
                        state[i] = State::Done(outcome);
                    }
                    Err(e) => {
                        // A job task panicked: its slot is lost; report and stop the run
                        // rather than guessing which job it was.
                        tracing::error!("a job task failed: {e}");
                        cancel.raise(
                            CancelLevel::Force,
                            CancelReason::Fault(format!("gantry failed running a job: {e}")),
                        );
                        running = running.saturating_sub(1);
                    }
                }
            }
            _ = cancel_rx.changed() => {}
        }
    }

    let mut results = IndexMap::new();
    for (i, s) in state.into_iter().enumerate() {
        let outcome = match s {
            State::Done(o) => o,
            _ => cancelled_outcome(&shared, &jobs[i], &cancel).await,
        };
        results.insert(jobs[i].key.clone(), outcome);
    }
    let conclusion = if cancel.reason().is_some_and(|r| r.is_failure()) {
        Conclusion::Failure
    } else if cancel.is_cancelled() {
        Conclusion::Cancelled
    } else if results
        .values()
        .any(|o| matches!(o.effective, Conclusion::Failure | Conclusion::Cancelled))
    {
        Conclusion::Failure
    } else {
        Conclusion::Success
    };
    let _ = shared
        .events
        .send(Event::RunFinished {
            run_id: shared.run_id.clone(),
            conclusion,
            duration_ms: started.elapsed().as_millis() as u64,
        })
        .await;
    RunOutcome {
        conclusion,
        jobs: results,
    }
}

/// The `needs` results of `job` once every instance of every needed job is done.
fn needs_results(
    job: &PlannedJob,
    jobs: &[PlannedJob],
    state: &[State],
    instances: &HashMap<String, Vec<usize>>,
) -> Option<IndexMap<String, NeedResult>> {
    let mut out = IndexMap::new();
    for need in &job.needs {
        let idx = instances.get(need).map(Vec::as_slice).unwrap_or(&[]);
        let mut result = Conclusion::Success;
        let mut all_skipped = !idx.is_empty();
        let mut outputs = IndexMap::new();
        for &i in idx {
            let State::Done(o) = &state[i] else {
                return None;
            };
            match o.effective {
                Conclusion::Failure => result = Conclusion::Failure,
                Conclusion::Cancelled if result != Conclusion::Failure => {
                    result = Conclusion::Cancelled
                }
                _ => {}
            }
            if o.effective != Conclusion::Skipped {
                all_skipped = false;
            }
            for (k, v) in &o.outputs {
                if !v.is_empty() || !outputs.contains_key(k) {
                    outputs.insert(k.clone(), v.clone());
                }
            }
        }
        if all_skipped {
            result = Conclusion::Skipped;
        }
        let _ = jobs;
        out.insert(need.clone(), NeedResult { result, outputs });
    }
    Some(out)
}

async fn cancelled_outcome(
    shared: &RunShared,
    job: &PlannedJob,
    cancel: &CancelSignal,
) -> JobOutcome {
    let error = cancel.reason().map(|r| r.to_string());
    let _ = shared
        .events
        .send(Event::JobFinished {
            job: job.key.clone(),
            name: shared.masker.mask_str(&job.name),
            conclusion: Conclusion::Cancelled,
            duration_ms: 0,
            outputs: IndexMap::new(),
            error: error.clone(),
        })
        .await;
    JobOutcome {
        conclusion: Conclusion::Cancelled,
        effective: Conclusion::Cancelled,
        outputs: IndexMap::new(),
        error,
    }
}
