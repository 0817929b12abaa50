//! A precedence-climbing parser: `||` < `&&` < `== !=` < `< <= > >=` < `!` < postfix.

use serde_json::Value;

use crate::ast::{Cmp, Func, Kind, Node};
use crate::lexer::{lex, Tok, Token};
use crate::ParseError;

/// How deep expressions may nest before we refuse them (protects the stack).
const MAX_DEPTH: usize = 64;

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

fn err(message: impl Into<String>, start: usize, end: usize) -> ParseError {
    ParseError {
        message: message.into(),
        offset: start,
        len: end.saturating_sub(start).max(1),
    }
}

/// Parses `text`, offsets shifted by `base`.
pub(crate) fn parse(text: &str, base: usize) -> Result<Node, ParseError> {
    let toks = lex(text, base)?;
    if toks.len() == 1 {
        return Err(err("empty expression", base, base + text.len()));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let node = p.or()?;
    let t = p.peek().clone();
    if t.tok != Tok::Eof {
        return Err(err(
            format!(
                "unexpected {} after a complete expression",
                describe(&t.tok)
            ),
            t.start,
            t.end,
        ));
    }
    Ok(node)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Null => "`null`".into(),
        Tok::Bool(b) => format!("`{b}`"),
        Tok::Number(n) => format!("number `{n}`"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Ident(i) => format!("`{i}`"),
        Tok::Dot => "`.`".into(),
        Tok::Star => "`*`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Not => "`!`".into(),
        Tok::Lt => "`<`".into(),
        Tok::Le => "`<=`".into(),
        Tok::Gt => "`>`".into(),
        Tok::Ge => "`>=`".into(),
        Tok::Eq => "`==`".into(),
        Tok::Ne => "`!=`".into(),
        Tok::And => "`&&`".into(),
        Tok::Or => "`||`".into(),
        Tok::Eof => "end of expression".into(),
    }
}

fn bin(kind: fn(Box<Node>, Box<Node>) -> Kind, a: Node, b: Node) -> Node {
    let (start, end) = (a.start, b.end);
    Node {
        kind: kind(Box::new(a), Box::new(b)),
        start,
        end,
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.peek();
            return Err(err(
                format!("expression nests deeper than {MAX_DEPTH} levels"),
                t.start,
                t.end,
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, ParseError> {
        self.enter()?;
        let mut left = self.and()?;
        while self.peek().tok == Tok::Or {
            self.next();
            let right = self.and()?;
            left = bin(Kind::Or, left, right);
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let mut left = self.equality()?;
        while self.peek().tok == Tok::And {
            self.next();
            let right = self.equality()?;
            left = bin(Kind::And, left, right);
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Node, ParseError> {
        let mut left = self.comparison()?;
        loop {
            let op = match self.peek().tok {
                Tok::Eq => Cmp::Eq,
                Tok::Ne => Cmp::Ne,
                _ => return Ok(left),
            };
            self.next();
            let right = self.comparison()?;
            let (start, end) = (left.start, right.end);
            left = Node {
                kind: Kind::Compare(op, Box::new(left), Box::new(right)),
                start,
                end,
            };
        }
    }

    fn comparison(&mut self) -> Result<Node, ParseError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Lt => Cmp::Lt,
                Tok::Le => Cmp::Le,
                Tok::Gt => Cmp::Gt,
                Tok::Ge => Cmp::Ge,
                _ => return Ok(left),
            };
            self.next();
            let right = self.unary()?;
            let (start, end) = (left.start, right.end);
            left = Node {
                kind: Kind::Compare(op, Box::new(left), Box::new(right)),
                start,
                end,
            };
        }
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        if self.peek().tok == Tok::Not {
            let t = self.next();
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            let end = inner.end;
            return Ok(Node {
                kind: Kind::Not(Box::new(inner)),
                start: t.start,
                end,
            });
        }
        let base = self.primary()?;
        self.postfix(base)
    }

    fn postfix(&mut self, mut node: Node) -> Result<Node, ParseError> {
        loop {
            match self.peek().tok {
                Tok::Dot => {
                    self.next();
                    let t = self.next();
                    node = match t.tok {
                        Tok::Ident(name) => {
                            let start = node.start;
                            Node {
                                kind: Kind::Property(Box::new(node), name),
                                start,
                                end: t.end,
                            }
                        }
                        // Keywords are fine as property names (`steps.null`, `x.true`).
                        Tok::Null | Tok::Bool(_) => {
                            let start = node.start;
                            let name = match t.tok {
                                Tok::Null => "null".to_string(),
                                Tok::Bool(b) => b.to_string(),
                                _ => String::new(),
                            };
                            Node {
                                kind: Kind::Property(Box::new(node), name),
                                start,
                                end: t.end,
                            }
                        }
                        Tok::Star => {
                            let start = node.start;
                            Node {
                                kind: Kind::Filter(Box::new(node)),
                                start,
                                end: t.end,
                            }
                        }
                        other => {
                            return Err(err(
                                format!(
                                    "expected a property name after `.`, found {}",
                                    describe(&other)
                                ),
                                t.start,
                                t.end,
                            ))
                        }
                    };
                }
                Tok::LBracket => {
                    let open = self.next();
                    if self.peek().tok == Tok::Star {
                        self.next();
                        let close = self.next();
                        if close.tok != Tok::RBracket {
                            return Err(err("expected `]` after `[*`", close.start, close.end));
                        }
                        let start = node.start;
                        node = Node {
                            kind: Kind::Filter(Box::new(node)),
                            start,
                            end: close.end,
                        };
                        continue;
                    }
                    self.enter()?;
                    let index = self.or()?;
                    self.depth -= 1;
                    let close = self.next();
                    if close.tok != Tok::RBracket {
                        return Err(err(
                            format!(
                                "expected `]` to close the `[` at offset {}, found {}",
                                open.start,
                                describe(&close.tok)
                            ),
                            close.start,
                            close.end,
                        ));
                    }
                    let start = node.start;
                    node = Node {
                        kind: Kind::Index(Box::new(node), Box::new(index)),
                        start,
                        end: close.end,
                    };
                }
                _ => return Ok(node),
            }
        }
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let t = self.next();
        let lit = |v: Value| Node {
            kind: Kind::Literal(v),
            start: t.start,
            end: t.end,
        };
        match t.tok.clone() {
            Tok::Null => Ok(lit(Value::Null)),
            Tok::Bool(b) => Ok(lit(Value::Bool(b))),
            Tok::Number(n) => Ok(lit(number(n))),
            Tok::Str(s) => Ok(lit(Value::String(s))),
            Tok::LParen => {
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                let close = self.next();
                if close.tok != Tok::RParen {
                    return Err(err(
                        format!("expected `)`, found {}", describe(&close.tok)),
                        close.start,
                        close.end,
                    ));
                }
                Ok(Node {
                    start: t.start,
                    end: close.end,
                    ..inner
                })
            }
            Tok::Ident(name) => {
                if self.peek().tok == Tok::LParen {
                    return self.call(&name, t.start, t.end);
                }
                Ok(Node {
                    kind: Kind::Context(name),
                    start: t.start,
                    end: t.end,
                })
            }
            other => Err(err(
                format!("expected a value, found {}", describe(&other)),
                t.start,
                t.end,
            )),
        }
    }

    fn call(&mut self, name: &str, start: usize, name_end: usize) -> Result<Node, ParseError> {
        let Some((func, canonical, min, max)) = Func::lookup(name) else {
            let best = Func::ALL
                .iter()
                .map(|(_, n, _, _)| {
                    (
                        strsim::jaro_winkler(&n.to_lowercase(), &name.to_lowercase()),
                        *n,
                    )
                })
                .fold((0.0, ""), |a, b| if b.0 > a.0 { b } else { a });
            let hint = if best.0 > 0.8 {
                format!("; did you mean `{}`?", best.1)
            } else {
                String::new()
            };
            return Err(err(
                format!("unknown function `{name}`{hint}"),
                start,
                name_end,
            ));
        };
        self.next(); // `(`
        let mut args = Vec::new();
        if self.peek().tok == Tok::RParen {
            self.next();
        } else {
            loop {
                self.enter()?;
                args.push(self.or()?);
                self.depth -= 1;
                let t = self.next();
                match t.tok {
                    Tok::Comma => continue,
                    Tok::RParen => break,
                    other => {
                        return Err(err(
                            format!(
                                "expected `,` or `)` in the call of {canonical}, found {}",
                                describe(&other)
                            ),
                            t.start,
                            t.end,
                        ))
                    }
                }
            }
        }
        let end = self.toks[self.pos.saturating_sub(1)].end;
        if args.len() < min || args.len() > max {
            let want = match (min, max) {
                (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
                (a, usize::MAX) => {
                    format!("at least {a} argument{}", if a == 1 { "" } else { "s" })
                }
                (a, b) => format!("{a} to {b} arguments"),
            };
            return Err(err(
                format!("{canonical}() takes {want}, got {}", args.len()),
                start,
                end,
            ));
        }
        Ok(Node {
            kind: Kind::Call(func, args),
            start,
            end,
        })
    }
}

/// A JSON number for `n`, integral when it is one.
pub(crate) fn number(n: f64) -> Value {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}
