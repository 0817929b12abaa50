//! GitHub Actions expressions (`${{ ... }}`) with GitHub's semantics.
//!
//! Pure and synchronous: the workflow crate uses it to check expressions at validation
//! time, the engine to evaluate `if:` conditions and render templates at run time.
//! Values are `serde_json::Value`s, so contexts are plain JSON.
//!
//! - [`parse`] parses the text between `${{` and `}}` into an [`Expr`].
//! - [`Template::parse`] splits a string with embedded `${{ }}` into literal and expression parts.
//! - [`Expr::eval`] evaluates against an [`EvalContext`].
//! - [`condition`] evaluates an `if:` (with or without `${{ }}`), adding the implicit
//!   `success() &&` when the expression calls no status function.

mod ast;
mod coerce;
mod eval;
mod functions;
mod lexer;
mod parser;
mod template;

pub use coerce::{to_display_string, truthy};
pub use serde_json::Value;

use ast::{Accessor, Kind, Node};
use indexmap::IndexMap;

/// A parse error with the byte range inside the expression text it refers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong, lowercase, without the place.
    pub message: String,
    /// Byte offset into the text given to [`parse`] (or [`Template::parse`]).
    pub offset: usize,
    /// Length in bytes of the offending part (at least 1 when the text is non-empty).
    pub len: usize,
}

/// An evaluation error (a function given the wrong arguments, bad JSON in fromJSON, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// The job status the status functions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobStatus {
    /// Every step so far succeeded.
    #[default]
    Success,
    /// A step failed.
    Failure,
    /// The run is being cancelled.
    Cancelled,
}

/// Everything an expression can see.
#[derive(Debug, Clone, Default)]
pub struct EvalContext {
    /// Named contexts: `github`, `env`, `vars`, `job`, `steps`, `needs`, `matrix`,
    /// `strategy`, `runner`, `secrets`, `inputs`. Missing ones evaluate to null.
    pub contexts: IndexMap<String, Value>,
    /// What success()/failure()/cancelled() read.
    pub status: JobStatus,
    /// Base directory for hashFiles(); hashFiles errors when `None`.
    pub workspace: Option<std::path::PathBuf>,
}

/// A reference to a context path found in an expression, for validation
/// (`steps.build.outputs.x` → `["steps", "build", "outputs", "x"]`; a dynamic index stops
/// the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The context name and the static properties after it.
    pub path: Vec<String>,
    /// Byte offset of the reference inside the expression text.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    node: Node,
}

/// Parses an expression (the text inside `${{ }}`, without the braces).
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    Ok(Expr {
        node: parser::parse(text, 0)?,
    })
}

impl Expr {
    /// Evaluates to a value.
    pub fn eval(&self, ctx: &EvalContext) -> Result<Value, EvalError> {
        eval::eval(&self.node, ctx)
    }

    /// Context paths the expression reads.
    pub fn references(&self) -> Vec<Reference> {
        let mut out = Vec::new();
        collect_references(&self.node, &mut out);
        out
    }

    /// True when it calls success(), failure(), always() or cancelled().
    pub fn uses_status_function(&self) -> bool {
        let mut found = false;
        self.node.walk(&mut |n| {
            if let Kind::Call(f, _) = &n.kind {
                found |= f.is_status();
            }
        });
        found
    }

    /// Unknown functions are parse errors (with a "did you mean"), so this is always
    /// empty; kept so callers need not know that.
    pub fn unknown_functions(&self) -> Vec<(String, usize, usize)> {
        Vec::new()
    }
}

/// Collects the context paths `node` reads. An access chain contributes its longest
/// static prefix (`a.b['c']`; a dynamic index or a filter ends it) plus what its index
/// expressions read. Recursion follows only real nesting, which the parser bounds.
fn collect_references(node: &Node, out: &mut Vec<Reference>) {
    match &node.kind {
        Kind::Context(name) => out.push(Reference {
            path: vec![name.clone()],
            offset: node.start,
            len: node.end - node.start,
        }),
        Kind::Access(base, accessors) => {
            if let Kind::Context(name) = &base.kind {
                let mut path = vec![name.clone()];
                let mut end = base.end;
                for (accessor, at) in accessors {
                    match accessor {
                        Accessor::Property(p) => path.push(p.clone()),
                        Accessor::Index(Node {
                            kind: Kind::Literal(Value::String(s)),
                            ..
                        }) => path.push(s.clone()),
                        _ => break,
                    }
                    end = *at;
                }
                out.push(Reference {
                    path,
                    offset: base.start,
                    len: end - base.start,
                });
            } else {
                collect_references(base, out);
            }
            for (accessor, _) in accessors {
                if let Accessor::Index(i) = accessor {
                    collect_references(i, out);
                }
            }
        }
        _ => {
            for child in node.children() {
                collect_references(child, out);
            }
        }
    }
}

/// One part of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text outside `${{ }}`, as written.
    Literal(String),
    /// An expression and the byte offset of its text (inside the braces) in the template.
    Expr(Expr, usize),
}

/// A string with embedded `${{ }}` expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Literal text and expressions, in order.
    pub parts: Vec<Part>,
}

impl Template {
    /// Renders with GitHub's string conversion of each value.
    pub fn render(&self, ctx: &EvalContext) -> Result<String, EvalError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Expr(e, _) => out.push_str(&to_display_string(&e.eval(ctx)?)),
            }
        }
        Ok(out)
    }

    /// When the whole template is a single `${{ expr }}`, evaluates to its value
    /// (keeps types for `fromJSON` matrices, booleans, numbers); otherwise renders a string.
    pub fn evaluate(&self, ctx: &EvalContext) -> Result<Value, EvalError> {
        match self.single() {
            Some(e) => e.eval(ctx),
            None => Ok(Value::String(self.render(ctx)?)),
        }
    }

    /// The expression when the template is exactly one `${{ }}` (surrounding whitespace
    /// allowed).
    fn single(&self) -> Option<&Expr> {
        let mut found = None;
        for part in &self.parts {
            match part {
                Part::Literal(s) if s.trim().is_empty() => {}
                Part::Expr(e, _) if found.is_none() => found = Some(e),
                _ => return None,
            }
        }
        found
    }

    /// True when there is no `${{ }}` at all.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }
}

/// Evaluates an `if:` condition (with or without `${{ }}`); implicit `success() &&`
/// when no status function is called. An empty condition means `success()`.
///
/// A condition that mixes literal text with `${{ }}` (`${{ a }} == b`) is, as in GitHub,
/// a string: true when it renders non-empty.
pub fn condition(text: &str, ctx: &EvalContext) -> Result<bool, EvalError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(ctx.status == JobStatus::Success);
    }
    let expr = if text.contains("${{") {
        let t = Template::parse(text).map_err(|e| EvalError(format!("invalid expression: {e}")))?;
        match t.single() {
            Some(e) => e.clone(),
            None => return Ok(!t.render(ctx)?.is_empty()),
        }
    } else {
        parse(text).map_err(|e| EvalError(format!("invalid expression: {e}")))?
    };
    if !expr.uses_status_function() && ctx.status != JobStatus::Success {
        return Ok(false);
    }
    Ok(truthy(&expr.eval(ctx)?))
}

#[cfg(test)]
mod tests;
