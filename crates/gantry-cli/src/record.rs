//! Records a run as it happens: step logs streamed to files, runs/jobs/steps in the
//! ledger. Fed by the same events the renderers see, and first: a write that fails (a
//! full disk) fails the step whose output it lost and stops the run as a fault, and the
//! renderers are told before they show the step as passed.

use std::collections::{HashMap, HashSet};

use gantry_engine::{CancelLevel, CancelReason, CancelSignal, Conclusion, Event, Level};
use gantry_state::{JobRecord, JobStatus, Ledger, LogStore, LogWriter, StepRecord};

/// Writes one run's events to the ledger and log files.
pub(crate) struct Recorder {
    ledger: Ledger,
    logs: LogStore,
    run_id: String,
    writers: HashMap<String, LogWriter>,
    step_start: HashMap<(String, usize), u64>,
    jobs: HashMap<String, JobRecord>,
    steps: HashMap<(String, usize), StepRecord>,
    /// The step each job is running, to know whose output a failed write lost.
    current: HashMap<String, usize>,
    /// Steps whose output could not be recorded, with why.
    lost: HashMap<(String, usize), String>,
    /// Jobs whose log failed: nothing more is written to it.
    broken: HashMap<String, String>,
    /// Jobs with a step whose output was lost.
    failed_jobs: HashSet<String>,
    /// Stopped (as a fault) on the first failed write.
    cancel: CancelSignal,
    /// The first recording error: the run fails with it.
    pub error: Option<String>,
}

