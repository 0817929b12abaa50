//! Turning engine events into what the user sees: JSON lines (`--json`), live progress
//! on a terminal, or prefixed streaming lines when output is not a terminal.

pub(crate) mod diagnostics;
mod json;
mod lines;
mod progress;

use std::collections::HashMap;

use gantry_backend::Stream;
use gantry_engine::Event;

pub(crate) use json::JsonRenderer;
pub(crate) use lines::LineRenderer;
pub(crate) use progress::ProgressRenderer;

/// Something that shows events.
pub(crate) trait Renderer: Send {
    fn event(&mut self, event: &Event);
    /// Called once after the last event.
    fn finish(&mut self) {}
}

/// ANSI styling that turns itself off for NO_COLOR or a non-terminal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub color: bool,
}

impl Style {
    pub(crate) fn detect(is_tty: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: is_tty && !no_color,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub(crate) fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub(crate) fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    pub(crate) fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub(crate) fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    pub(crate) fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
}

/// Splits streamed chunks into whole lines per (job, step, stream), holding partial
/// lines back (bounded: very long lines are cut at 64 KiB).
#[derive(Default)]
pub(crate) struct LineSplitter {
    partial: HashMap<(String, usize, Stream), Vec<u8>>,
}

const MAX_LINE: usize = 64 * 1024;

impl LineSplitter {
    /// Feeds a chunk; calls `emit` with every completed line (without the newline).
    pub(crate) fn feed(
        &mut self,
        job: &str,
        step: usize,
        stream: Stream,
        data: &[u8],
        mut emit: impl FnMut(&str),
    ) {
        let buf = self
            .partial
            .entry((job.to_string(), step, stream))
            .or_default();
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            buf.extend_from_slice(&rest[..pos]);
            let line = String::from_utf8_lossy(buf);
            emit(line.trim_end_matches('\r'));
            buf.clear();
            rest = &rest[pos + 1..];
        }
        buf.extend_from_slice(rest);
        while buf.len() >= MAX_LINE {
            let line: Vec<u8> = buf.drain(..MAX_LINE).collect();
            emit(&String::from_utf8_lossy(&line));
        }
    }

    /// Emits what is left of a step's partial lines.
    pub(crate) fn flush_step(
        &mut self,
        job: &str,
        step: usize,
        mut emit: impl FnMut(Stream, &str),
    ) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            if let Some(buf) = self.partial.remove(&(job.to_string(), step, stream)) {
                if !buf.is_empty() {
                    emit(stream, &String::from_utf8_lossy(&buf));
                }
            }
        }
    }
}

/// The tag before an engine message.
pub(crate) fn level_tag(s: &Style, level: gantry_engine::Level) -> String {
    match level {
        gantry_engine::Level::Info => s.dim("·"),
        gantry_engine::Level::Warning => s.yellow("warning:"),
        gantry_engine::Level::Error => s.red("error:"),
    }
}

/// The bar before an output line: `|` for stdout, `!` for stderr.
pub(crate) fn stream_bar(s: &Style, stream: Stream) -> String {
    if stream == Stream::Stderr {
        s.dim("!")
    } else {
        s.dim("|")
    }
}

/// `✓ name 12ms`, noting a failure that continue-on-error turned into success.
pub(crate) fn step_result(
    s: &Style,
    name: &str,
    outcome: gantry_engine::Conclusion,
    conclusion: gantry_engine::Conclusion,
    ms: u64,
) -> String {
    let note = if outcome != conclusion {
        " (failure ignored: continue-on-error)"
    } else {
        ""
    };
    format!(
        "{} {name} {}{note}",
        lines::mark(s, outcome),
        s.dim(&format_ms(ms))
    )
}

/// The last line of a run.
pub(crate) fn run_result(
    s: &Style,
    run_id: &str,
    conclusion: gantry_engine::Conclusion,
    ms: u64,
) -> String {
    format!(
        "{} run {run_id} {conclusion} in {}",
        lines::mark(s, conclusion),
        format_ms(ms)
    )
}

/// `1.2s`, `2m 03s`.
pub(crate) fn format_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m {:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks() {
        let mut s = LineSplitter::default();
        let mut got = Vec::new();
        s.feed("j", 0, Stream::Stdout, b"ab", |l| got.push(l.to_string()));
        s.feed("j", 0, Stream::Stdout, b"c\nde\r\nf", |l| {
            got.push(l.to_string())
        });
        s.flush_step("j", 0, |_, l| got.push(l.to_string()));
        assert_eq!(got, vec!["abc", "de", "f"]);
    }

    #[test]
    fn durations() {
        assert_eq!(format_ms(12), "12ms");
        assert_eq!(format_ms(1500), "1.5s");
        assert_eq!(format_ms(123_000), "2m 03s");
    }
}
