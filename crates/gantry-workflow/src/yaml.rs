//! YAML with byte spans: yaml-rust2's events read into a small tree whose scalars
//! know where their text sits in the file, so an error inside an expression can point at
//! the exact token.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use crate::diagnostic::Diagnostic;
use crate::plan::Span;
use crate::source::{excerpt, SourceFile};

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` or `>` block, or a plain/quoted scalar spanning lines.
    MultiLine,
}

/// A scalar and its place.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub text: String,
    pub span: Span,
    pub style: Style,
    /// 1-based line of the first character.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum YNode {
    Scalar(Scalar),
    Map(Vec<(Scalar, YNode)>, Span),
    Seq(Vec<YNode>, Span),
}

impl YNode {
    pub(crate) fn span(&self) -> Span {
        match self {
            YNode::Scalar(s) => s.span,
            YNode::Map(_, s) | YNode::Seq(_, s) => *s,
        }
    }

    /// What kind of node this is, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            YNode::Scalar(_) => "a string",
            YNode::Map(..) => "a mapping",
            YNode::Seq(..) => "a list",
        }
    }
}

impl Scalar {
    /// A plain `~`, `null` or nothing at all: YAML's null.
    pub(crate) fn is_null(&self) -> bool {
        self.style == Style::Plain
            && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }

    /// The byte offset in `src` of byte `at` of this scalar's text (best effort: the
    /// scalar's start when escapes or folding make the exact place unknowable).
    pub(crate) fn source_offset(&self, src: &SourceFile, at: usize) -> usize {
        let at = at.min(self.text.len());
        let want: String = self.text[at..]
            .chars()
            .take_while(|c| *c != '\n')
            .take(12)
            .collect();
        let matches = |off: usize| {
            !want.is_empty() && src.text().get(off..).is_some_and(|s| s.starts_with(&want))
        };
        let candidate = match self.style {
            Style::Plain => Some(self.span.offset + at),
            Style::SingleQuoted | Style::DoubleQuoted => Some(self.span.offset + 1 + at),
            Style::MultiLine => {
                let before = &self.text[..at];
                let k = before.matches('\n').count();
                let col = at - before.rfind('\n').map(|p| p + 1).unwrap_or(0);
                let first_line_start = src.line_start(self.line).unwrap_or(0);
                let indent = self.span.offset.saturating_sub(first_line_start);
                src.line_start(self.line + k).map(|s| s + indent + col)
            }
        };
        if let Some(c) = candidate.filter(|c| matches(*c)) {
            return c;
        }
        // Escapes or folding moved things: find the text after the scalar's start.
        if !want.is_empty() {
            if let Some(rest) = src.text().get(self.span.offset..) {
                if let Some(pos) = rest.find(&want) {
                    return self.span.offset + pos;
                }
            }
        }
        self.span.offset
    }

    /// A span inside this scalar, for an expression error at `at` of length `len`.
    pub(crate) fn inner_span(&self, src: &SourceFile, at: usize, len: usize) -> Span {
        Span {
            offset: self.source_offset(src, at),
            len: len.max(1),
        }
    }
}

/// How deep mappings and lists may nest. Workflows need about eight levels; the limit
/// keeps every walk over the tree (which recurses) far from the stack's end.
pub(crate) const MAX_NESTING: usize = 64;

/// Character index → byte offset, for markers: a checkpoint every [`Offsets::STRIDE`]
/// characters, then a short walk (a table of every character cost 8 bytes a character).
struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    checkpoints: Vec<usize>,
}

impl<'a> Offsets<'a> {
    const STRIDE: usize = 256;

    fn new(text: &'a str) -> Self {
        let ascii = text.is_ascii();
        let checkpoints = if ascii {
            Vec::new()
        } else {
            text.char_indices()
                .step_by(Self::STRIDE)
                .map(|(i, _)| i)
                .collect()
        };
        Offsets {
            text,
            ascii,
            checkpoints,
        }
    }

    fn byte(&self, m: &Marker) -> usize {
        let ch = m.index();
        if self.ascii {
            return ch.min(self.text.len());
        }
        let Some(&from) = self.checkpoints.get(ch / Self::STRIDE) else {
            return self.text.len();
        };
        self.text[from..]
            .char_indices()
            .nth(ch % Self::STRIDE)
            .map_or(self.text.len(), |(i, _)| from + i)
    }
}

/// A mapping or list being read.
enum Open {
    Map {
        entries: Vec<(Scalar, YNode)>,
        key: Option<Scalar>,
        /// Keys seen so far, with the line of each.
        seen: HashMap<String, usize>,
        span: Span,
    },
    Seq(Vec<YNode>, Span),
}

/// Parses `src` into a tree, or the one problem that stops parsing.
pub(crate) fn parse(src: &SourceFile) -> Result<YNode, Diagnostic> {
    if src.text().trim().is_empty() {
        return Err(Diagnostic::error(Span::default(), "the workflow file is empty")
            .with_help("a workflow needs at least `jobs:` with one job, e.g. `jobs: {build: {runs-on: host, steps: [{run: make}]}}`"));
    }
    if let Some(d) = control_character(src) {
        return Err(d);
    }
    // The YAML parser has `unreachable!`s and `unwrap`s; never let input crash us.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load(src)));
    parsed.unwrap_or_else(|_| {
        Err(
            Diagnostic::error(Span::default(), "the YAML parser could not read this file")
                .with_help("check the file's YAML syntax"),
        )
    })
}

/// The first character YAML does not allow in a file (NUL, other control characters),
/// as a located diagnostic. The YAML parser would read a NUL as the end of the file.
fn control_character(src: &SourceFile) -> Option<Diagnostic> {
    let (offset, c) = src.text().char_indices().find(|(_, c)| {
        let u = u32::from(*c);
        (u < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
            || u == 0x7f
            || ((0x80..=0x9f).contains(&u) && u != 0x85)
            || matches!(u, 0xfffe | 0xffff)
    })?;
    let what = if c == '\0' {
        "a NUL byte (U+0000)".to_string()
    } else {
        format!("a control character (U+{:04X})", u32::from(c))
    };
    Some(
        Diagnostic::error(
            Span {
                offset,
                len: c.len_utf8(),
            },
            format!("the file contains {what}, which YAML does not allow"),
        )
        .with_label("here")
        .with_help(format!(
            "workflow files are text: remove it, or write it as an escape (`\"\\x{:02x}\"`) inside a double-quoted string",
            u32::from(c)
        )),
    )
}