fn status(c: Conclusion) -> JobStatus {
    match c {
        Conclusion::Success => JobStatus::Success,
        Conclusion::Failure => JobStatus::Failure,
        Conclusion::Cancelled => JobStatus::Cancelled,
        Conclusion::Skipped => JobStatus::Skipped,
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl Recorder {
    pub(crate) fn new(
        ledger: Ledger,
        logs: LogStore,
        run_id: String,
        cancel: CancelSignal,
    ) -> Self {
        Recorder {
            ledger,
            logs,
            run_id,
            writers: HashMap::new(),
            step_start: HashMap::new(),
            jobs: HashMap::new(),
            steps: HashMap::new(),
            current: HashMap::new(),
            lost: HashMap::new(),
            broken: HashMap::new(),
            failed_jobs: HashSet::new(),
            cancel,
            error: None,
        }
    }

    /// Notes a failed write: the first one stops the run as a fault.
    fn note<E: std::fmt::Display>(&mut self, r: Result<(), E>) {
        if let Err(e) = r {
            self.fault(e.to_string());
        }
    }

    fn fault(&mut self, why: String) {
        if self.error.is_none() {
            self.error = Some(why.clone());
            self.cancel.raise(
                CancelLevel::Graceful,
                CancelReason::Fault(format!("recording the run failed: {why}")),
            );
        }
    }

    /// A job's log could not be written: the step running loses its output, the run stops.
    fn log_failed(&mut self, job: &str, why: String) {
        self.writers.remove(job);
        self.broken.insert(job.to_string(), why.clone());
        if let Some(step) = self.current.get(job) {
            self.lost
                .entry((job.to_string(), *step))
                .or_insert_with(|| why.clone());
        }
        self.fault(why);
    }

    /// Records `event`; may change it (a step whose log was lost failed) and returns
    /// messages to show before it.
    pub(crate) fn event(&mut self, event: &mut Event) -> Vec<Event> {
        let mut notices = Vec::new();
        // Whether the step's output reached the disk is known once its log is flushed.
        if let Event::StepFinished { job, .. } = event {
            let flushed = self.writers.get_mut(job.as_str()).map(LogWriter::flush);
            if let Some(Err(e)) = flushed {
                let job = job.clone();
                self.log_failed(&job, e.to_string());
            }
        }
        if let Event::StepFinished {
            job,
            step,
            outcome,
            conclusion,
            error,
            ..
        } = event
        {
            if let Some(why) = self.lost.remove(&(job.clone(), *step)) {
                if *conclusion != Conclusion::Failure {
                    let message = format!("its output could not be recorded: {why}");
                    notices.push(Event::Message {
                        job: job.clone(),
                        step: Some(*step),
                        level: Level::Error,
                        message: message.clone(),
                    });
                    *outcome = Conclusion::Failure;
                    *conclusion = Conclusion::Failure;
                    *error = Some(message);
                }
                self.failed_jobs.insert(job.clone());
            }
        }
        // The engine may have finished before it heard of the fault: what it reports as
        // passed after a lost log is a failure.
        match event {
            Event::JobFinished {
                job, conclusion, ..
            } if self.failed_jobs.contains(job.as_str()) => *conclusion = Conclusion::Failure,
            Event::RunFinished { conclusion, .. } if self.error.is_some() => {
                *conclusion = Conclusion::Failure
            }
            _ => {}
        }
        self.record(event);
        notices
    }

    fn record(&mut self, event: &Event) {
        match event {
            Event::JobStarted { job, name, backend } => {
                match self.logs.create(&self.run_id, job) {
                    Ok(w) => {
                        self.writers.insert(job.clone(), w);
                    }
                    Err(e) => self.log_failed(job, e.to_string()),
                }
                let rec = JobRecord {
                    key: job.clone(),
                    name: name.clone(),
                    status: JobStatus::Running,
                    backend: Some(backend.clone()),
                    started_at: Some(now()),
                    ..JobRecord::default()
                };
                let r = self.ledger.upsert_job(&self.run_id, &rec);
                self.note(r);
                self.jobs.insert(job.clone(), rec);
            }
            Event::StepStarted {
                job,
                step,
                name,
                attempt,
            } => {
                self.current.insert(job.clone(), *step);
                let offset = self.writers.get(job).map(LogWriter::offset).unwrap_or(0);
                if *attempt == 1 {
                    self.step_start.insert((job.clone(), *step), offset);
                }
                let rec = StepRecord {
                    index: *step,
                    name: name.clone(),
                    status: JobStatus::Running,
                    started_at: Some(now()),
                    attempts: *attempt,
                    log_path: Some(self.logs.path(&self.run_id, job).display().to_string()),
                    log_offset: self.step_start.get(&(job.clone(), *step)).copied(),
                    ..StepRecord::default()
                };
                let r = self.ledger.upsert_step(&self.run_id, job, &rec);
                self.note(r);
                self.steps.insert((job.clone(), *step), rec);
            }
            Event::Output {
                job, step, data, ..
            } => {
                if let Some(why) = self.broken.get(job) {
                    let why = why.clone();
                    self.lost.entry((job.clone(), *step)).or_insert(why);
                } else if let Some(w) = self.writers.get_mut(job) {
                    if let Err(e) = w.write(data) {
                        self.current.insert(job.clone(), *step);
                        self.log_failed(job, e.to_string());
                    }
                }
            }
            Event::Message {
                job,
                step: Some(_),
                message,
                ..
            } => {
                if let Some(w) = self.writers.get_mut(job) {
                    if let Err(e) = w.write(format!("gantry: {message}\n").as_bytes()) {
                        self.log_failed(job, e.to_string());
                    }
                }
            }
            Event::StepFinished {
                job,
                step,
                step_id,
                name,
                outcome,
                conclusion,
                exit_code,
                attempts,
                outputs,
                ..
            } => {
                let flushed = self.writers.get_mut(job).map(|w| (w.flush(), w.offset()));
                let end = match flushed {
                    Some((Ok(()), offset)) => Some(offset),
                    Some((Err(e), _)) => {
                        self.log_failed(job, e.to_string());
                        None
                    }
                    None => None,
                };
                let start = self.step_start.remove(&(job.clone(), *step));
                let mut rec = self.steps.remove(&(job.clone(), *step)).unwrap_or_default();
                rec.index = *step;
                rec.id = step_id.clone();
                rec.name = name.clone();
                rec.status = status(*conclusion);
                rec.outcome = Some(outcome.as_str().to_string());
                rec.exit_code = *exit_code;
                rec.attempts = *attempts;
                rec.finished_at = Some(now());
                rec.outputs = outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if let (Some(start), Some(end)) = (start, end) {
                    rec.log_offset = Some(start);
                    rec.log_len = Some(end.saturating_sub(start));
                }
                let r = self.ledger.upsert_step(&self.run_id, job, &rec);
                self.note(r);
            }
            Event::JobFinished {
                job,
                name,
                conclusion,
                outputs,
                error,
                ..
            } => {
                let mut rec = self.jobs.remove(job).unwrap_or_else(|| JobRecord {
                    key: job.clone(),
                    name: name.clone(),
                    ..JobRecord::default()
                });
                rec.status = status(*conclusion);
                rec.finished_at = Some(now());
                rec.outputs = outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                rec.error = error.clone();
                let r = self.ledger.upsert_job(&self.run_id, &rec);
                self.note(r);
            }
            _ => {}
        }
    }
}
