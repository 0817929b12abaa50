//! Records a run as it happens: step logs streamed to files, runs/jobs/steps in the
//! ledger. Fed by the same events the renderers see.

use std::collections::HashMap;

use gantry_engine::{Conclusion, Event};
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
    /// The first recording error; reported once at the end, never stops the run.
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
    pub(crate) fn new(ledger: Ledger, logs: LogStore, run_id: String) -> Self {
        Recorder {
            ledger,
            logs,
            run_id,
            writers: HashMap::new(),
            step_start: HashMap::new(),
            jobs: HashMap::new(),
            steps: HashMap::new(),
            error: None,
        }
    }

    fn note<E: std::fmt::Display>(&mut self, r: Result<(), E>) {
        if let Err(e) = r {
            self.error.get_or_insert_with(|| e.to_string());
        }
    }

    pub(crate) fn event(&mut self, event: &Event) {
        match event {
            Event::JobStarted { job, name, backend } => {
                match self.logs.create(&self.run_id, job) {
                    Ok(w) => {
                        self.writers.insert(job.clone(), w);
                    }
                    Err(e) => self.note::<String>(Err(e.to_string())),
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
            Event::Output { job, data, .. } => {
                if let Some(w) = self.writers.get_mut(job) {
                    let r = w.write(data);
                    self.note(r);
                }
            }
            Event::Message {
                job,
                step: Some(_),
                message,
                ..
            } => {
                if let Some(w) = self.writers.get_mut(job) {
                    let r = w.write(format!("gantry: {message}\n").as_bytes());
                    self.note(r);
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
                    Some((r, offset)) => {
                        self.note(r);
                        Some(offset)
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