fn load(src: &SourceFile) -> Result<YNode, Diagnostic> {
    let offsets = Offsets::new(src.text());
    let mut parser = Parser::new_from_str(src.text());
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<YNode> = None;
    let mut documents = 0;
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| scan_error(src, &offsets, &e))?;
        let here = at(src, &offsets, &mark);
        let node = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(Diagnostic::error(
                        here,
                        "the file holds a second YAML document; a workflow is one document",
                    )
                    .with_label("second document starts here")
                    .with_help("move the second workflow to a file of its own, or remove this `---` and what follows"));
                }
                continue;
            }
            Event::Alias(_) => return Err(anchor(here)),
            Event::Scalar(text, style, anchor_id, tag) => {
                refuse_anchor_and_tag(here, anchor_id, tag.is_some())?;
                YNode::Scalar(scalar(src, &offsets, text, style, &mark))
            }
            Event::SequenceStart(anchor_id, ref tag) | Event::MappingStart(anchor_id, ref tag) => {
                refuse_anchor_and_tag(here, anchor_id, tag.is_some())?;
                if stack.len() >= MAX_NESTING {
                    return Err(Diagnostic::error(
                        here,
                        format!("the YAML nests deeper than {MAX_NESTING} levels"),
                    )
                    .with_label("too deep")
                    .with_help("a workflow needs only a few levels of mappings and lists; was this file generated by mistake?"));
                }
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Open::Map {
                        entries: Vec::new(),
                        key: None,
                        seen: HashMap::new(),
                        span: here,
                    }
                } else {
                    Open::Seq(Vec::new(), here)
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq(items, span)) => YNode::Seq(items, span),
                Some(Open::Map { entries, span, .. }) => {
                    // A block mapping's own marker sits on its first `:`; its first key
                    // reads better.
                    let span = entries.first().map(|(k, _)| k.span).unwrap_or(span);
                    YNode::Map(entries, span)
                }
                None => continue,
            },
        };
        attach(&mut stack, &mut root, node)?;
    }
    Ok(root.unwrap_or(YNode::Map(Vec::new(), Span::default())))
}
/// Puts a finished node where it belongs: the root, a key, a value or a list item.
fn attach(stack: &mut [Open], root: &mut Option<YNode>, node: YNode) -> Result<(), Diagnostic> {
    match stack.last_mut() {
        None => match node {
            YNode::Map(..) => *root = Some(node),
            other => {
                return Err(Diagnostic::error(
                    other.span(),
                    "the top level of a workflow must be a mapping",
                )
                .with_help("start with keys such as `name:`, `on:` and `jobs:`"))
            }
        },
        Some(Open::Seq(items, _)) => items.push(node),
        Some(Open::Map {
            entries, key, seen, ..
        }) => match key.take() {
            Some(k) => entries.push((k, node)),
            None => {
                let YNode::Scalar(k) = node else {
                    return Err(Diagnostic::error(
                        node.span(),
                        "mapping keys must be plain strings",
                    )
                    .with_help("quote the key"));
                };
                if let Some(first) = seen.get(&k.text) {
                    return Err(Diagnostic::error(
                        k.span,
                        format!(
                            "duplicate key `{}` (first defined on line {first})",
                            excerpt(&k.text)
                        ),
                    )
                    .with_help("each key may appear once in a mapping; remove or rename one"));
                }
                seen.insert(k.text.clone(), k.line);
                *key = Some(k);
            }
        },
    }
    Ok(())
}

