//! Problems found in a workflow: a message, the place (a byte span, hence a line and
//! column), an optional label for the place and a hint. Showing them (source excerpt,
//! carets, colours) is the binary's job: the CLI renders them with miette.

use crate::plan::Span;
use crate::source::SourceFile;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The workflow cannot run.
    Error,
    /// Worth fixing; the workflow still runs.
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

impl Diagnostic {
    /// An error at `span`.
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

    /// Adds a hint saying what would fix it.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a short label shown at the place.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub(crate) fn with_fallback_position(mut self, pos: (usize, usize)) -> Self {
        self.fallback = Some(pos);
        self
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where, in bytes of the source text.
    pub fn span(&self) -> Span {
        self.span
    }

    /// What would fix it, when known.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// The label shown at the place, when there is one.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// How bad it is.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// 1-based line and column of the place in `source`.
    pub fn position(&self, source: &SourceFile) -> (usize, usize) {
        self.fallback
            .unwrap_or_else(|| source.location(self.span.offset))
    }

    /// False when the source text could not be read (not UTF-8, too large): then only
    /// [`Diagnostic::position`] is known, not the text around it.
    pub fn has_source(&self) -> bool {
        self.fallback.is_none()
    }

    /// True for errors (not warnings).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}
