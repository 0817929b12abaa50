//! Live progress on a terminal: a line per running job showing its current step and
//! elapsed time, with step output and results printed above the bars.

use std::collections::HashMap;
use std::time::Duration;

use gantry_engine::{Conclusion, Event, Level};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::lines::mark;
use super::{
    format_ms, level_tag, run_result, step_result, stream_bar, LineSplitter, Renderer, Style,
};

pub(crate) struct ProgressRenderer {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    lines: LineSplitter,
    style: Style,
    quiet: bool,
}

impl ProgressRenderer {
    pub(crate) fn new(style: Style, quiet: bool) -> Self {
        ProgressRenderer {
            multi: MultiProgress::new(),
            bars: HashMap::new(),
            lines: LineSplitter::default(),
            style,
            quiet,
        }
    }

    fn println(&self, line: String) {
        let _ = self.multi.println(line);
    }

    fn bar(&mut self, job: &str) -> &ProgressBar {
        let multi = &self.multi;
        self.bars.entry(job.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            let template = if cfg!(test) {
                "{prefix} {msg}"
            } else {
                "{spinner} {prefix:.bold} {wide_msg} {elapsed:>5}"
            };
            if let Ok(st) = ProgressStyle::with_template(template) {
                bar.set_style(st);
            }
            bar.set_prefix(job.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
    }
}

impl Renderer for ProgressRenderer {
    fn event(&mut self, event: &Event) {
        let s = self.style;
        match event {
            Event::RunStarted {
                workflow, run_id, ..
            } => {
                self.println(format!(
                    "{} {workflow} {}",
                    s.bold("▶"),
                    s.dim(&format!("run {run_id}"))
                ));
            }
            Event::JobStarted { job, backend, .. } => {
                let bar = self.bar(job);
                bar.set_message(format!("starting on {backend}"));
            }
            Event::StepStarted { job, name, .. } => {
                let bar = self.bar(job);
                bar.set_message(name.clone());
            }
            Event::Output {
                job,
                step,
                stream,
                data,
            } if !self.quiet => {
                let mut out = Vec::new();
                self.lines
                    .feed(job, *step, *stream, data, |l| out.push(l.to_string()));
                for l in out {
                    let bar = stream_bar(&s, *stream);
                    self.println(format!("{} {bar} {l}", s.dim(&format!("[{job}]"))));
                }
            }
            Event::Message {
                job,
                level,
                message,
                ..
            } => {
                if self.quiet && *level != Level::Error {
                    return;
                }
                let tag = level_tag(&s, *level);
                self.println(format!("{} {tag} {message}", s.dim(&format!("[{job}]"))));
            }
            Event::StepFinished {
                job,
                step,
                name,
                outcome,
                conclusion,
                duration_ms,
                ..
            } => {
                let mut rest = Vec::new();
                self.lines
                    .flush_step(job, *step, |_, l| rest.push(l.to_string()));
                if self.quiet || *conclusion == Conclusion::Skipped {
                    return;
                }
                for l in rest {
                    self.println(format!("{} {} {l}", s.dim(&format!("[{job}]")), s.dim("|")));
                }
                self.println(format!(
                    "{} {}",
                    s.dim(&format!("[{job}]")),
                    step_result(&s, name, *outcome, *conclusion, *duration_ms)
                ));
            }
            Event::JobFinished {
                job,
                conclusion,
                duration_ms,
                ..
            } => {
                if let Some(bar) = self.bars.remove(job) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                self.println(format!(
                    "{} {} job {conclusion} {}",
                    mark(&s, *conclusion),
                    s.bold(job),
                    s.dim(&format_ms(*duration_ms))
                ));
            }
            Event::RunFinished {
                run_id,
                conclusion,
                duration_ms,
            } => {
                self.println(run_result(&s, run_id, *conclusion, *duration_ms));
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        for (_, bar) in self.bars.drain() {
            bar.finish_and_clear();
        }
    }
}
