//! Records a run as it happens: step logs streamed to files, runs/jobs/steps in the
//! ledger. Fed by the same events the renderers see.

use std::collections::HashMap;

use gantry_engine::{Conclusion, Event};
use gantry_state::{JobRecord, JobStatus, Ledger, LogStore, LogWriter, StepRecord};

/// Writes one run's events to the ledger and log files.
pub struct Recorder {
    ledger: Ledger,
    logs: LogStore,
    run_id: String,
    writers: HashMap<(String, usize), LogWriter>,
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
    pub fn new(ledger: Ledger, logs: LogStore, run_id: String) -> Self {
        Recorder {
            ledger,
            logs,
            run_id,
            writers: HashMap::new(),
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

    pub fn event(&mut self, event: &Event) {
        match event {
            Event::JobStarted { job, name, backend } => {
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
                if *attempt == 1 {
                    match self.logs.create(&self.run_id, job, *step) {
                        Ok(w) => {
                            self.writers.insert((job.clone(), *step), w);
                        }
                        Err(e) => self.note::<String>(Err(e.to_string())),
                    }
                }
                let rec = StepRecord {
                    index: *step,
                    name: name.clone(),
                    status: JobStatus::Running,
                    started_at: Some(now()),
                    attempts: *attempt,
                    log_path: Some(
                        self.logs
                            .path(&self.run_id, job, *step)
                            .display()
                            .to_string(),
                    ),
                    ..StepRecord::default()
                };
                let r = self.ledger.upsert_step(&self.run_id, job, &rec);
                self.note(r);
                self.steps.insert((job.clone(), *step), rec);
            }
            Event::Output {
                job, step, data, ..
            } => {
                if let Some(w) = self.writers.get_mut(&(job.clone(), *step)) {
                    let r = w.write(data);
                    self.note(r);
                }
            }
            Event::Message {
                job,
                step: Some(step),
                message,
                ..
            } => {
                if let Some(w) = self.writers.get_mut(&(job.clone(), *step)) {
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
                if let Some(w) = self.writers.remove(&(job.clone(), *step)) {
                    let r = w.finish().map(|_| ());
                    self.note(r);
                }
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
