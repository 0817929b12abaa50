//! Problems found in a workflow, and how they are shown: rustc style, with the file,
//! line and column, the source line, carets under the place, and a hint.

use std::fmt::Write;

use crate::plan::Span;
use crate::source::SourceFile;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic {
    message: String,
    span: Span,
    label: Option<String>,
    help: Option<String>,
    severity: Severity,
    /// A position to show when the text is not available (a file that is not UTF-8).
    fallback: Option<(usize, usize)>,
}

impl miette::Diagnostic for Diagnostic {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = miette::LabeledSpan::new(self.label.clone(), self.span.offset, self.span.len);
        Some(Box::new(std::iter::once(span)))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            span,
            label: None,
            help: None,
            severity: Severity::Error,
            fallback: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub(crate) fn with_fallback_position(mut self, pos: (usize, usize)) -> Self {
        self.fallback = Some(pos);
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn span(&self) -> Span {
        self.span
    }

    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Renders every diagnostic (ordered by position), without ANSI codes unless `color`.
pub fn render(source: &SourceFile, diagnostics: &[Diagnostic], color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
    sorted.sort_by_key(|d| (d.span.offset, d.message.clone()));
    let mut out = String::new();
    for d in sorted {
        let (word, code) = match d.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        let _ = writeln!(out, "{}: {}", paint(code, word), paint("1", &d.message));
        let (line, col) = d.fallback.unwrap_or_else(|| source.location(d.span.offset));
        let text = if d.fallback.is_some() {
            ""
        } else {
            source.line_text(line)
        };
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(
            out,
            "{pad}{} {}:{line}:{col}",
            paint("1;34", "-->"),
            source.name
        );
        if !text.is_empty() || source.text.is_empty() {
            let _ = writeln!(out, "{pad} {}", paint("1;34", "|"));
            let shown: String = text
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .collect();
            let _ = writeln!(
                out,
                "{} {} {shown}",
                paint("1;34", &line.to_string()),
                paint("1;34", "|")
            );
            let line_chars = text.chars().count();
            let start = col.saturating_sub(1).min(line_chars);
            let span_chars = source
                .text
                .get(d.span.offset..(d.span.offset + d.span.len).min(source.text.len()))
                .map(|s| s.split('\n').next().unwrap_or("").chars().count())
                .unwrap_or(1);
            let width = span_chars.clamp(1, line_chars.saturating_sub(start).max(1));
            let carets = "^".repeat(width);
            let label = d
                .label
                .as_deref()
                .map(|l| format!(" {l}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{pad} {} {}{}",
                paint("1;34", "|"),
                " ".repeat(start),
                paint(code, &format!("{carets}{label}"))
            );
        }
        if let Some(h) = &d.help {
            let _ = writeln!(
                out,
                "{pad} {} {}: {h}",
                paint("1;34", "="),
                paint("1", "help")
            );
        }
        out.push('\n');
    }
    out
}
