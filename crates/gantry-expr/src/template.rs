//! Strings with embedded `${{ }}` expressions.

use crate::parser::parse;
use crate::{Expr, ParseError, Part, Template};

impl Template {
    /// Splits `text` into literal and expression parts; error offsets are into `text`.
    pub fn parse(text: &str) -> Result<Template, ParseError> {
        let mut parts = Vec::new();
        let mut rest_start = 0;
        while let Some(rel) = text[rest_start..].find("${{") {
            let open = rest_start + rel;
            if open > rest_start {
                parts.push(Part::Literal(text[rest_start..open].to_string()));
            }
            let inner_start = open + 3;
            let close = find_close(text, inner_start).ok_or(ParseError {
                message: "`${{` is never closed: add `}}`".into(),
                offset: open,
                len: 3,
            })?;
            let inner = &text[inner_start..close];
            let node = parse(inner, inner_start)?;
            parts.push(Part::Expr(Expr { node }, inner_start));
            rest_start = close + 2;
        }
        if rest_start < text.len() || parts.is_empty() {
            parts.push(Part::Literal(text[rest_start..].to_string()));
        }
        Ok(Template { parts })
    }
}

/// The offset of the `}}` closing an expression starting at `from`, skipping strings.
fn find_close(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = from;
    let mut in_str = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                if in_str && bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                in_str = !in_str;
            }
            b'}' if !in_str && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}
