//! The workflow file's text and positions in it.

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use crate::diagnostic::Diagnostic;
use crate::plan::Span;

/// The largest workflow file read: far above any real workflow, far below what would
/// exhaust memory. Reading stops at this size, so `/dev/zero` or a pipe that never ends
/// is refused instead of read until memory runs out.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A workflow file: the name the user gave it and its text (a leading UTF-8 byte order
/// mark removed, as editors do).
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: String,
    text: String,
    /// Byte offset of the start of every line, computed on first use.
    lines: OnceLock<Vec<usize>>,
}

impl PartialEq for SourceFile {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.text == other.text
    }
}

impl Eq for SourceFile {}

impl SourceFile {
    /// A source with the given name and text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let mut text = text.into();
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        SourceFile {
            name: name.into(),
            text,
            lines: OnceLock::new(),
        }
    }

    /// The name the file was given by (its path as written).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text of the file.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Reads `path`, at most [`MAX_FILE_BYTES`]; an unreadable or larger file and invalid
    /// UTF-8 become a diagnostic.
    pub fn read(path: &Path) -> Result<SourceFile, Diagnostic> {
        let name = path.display().to_string();
        let cannot = |e: std::io::Error| {
            Diagnostic::error(Span::default(), format!("cannot read {name}: {e}"))
                .with_help("check the path and its permissions")
        };
        let file = std::fs::File::open(path).map_err(cannot)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(Diagnostic::error(
                Span::default(),
                format!(
                    "{name} is larger than {} MiB; a workflow file is far smaller",
                    MAX_FILE_BYTES / (1024 * 1024)
                ),
            )
            .with_help("is this the right file? (a device such as /dev/zero, or a pipe that never ends, is read up to the limit)")
            .with_fallback_position((1, 1)));
        }
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(name, text)),
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

    fn line_starts(&self) -> &[usize] {
        self.lines.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn location(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let starts = self.line_starts();
        let line = starts.partition_point(|s| *s <= offset).max(1);
        let start = starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }

    /// The text of the 1-based line `line`, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let starts = self.line_starts();
        let Some(&start) = starts.get(line.saturating_sub(1)) else {
            return "";
        };
        let end = starts
            .get(line)
            .map_or(self.text.len(), |next| next.saturating_sub(1));
        let l = &self.text[start..end];
        l.strip_suffix('\r').unwrap_or(l)
    }

    /// Byte offset where the 1-based line `line` starts.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.line_starts().get(line.saturating_sub(1)).copied()
    }
}

/// The largest char boundary at or before `at`.
fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// `text` as quoted in a message: at most 60 characters, then `…`, so a 10 MB value is
/// never echoed whole.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
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