fn anchor(here: Span) -> Diagnostic {
    Diagnostic::error(
        here,
        "YAML anchors and aliases are not supported in workflows",
    )
    .with_help("write the value out where it is used")
}

fn refuse_anchor_and_tag(here: Span, anchor_id: usize, tagged: bool) -> Result<(), Diagnostic> {
    if anchor_id != 0 {
        return Err(anchor(here));
    }
    if tagged {
        return Err(
            Diagnostic::error(here, "YAML tags (`!tag`) are not supported in workflows")
                .with_help("remove the tag"),
        );
    }
    Ok(())
}

/// The character at a marker (at least one byte, for the carets).
fn at(src: &SourceFile, offsets: &Offsets<'_>, m: &Marker) -> Span {
    let offset = offsets.byte(m);
    let len = src.text()[offset..]
        .chars()
        .next()
        .map(char::len_utf8)
        .unwrap_or(0)
        .max(1);
    Span { offset, len }
}

fn scan_error(src: &SourceFile, offsets: &Offsets<'_>, e: &ScanError) -> Diagnostic {
    let info = e.info();
    let help = if info.contains("tab") {
        "YAML indentation must use spaces, not tabs"
    } else {
        "check the indentation and quoting here; a value containing `: ` or starting with `{`, `[`, `*` or `&` needs quotes"
    };
    Diagnostic::error(
        at(src, offsets, e.marker()),
        format!("YAML syntax error: {info}"),
    )
    .with_help(help)
}

fn scalar(
    src: &SourceFile,
    offsets: &Offsets<'_>,
    text: String,
    written: TScalarStyle,
    mark: &Marker,
) -> Scalar {
    let offset = offsets.byte(mark);
    let multi_line = text.contains('\n');
    let style = match written {
        TScalarStyle::Literal | TScalarStyle::Folded => Style::MultiLine,
        _ if multi_line => Style::MultiLine,
        TScalarStyle::SingleQuoted => Style::SingleQuoted,
        TScalarStyle::DoubleQuoted => Style::DoubleQuoted,
        TScalarStyle::Plain => Style::Plain,
    };
    let len = match style {
        Style::Plain => text.len(),
        Style::SingleQuoted | Style::DoubleQuoted => text.len() + 2,
        Style::MultiLine => text.split('\n').next().map(str::len).unwrap_or(1),
    }
    .clamp(1, src.text().len().saturating_sub(offset).max(1));
    Scalar {
        text,
        span: Span { offset, len },
        style,
        line: mark.line(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_of(text: &str, key: &str) -> (SourceFile, Scalar) {
        let src = SourceFile::new("t.yml", text);
        let YNode::Map(entries, _) = parse(&src).unwrap() else {
            panic!()
        };
        let (_, v) = entries.into_iter().find(|(k, _)| k.text == key).unwrap();
        let YNode::Scalar(s) = v else { panic!() };
        (src, s)
    }

    #[test]
    fn offsets_inside_scalars() {
        for (text, key) in [
            ("a: echo ${{ x }}\n", "a"),
            ("a: 'echo ${{ x }}'\n", "a"),
            ("a: \"echo ${{ x }}\"\n", "a"),
            ("a: |\n  first\n  echo ${{ x }}\n", "a"),
        ] {
            let (src, s) = scalar_of(text, key);
            let at = s.text.find("${{").unwrap();
            let off = s.source_offset(&src, at);
            assert!(
                src.text()[off..].starts_with("${{ x }}"),
                "{text:?} -> {off}"
            );
        }
    }

    #[test]
    fn errors_not_panics() {
        for text in [
            "a: *x\n",
            "a: &x 1\nb: *x\n",
            "a:\n\t- b\n",
            "a: 1\na: 2\n",
            "- a\n",
            "a: [1\n",
            "",
            "  \n",
            "a: !!str x\n",
        ] {
            assert!(parse(&SourceFile::new("t", text)).is_err(), "{text:?}");
        }
    }
}
