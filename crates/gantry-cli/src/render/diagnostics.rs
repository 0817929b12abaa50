//! Workflow diagnostics as the user sees them, rendered by miette: the file, line and
//! column, the source line with the place underlined, and the hint.
//!
//! miette shows whole source lines; a 10 MB line must not be echoed, so each diagnostic
//! gets an [`Excerpt`]: the lines around its place, each cut to a window of
//! [`WINDOW`] characters around the column (`…` where cut), control characters made
//! visible. Line numbers and the column in the header stay those of the real file.

use std::fmt;

use gantry_workflow::{Diagnostic, Severity, SourceFile};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};

/// Characters of a source line shown at most.
const WINDOW: usize = 100;
/// How many of them come before the place.
const LEAD: usize = 30;
/// Diagnostics shown per file at most; the rest are counted.
const MAX_SHOWN: usize = 50;
/// Characters of a message shown at most (messages quote the user's text).
const MAX_MESSAGE: usize = 400;

/// Renders `diagnostics` (ordered by place), with ANSI colours when `color`.
pub(crate) fn render(source: &SourceFile, diagnostics: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    // Messages are not wrapped: they stay greppable, and they are cut to MAX_MESSAGE.
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_wrap_lines(false)
        .with_links(false)
        .with_context_lines(1);
    let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
    sorted.sort_by_key(|d| (d.span().offset, d.message().to_string()));
    let mut out = String::new();
    for d in sorted.iter().take(MAX_SHOWN) {
        let report = Report::new(source, d);
        if handler.render_report(&mut out, &report).is_err() {
            // miette could not lay it out: the plain facts still reach the user.
            let (line, col) = d.position(source);
            out.push_str(&format!(
                "error: {}\n  at {}:{line}:{col}\n",
                report.message,
                source.name()
            ));
        }
        out.push('\n');
    }
    if sorted.len() > MAX_SHOWN {
        out.push_str(&format!(
            "... and {} more problems not shown\n\n",
            sorted.len() - MAX_SHOWN
        ));
    }
    out
}

/// One diagnostic as miette wants it.
#[derive(Debug)]
struct Report {
    message: String,
    help: Option<String>,
    severity: Severity,
    label: Option<LabeledSpan>,
    excerpt: Option<Excerpt>,
}

