//! Tokens of the expression language, with byte offsets.

use crate::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    Ident(String),
    Dot,
    Star,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Not,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

fn err(message: impl Into<String>, offset: usize, len: usize) -> ParseError {
    ParseError {
        message: message.into(),
        offset,
        len: len.max(1),
    }
}

/// `text` as quoted in a message: at most 40 characters, then `…`.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Splits `text` into tokens; `base` is added to every offset.
pub(crate) fn lex(text: &str, base: usize) -> Result<Vec<Token>, ParseError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let single = |t: Tok| Token {
            tok: t,
            start: base + start,
            end: base + start + 1,
        };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'.' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push(single(Tok::Dot));
                i += 1;
            }
            b'*' => {
                out.push(single(Tok::Star));
                i += 1;
            }
            b'[' => {
                out.push(single(Tok::LBracket));
                i += 1;
            }
            b']' => {
                out.push(single(Tok::RBracket));
                i += 1;
            }
            b'(' => {
                out.push(single(Tok::LParen));
                i += 1;
            }
            b')' => {
                out.push(single(Tok::RParen));
                i += 1;
            }
            b',' => {
                out.push(single(Tok::Comma));
                i += 1;
            }
            b'!' | b'<' | b'>' | b'=' => {
                let two = bytes.get(i + 1) == Some(&b'=');
                let tok = match (c, two) {
                    (b'!', true) => Tok::Ne,
                    (b'!', false) => Tok::Not,
                    (b'<', true) => Tok::Le,
                    (b'<', false) => Tok::Lt,
                    (b'>', true) => Tok::Ge,
                    (b'>', false) => Tok::Gt,
                    (b'=', true) => Tok::Eq,
                    _ => {
                        return Err(err(
                            "`=` is not an operator; use `==` to compare",
                            base + i,
                            1,
                        ))
                    }
                };
                let len = if two { 2 } else { 1 };
                out.push(Token {
                    tok,
                    start: base + i,
                    end: base + i + len,
                });
                i += len;
            }
            b'&' | b'|' => {
                if bytes.get(i + 1) != Some(&c) {
                    let op = if c == b'&' { "&&" } else { "||" };
                    return Err(err(
                        format!("unexpected `{}`; did you mean `{op}`?", c as char),
                        base + i,
                        1,
                    ));
                }
                out.push(Token {
                    tok: if c == b'&' { Tok::And } else { Tok::Or },
                    start: base + i,
                    end: base + i + 2,
                });
                i += 2;
            }
            b'\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match text[i..].find('\'') {
                        None => {
                            return Err(err(
                                "unterminated string: add a closing `'`",
                                base + start,
                                text.len() - start,
                            ))
                        }
                        Some(pos) => {
                            s.push_str(&text[i..i + pos]);
                            i += pos + 1;
                            if bytes.get(i) == Some(&b'\'') {
                                s.push('\'');
                                i += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
                out.push(Token {
                    tok: Tok::Str(s),
                    start: base + start,
                    end: base + i,
                });
            }
            b'"' => {
                return Err(err(
                    "strings use single quotes in expressions: write 'text', not \"text\"",
                    base + i,
                    1,
                ));
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let mut j = i + 1;
                if c == b'0' && matches!(bytes.get(j), Some(b'x') | Some(b'X')) {
                    j += 1;
                    while j < bytes.len() && bytes[j].is_ascii_hexdigit() {
                        j += 1;
                    }
                    let digits = &text[i + 2..j];
                    let v = i64::from_str_radix(digits, 16)
                        .map_err(|_| err("invalid hexadecimal number", base + i, j - i))?;
                    out.push(Token {
                        tok: Tok::Number(v as f64),
                        start: base + i,
                        end: base + j,
                    });
                    i = j;
                    continue;
                }
                while j < bytes.len() {
                    let d = bytes[j];
                    let exp_sign = (d == b'-' || d == b'+') && matches!(bytes[j - 1], b'e' | b'E');
                    if d.is_ascii_digit() || d == b'.' || d == b'e' || d == b'E' || exp_sign {
                        j += 1;
                    } else {
                        break;
                    }
                }
                let lit = &text[i..j];
                let v: f64 = lit.parse().map_err(|_| {
                    err(
                        format!("`{}` is not a number", excerpt(lit)),
                        base + i,
                        j - i,
                    )
                })?;
                out.push(Token {
                    tok: Tok::Number(v),
                    start: base + i,
                    end: base + j,
                });
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < bytes.len()
                    && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b'-')
                {
                    j += 1;
                }
                let word = &text[i..j];
                let tok = match word {
                    "null" => Tok::Null,
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    _ => Tok::Ident(word.to_string()),
                };
                out.push(Token {
                    tok,
                    start: base + i,
                    end: base + j,
                });
                i = j;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(err(
                    format!("unexpected character `{ch}`"),
                    base + i,
                    ch.len_utf8(),
                ));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        start: base + text.len(),
        end: base + text.len(),
    });
    Ok(out)
}
