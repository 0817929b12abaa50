//! YAML with byte spans: marked-yaml's nodes converted into a small tree whose scalars
//! know where their text sits in the file, so an error inside an expression can point at
//! the exact token.

use marked_yaml::{LoadError, LoaderOptions, Marker};

use crate::diagnostic::Diagnostic;
use crate::plan::Span;
use crate::source::SourceFile;

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
            !want.is_empty() && src.text.get(off..).is_some_and(|s| s.starts_with(&want))
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
            if let Some(rest) = src.text.get(self.span.offset..) {
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

/// Character index → byte offset, for markers.
struct Offsets {
    ascii: bool,
    bytes: Vec<usize>,
}

impl Offsets {
    fn new(text: &str) -> Self {
        if text.is_ascii() {
            Offsets {
                ascii: true,
                bytes: Vec::new(),
            }
        } else {
            let mut bytes: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            bytes.push(text.len());
            Offsets {
                ascii: false,
                bytes,
            }
        }
    }

    fn byte(&self, m: &Marker, len: usize) -> usize {
        let b = if self.ascii {
            m.character()
        } else {
            self.bytes.get(m.character()).copied().unwrap_or(len)
        };
        b.min(len)
    }
}

/// Parses `src` into a tree, or the one YAML error that stops parsing.
pub(crate) fn parse(src: &SourceFile) -> Result<YNode, Diagnostic> {
    if src.text.trim().is_empty() {
        return Err(Diagnostic::error(Span::default(), "the workflow file is empty")
            .with_help("a workflow needs at least `jobs:` with one job, e.g. `jobs: {build: {runs-on: host, steps: [{run: make}]}}`"));
    }
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    // marked-yaml has an `unreachable!` on one event kind; never let input crash us.
    let text = src.text.clone();
    let parsed =
        std::panic::catch_unwind(move || marked_yaml::parse_yaml_with_options(0, &text, options));
    let offsets = Offsets::new(&src.text);
    let node = match parsed {
        Ok(Ok(node)) => node,
        Ok(Err(e)) => return Err(load_error(src, &offsets, e)),
        Err(_) => {
            return Err(Diagnostic::error(
                Span::default(),
                "the YAML parser could not read this file",
            )
            .with_help("check the file's YAML syntax"))
        }
    };
    Ok(convert(src, &offsets, &node))
}

fn at(src: &SourceFile, offsets: &Offsets, m: &Marker) -> Span {
    let offset = offsets.byte(m, src.text.len());
    let len = src.text[offset..]
        .chars()
        .next()
        .map(char::len_utf8)
        .unwrap_or(0)
        .max(1);
    Span { offset, len }
}

fn load_error(src: &SourceFile, offsets: &Offsets, e: LoadError) -> Diagnostic {
    #[allow(deprecated)]
    match e {
        LoadError::ScanError(m, scan) => {
            let info = scan.to_string();
            let info = info.split(" at ").next().unwrap_or(&info).to_string();
            let help = if info.contains("tab") {
                "YAML indentation must use spaces, not tabs"
            } else {
                "check the indentation and quoting here; a value containing `: ` or starting with `{`, `[`, `*` or `&` needs quotes"
            };
            Diagnostic::error(at(src, offsets, &m), format!("YAML syntax error: {info}"))
                .with_help(help)
        }
        LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => {
            Diagnostic::error(
                at(src, offsets, &m),
                "the top level of a workflow must be a mapping",
            )
            .with_help("start with keys such as `name:`, `on:` and `jobs:`")
        }
        LoadError::UnexpectedAnchor(m) => Diagnostic::error(
            at(src, offsets, &m),
            "YAML anchors and aliases are not supported in workflows",
        )
        .with_help("write the value out where it is used"),
        LoadError::MappingKeyMustBeScalar(m) => {
            Diagnostic::error(at(src, offsets, &m), "mapping keys must be plain strings")
                .with_help("quote the key")
        }
        LoadError::UnexpectedTag(m) => Diagnostic::error(
            at(src, offsets, &m),
            "YAML tags (`!tag`) are not supported in workflows",
        )
        .with_help("remove the tag"),
        LoadError::DuplicateKey(inner) => {
            let key = inner.key.as_str().to_string();
            let span = inner
                .key
                .span()
                .start()
                .map(|m| Span {
                    len: key.len().max(1),
                    ..at(src, offsets, m)
                })
                .unwrap_or_default();
            let first = inner
                .prev_key
                .span()
                .start()
                .map(|m| format!(" (first defined on line {})", m.line()))
                .unwrap_or_default();
            Diagnostic::error(span, format!("duplicate key `{key}`{first}"))
                .with_help("each key may appear once in a mapping; remove or rename one")
        }
    }
}

fn scalar(src: &SourceFile, offsets: &Offsets, s: &marked_yaml::types::MarkedScalarNode) -> Scalar {
    let text = s.as_str().to_string();
    let (offset, line) = match s.span().start() {
        Some(m) => (offsets.byte(m, src.text.len()), m.line()),
        None => (0, 1),
    };
    let first = src.text[offset.min(src.text.len())..].chars().next();
    let style = match first {
        Some('"') => Style::DoubleQuoted,
        Some('\'') => Style::SingleQuoted,
        _ if text.contains('\n') => Style::MultiLine,
        _ => Style::Plain,
    };
    let style = if text.contains('\n') && style != Style::Plain {
        Style::MultiLine
    } else {
        style
    };
    let len = match style {
        Style::Plain => text.len(),
        Style::SingleQuoted | Style::DoubleQuoted => text.len() + 2,
        Style::MultiLine => text.split('\n').next().map(str::len).unwrap_or(1),
    }
    .clamp(1, src.text.len().saturating_sub(offset).max(1));
    Scalar {
        text,
        span: Span { offset, len },
        style,
        line,
    }
}

fn convert(src: &SourceFile, offsets: &Offsets, node: &marked_yaml::Node) -> YNode {
    let span_of = |sp: &marked_yaml::Span| match sp.start() {
        Some(m) => at(src, offsets, m),
        None => Span::default(),
    };
    match node {
        marked_yaml::Node::Scalar(s) => YNode::Scalar(scalar(src, offsets, s)),
        marked_yaml::Node::Mapping(m) => {
            let entries: Vec<(Scalar, YNode)> = m
                .iter()
                .map(|(k, v)| (scalar(src, offsets, k), convert(src, offsets, v)))
                .collect();
            // A block mapping's own marker sits on its first `:`; its first key reads better.
            let span = entries
                .first()
                .map(|(k, _)| k.span)
                .unwrap_or_else(|| span_of(m.span()));
            YNode::Map(entries, span)
        }
        marked_yaml::Node::Sequence(s) => YNode::Seq(
            s.iter().map(|v| convert(src, offsets, v)).collect(),
            span_of(s.span()),
        ),
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
            assert!(src.text[off..].starts_with("${{ x }}"), "{text:?} -> {off}");
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
