//! GitHub Actions expressions (`${{ ... }}`) with GitHub's semantics.
//!
//! Pure and synchronous: the workflow crate uses it to check expressions at validation
//! time, the engine to evaluate `if:` conditions and render templates at run time.
//! Values are `serde_json::Value`s, so contexts are plain JSON.
//!
//! API CONTRACT (implemented by the expression work; signatures are fixed):
//! - [`parse`] parses the text between `${{` and `}}` into an [`Expr`].
//! - [`Template::parse`] splits a string with embedded `${{ }}` into literal and expression parts.
//! - [`Expr::eval`] evaluates against an [`EvalContext`].
//! - [`condition`] evaluates an `if:` (with or without `${{ }}`), adding the implicit
//!   `success() &&` when the expression calls no status function.

pub use serde_json::Value;

use indexmap::IndexMap;

/// A parse error with the byte range inside the expression text it refers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
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
    #[default]
    Success,
    Failure,
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
    pub path: Vec<String>,
    /// Byte range of the reference inside the expression text.
    pub offset: usize,
    pub len: usize,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    _private: (),
}

/// Parses an expression (the text inside `${{ }}`, without the braces).
pub fn parse(_text: &str) -> Result<Expr, ParseError> {
    unimplemented!("gantry-expr: parse")
}

impl Expr {
    /// Evaluates to a value.
    pub fn eval(&self, _ctx: &EvalContext) -> Result<Value, EvalError> {
        unimplemented!("gantry-expr: eval")
    }

    /// Context paths the expression reads.
    pub fn references(&self) -> Vec<Reference> {
        unimplemented!("gantry-expr: references")
    }

    /// True when it calls success(), failure(), always() or cancelled().
    pub fn uses_status_function(&self) -> bool {
        unimplemented!("gantry-expr: uses_status_function")
    }

    /// Names of functions called that GitHub does not define, with their byte ranges.
    pub fn unknown_functions(&self) -> Vec<(String, usize, usize)> {
        unimplemented!("gantry-expr: unknown_functions")
    }
}

/// One part of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Literal(String),
    /// An expression and the byte offset of its text (inside the braces) in the template.
    Expr(Expr, usize),
}

/// A string with embedded `${{ }}` expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<Part>,
}

impl Template {
    /// Splits `text` into parts; errors carry offsets into `text`.
    pub fn parse(_text: &str) -> Result<Template, ParseError> {
        unimplemented!("gantry-expr: Template::parse")
    }

    /// Renders with GitHub's string conversion of each value.
    pub fn render(&self, _ctx: &EvalContext) -> Result<String, EvalError> {
        unimplemented!("gantry-expr: Template::render")
    }

    /// When the whole template is a single `${{ expr }}`, evaluates to its value
    /// (keeps types for `fromJSON` matrices, booleans, numbers); otherwise renders a string.
    pub fn evaluate(&self, _ctx: &EvalContext) -> Result<Value, EvalError> {
        unimplemented!("gantry-expr: Template::evaluate")
    }
}

/// Evaluates an `if:` condition (with or without `${{ }}`); implicit `success() &&`
/// when no status function is called.
pub fn condition(_text: &str, _ctx: &EvalContext) -> Result<bool, EvalError> {
    unimplemented!("gantry-expr: condition")
}

/// GitHub's truthiness: false, 0, -0, NaN, "", null are falsy.
pub fn truthy(_v: &Value) -> bool {
    unimplemented!("gantry-expr: truthy")
}

/// GitHub's conversion of a value to a string (null → "", numbers without ".0", objects
/// and arrays → "Object"/"Array" as GitHub does).
pub fn to_display_string(_v: &Value) -> String {
    unimplemented!("gantry-expr: to_display_string")
}
