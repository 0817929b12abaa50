//! Prefixed streaming lines (`[job] text`), for pipes, files and CI logs; also `--quiet`.

use std::io::Write;

use gantry_engine::{Conclusion, Event, Level};

use super::{
    format_ms, level_tag, run_result, step_result, stream_bar, LineSplitter, Renderer, Style,
};

pub(crate) struct LineRenderer {
    out: std::io::BufWriter<std::io::Stdout>,
    lines: LineSplitter,
    style: Style,
    quiet: bool,
}

impl LineRenderer {
    pub(crate) fn new(style: Style, quiet: bool) -> Self {
        LineRenderer {
            out: std::io::BufWriter::new(std::io::stdout()),
            lines: LineSplitter::default(),
            style,
            quiet,
        }
    }

    fn write(&mut self, line: String) {
        let _ = writeln!(self.out, "{line}");
    }
}

/// The mark and colour for a conclusion.
pub(super) fn mark(style: &Style, c: Conclusion) -> String {
    match c {
        Conclusion::Success => style.green("✓"),
        Conclusion::Failure => style.red("✗"),
        Conclusion::Cancelled => style.yellow("⊘"),
        Conclusion::Skipped => style.dim("-"),
    }
}

impl Renderer for LineRenderer {
    fn event(&mut self, event: &Event) {
        self.render(event);
        // Whole lines reach a pipe as they happen, not when a buffer fills.
        let _ = self.out.flush();
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}

impl LineRenderer {
    fn render(&mut self, event: &Event) {
        let s = self.style;
        match event {
            Event::RunStarted {
                run_id,
                workflow,
                jobs,
            } if !self.quiet => {
                self.write(format!(
                    "{} {workflow} (run {run_id}, {} job{})",
                    s.bold("▶"),
                    jobs.len(),
                    if jobs.len() == 1 { "" } else { "s" }
                ));
            }
            Event::JobStarted { job, backend, .. } if !self.quiet => {
                self.write(format!("[{job}] {} on {backend}", s.bold("▶ job")));
            }
            Event::StepStarted {
                job, name, attempt, ..
            } if !self.quiet => {
                let retry = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                self.write(format!("[{job}] {} {name}{retry}", s.bold("▶")));
            }
            Event::Output {
                job,
                step,
                stream,
                data,
            } if !self.quiet => {
                let prefix = format!("[{job}]");
                let mut out = Vec::new();
                self.lines
                    .feed(job, *step, *stream, data, |l| out.push(l.to_string()));
                for l in out {
                    let bar = stream_bar(&s, *stream);
                    self.write(format!("{prefix} {bar} {l}"));
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
                self.write(format!("[{job}] {tag} {message}"));
            }
            Event::StepFinished {
                job,
                step,
                name,
                conclusion,
                outcome,
                duration_ms,
                ..
            } => {
                let mut rest = Vec::new();
                self.lines
                    .flush_step(job, *step, |_, l| rest.push(l.to_string()));
                if self.quiet {
                    return;
                }
                for l in rest {
                    self.write(format!("[{job}] {} {l}", s.dim("|")));
                }
                if *conclusion == Conclusion::Skipped {
                    self.write(format!(
                        "[{job}] {} {name} (skipped)",
                        mark(&s, Conclusion::Skipped)
                    ));
                    return;
                }
                self.write(format!(
                    "[{job}] {}",
                    step_result(&s, name, *outcome, *conclusion, *duration_ms)
                ));
            }
            Event::JobFinished {
                job,
                conclusion,
                duration_ms,
                ..
            } => {
                self.write(format!(
                    "[{job}] {} job {conclusion} {}",
                    mark(&s, *conclusion),
                    s.dim(&format_ms(*duration_ms))
                ));
            }
            Event::RunFinished {
                run_id,
                conclusion,
                duration_ms,
            } => {
                self.write(run_result(&s, run_id, *conclusion, *duration_ms));
            }
            _ => {}
        }
    }
}