impl Report {
    fn new(source: &SourceFile, d: &Diagnostic) -> Self {
        let (line, col) = d.position(source);
        let mut message = cut(d.message(), MAX_MESSAGE);
        if !d.has_source() {
            // No text to show (not UTF-8, too large): say where in words.
            message = format!("{message}\n  at {}:{line}:{col}", source.name());
        }
        let (label, excerpt) = if d.has_source() {
            let (excerpt, span) = Excerpt::new(source, d, line, col);
            let label = LabeledSpan::new_primary_with_span(d.label().map(str::to_string), span);
            (Some(label), Some(excerpt))
        } else {
            (None, None)
        };
        Report {
            message,
            help: d.help().map(|h| cut(h, MAX_MESSAGE)),
            severity: d.severity(),
            label,
            excerpt,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.excerpt.as_ref().map(|e| e as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.label
            .clone()
            .map(|l| Box::new(std::iter::once(l)) as Box<dyn Iterator<Item = LabeledSpan>>)
    }
}

/// The few lines around a place, each cut to a window, standing in for the file.
#[derive(Debug)]
struct Excerpt {
    name: String,
    text: String,
    /// 0-based line number in the file of the excerpt's first line.
    first_line: usize,
    /// 0-based line of the place within the excerpt.
    place_line: usize,
    /// The place's real 0-based column in characters.
    place_column: usize,
}

impl Excerpt {
    /// The excerpt for `d` at (`line`, `col`), 1-based, and the place's span in it.
    fn new(source: &SourceFile, d: &Diagnostic, line: usize, col: usize) -> (Excerpt, SourceSpan) {
        let col0 = col.saturating_sub(1);
        // Lines that fit are shown whole; a longer one from a little before the place.
        let start = if source.line_text(line).chars().count() <= WINDOW {
            0
        } else {
            col0.saturating_sub(LEAD)
        };
        let first = line.saturating_sub(1).max(1);
        let last = line + 1;
        let mut text = String::new();
        let mut place_line = 0;
        let mut span = SourceSpan::from((0, 0));
        for n in first..=last {
            if source.line_start(n).is_none() {
                break;
            }
            let real = source.line_text(n);
            if n > line && real.is_empty() {
                break;
            }
            if n > first {
                text.push('\n');
            }
            let (shown, prefix) = window(real, start);
            if n == line {
                place_line = n - first;
                // The place: from its column to its end on this line, within the window.
                let span_chars = source
                    .text()
                    .get(d.span().offset..(d.span().offset + d.span().len).min(source.text().len()))
                    .map_or(1, |s| s.split('\n').next().unwrap_or("").chars().count());
                let from = prefix
                    + col0
                        .saturating_sub(start)
                        .min(shown.chars().count() - prefix);
                let total = shown.chars().count();
                let to = (from + span_chars).min(total).max(from);
                let byte = |c: usize| shown.char_indices().nth(c).map_or(shown.len(), |(i, _)| i);
                let (a, b) = (byte(from), byte(to));
                span = SourceSpan::from((text.len() + a, b - a));
            }
            text.push_str(&shown);
        }
        (
            Excerpt {
                name: source.name().to_string(),
                text,
                first_line: first - 1,
                place_line,
                place_column: col0,
            },
            span,
        )
    }
}

/// `line` from character `start`, at most [`WINDOW`] characters, `…` where cut, control
/// characters shown as symbols. Also returns how many characters the leading `…` adds.
fn window(line: &str, start: usize) -> (String, usize) {
    let mut out = String::new();
    let prefix = if start > 0 { 1 } else { 0 };
    if start > 0 {
        out.push('…');
    }
    let mut chars = line.chars().skip(start);
    for c in chars.by_ref().take(WINDOW) {
        out.push(visible(c));
    }
    if chars.next().is_some() {
        out.push('…');
    }
    (out, prefix)
}

/// A character as it can be shown on one line: tabs as spaces, control characters as
/// their Unicode symbols (NUL as `␀`).
fn visible(c: char) -> char {
    match c {
        '\t' => ' ',
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)).unwrap_or('�'),
        '\u{7f}' => '␡',
        '\u{80}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => '�',
        c => c,
    }
}

/// `text` cut to `max` characters.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        // Lines count from the excerpt's place in the file; the column of the place (what
        // the header shows) is the real one, not the one in the cut line.
        let column = if inner.line() == self.place_line && before == 0 {
            self.place_column
        } else {
            inner.column()
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            column,
            inner.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_workflow::Span;

    #[test]
    fn a_long_line_is_cut_around_the_place_and_the_column_is_the_real_one() {
        let long = format!("jobs: {}x{}\n", "a".repeat(5000), "b".repeat(5000));
        let source = SourceFile::new("wf.yml", long);
        let d = Diagnostic::error(
            Span {
                offset: 5006,
                len: 1,
            },
            "here",
        );
        let out = render(&source, &[d], false);
        assert!(out.len() < 1000, "{out}");
        assert!(out.contains("wf.yml:1:5007"), "{out}");
        assert!(out.contains(&format!("…{}xbbb", "a".repeat(LEAD))), "{out}");
    }

    proptest::proptest! {
        /// Any text, any place, any length: rendering never panics, never echoes a long
        /// line, and names the file.
        #[test]
        fn rendering_never_panics_and_stays_short(
            text in "(\\PC|\n|\t|\u{0}){0,400}",
            offset in 0usize..500,
            len in 0usize..50,
            long in 0usize..3000,
        ) {
            let text = format!("{text}{}", "x".repeat(long));
            let source = SourceFile::new("wf.yml", text);
            let d = Diagnostic::error(Span { offset, len }, "message").with_label("label").with_help("help");
            let out = render(&source, &[d], false);
            proptest::prop_assert!(out.contains("wf.yml"), "{}", out);
            proptest::prop_assert!(out.len() < 4_000, "{}", out.len());
        }
    }
}
