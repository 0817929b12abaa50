//! A precedence-climbing parser: `||` < `&&` < `== !=` < `< <= > >=` < `!` < postfix.

use serde_json::Value;

use crate::ast::{Accessor, Cmp, Func, Kind, Node};
use crate::lexer::{lex, Tok, Token};
use crate::ParseError;

/// How deep expressions may nest (parentheses, call arguments, index expressions) before
/// they are refused: the only recursion in parsing and evaluation follows this nesting, so
/// it bounds the stack. Chains (`||`, `&&`, comparisons, `!`, `.a[b]`) do not nest.
/// GitHub's own limit is 50.
pub(crate) const MAX_DEPTH: usize = 64;

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
        Tok::Str(s) => format!("string '{}'", crate::lexer::excerpt(s)),
        Tok::Ident(i) => format!("`{}`", crate::lexer::excerpt(i)),
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

/// One operand alone, or a chain node over all of them.
fn chain(mut items: Vec<Node>, kind: fn(Vec<Node>) -> Kind) -> Node {
    if items.len() == 1 {
        return items.remove(0);
    }
    let start = items.first().map_or(0, |n| n.start);
    let end = items.last().map_or(start, |n| n.end);
    Node {
        kind: kind(items),
        start,
        end,
    }
}

/// `first` alone, or a comparison chain.
fn compare(first: Node, rest: Vec<(Cmp, Node)>) -> Node {
    if rest.is_empty() {
        return first;
    }
    let start = first.start;
    let end = rest.last().map_or(first.end, |(_, n)| n.end);
    Node {
        kind: Kind::Compare(Box::new(first), rest),
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
            // The token that opened this level: `(`, `[` or `,`.
            let t = &self.toks[self.pos.saturating_sub(1)];
            return Err(err(
                format!("expression nests deeper than {MAX_DEPTH} levels"),
                t.start,
                t.end,
            ));
        }
        Ok(())
    }

    /// `a || b || ...`: one node for the whole chain.
    fn or(&mut self) -> Result<Node, ParseError> {
        self.enter()?;
        let first = self.and()?;
        let mut items = vec![first];
        while self.peek().tok == Tok::Or {
            self.next();
            items.push(self.and()?);
        }
        self.depth -= 1;
        Ok(chain(items, Kind::Or))
    }

    /// `a && b && ...`: one node for the whole chain.
    fn and(&mut self) -> Result<Node, ParseError> {
        let first = self.equality()?;
        let mut items = vec![first];
        while self.peek().tok == Tok::And {
            self.next();
            items.push(self.equality()?);
        }
        Ok(chain(items, Kind::And))
    }

    /// `a == b != c ...` (left-associative), one node for the whole chain.
    fn equality(&mut self) -> Result<Node, ParseError> {
        let first = self.comparison()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek().tok {
                Tok::Eq => Cmp::Eq,
                Tok::Ne => Cmp::Ne,
                _ => return Ok(compare(first, rest)),
            };
            self.next();
            rest.push((op, self.comparison()?));
        }
    }

    /// `a < b >= c ...` (left-associative), one node for the whole chain.
    fn comparison(&mut self) -> Result<Node, ParseError> {
        let first = self.unary()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek().tok {
                Tok::Lt => Cmp::Lt,
                Tok::Le => Cmp::Le,
                Tok::Gt => Cmp::Gt,
                Tok::Ge => Cmp::Ge,
                _ => return Ok(compare(first, rest)),
            };
            self.next();
            rest.push((op, self.unary()?));
        }
    }

    /// `!!x`: the `!`s are counted, not nested.
    fn unary(&mut self) -> Result<Node, ParseError> {
        let start = self.peek().start;
        let mut count = 0;
        while self.peek().tok == Tok::Not {
            self.next();
            count += 1;
        }
        let base = self.primary()?;
        let inner = self.postfix(base)?;
        if count == 0 {
            return Ok(inner);
        }
        let end = inner.end;
        Ok(Node {
            kind: Kind::Not(Box::new(inner), count),
            start,
            end,
        })
    }

    /// `.name`, `.*`, `[expr]`, `[*]` after a value: one node for the whole chain.
    fn postfix(&mut self, base: Node) -> Result<Node, ParseError> {
        let mut accessors = Vec::new();
        loop {
            match self.peek().tok {
                Tok::Dot => {
                    self.next();
                    let t = self.next();
                    let accessor = match t.tok {
                        Tok::Ident(name) => Accessor::Property(name),
                        // Keywords are fine as property names (`steps.null`, `x.true`).
                        Tok::Null => Accessor::Property("null".into()),
                        Tok::Bool(b) => Accessor::Property(b.to_string()),
                        Tok::Star => Accessor::Filter,
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
                    accessors.push((accessor, t.end));
                }
                Tok::LBracket => {
                    let open = self.next();
                    if self.peek().tok == Tok::Star {
                        self.next();
                        let close = self.next();
                        if close.tok != Tok::RBracket {
                            return Err(err("expected `]` after `[*`", close.start, close.end));
                        }
                        accessors.push((Accessor::Filter, close.end));
                        continue;
                    }
                    let index = self.or()?;
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
                    accessors.push((Accessor::Index(index), close.end));
                }
                _ => break,
            }
        }
        if accessors.is_empty() {
            return Ok(base);
        }
        let (start, end) = (base.start, accessors.last().map_or(base.end, |a| a.1));
        Ok(Node {
            kind: Kind::Access(Box::new(base), accessors),
            start,
            end,
        })
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
                let inner = self.or()?;
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
                .filter(|_| name.len() <= 64)
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
                format!("unknown function `{}`{hint}", crate::lexer::excerpt(name)),
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
                args.push(self.or()?);
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
