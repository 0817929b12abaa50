//! The workflow file's text and positions in it.

use std::path::Path;

use crate::diagnostic::Diagnostic;
use crate::plan::Span;

/// A workflow file: the name the user gave it and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Reads `path`; unreadable files and invalid UTF-8 become a diagnostic.
    pub fn read(path: &Path) -> Result<SourceFile, Diagnostic> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            Diagnostic::error(Span::default(), format!("cannot read {name}: {e}"))
                .with_help("check the path and its permissions")
        })?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile { name, text }),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                Err(Diagnostic::error(
                    Span { offset: at, len: 1 },
                    format!("{name} is not UTF-8 text (invalid byte at offset {at})"),
                )
                .with_help("workflow files are YAML text; is this the right file?")
                .with_fallback_position(line_col_of_bytes(e.as_bytes(), at)))
            }
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn location(&self, offset: usize) -> (usize, usize) {
        line_col_of_bytes(self.text.as_bytes(), offset.min(self.text.len()))
    }

    /// The text of the 1-based line `line`, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        self.text
            .split('\n')
            .nth(line.saturating_sub(1))
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .unwrap_or("")
    }

    /// Byte offset where the 1-based line `line` starts.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        if line <= 1 {
            return Some(0);
        }
        self.text
            .match_indices('\n')
            .nth(line - 2)
            .map(|(i, _)| i + 1)
    }
}

fn line_col_of_bytes(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|p| p + 1)
        .unwrap_or(0);
    let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, col)
}
