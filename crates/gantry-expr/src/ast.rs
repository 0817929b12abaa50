//! The parsed form of an expression.

use serde_json::Value;

/// Binary comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The functions GitHub defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Contains,
    StartsWith,
    EndsWith,
    Format,
    Join,
    ToJson,
    FromJson,
    HashFiles,
    Success,
    Failure,
    Always,
    Cancelled,
}

impl Func {
    /// Every function with its name and arity (min, max).
    pub(crate) const ALL: [(Func, &'static str, usize, usize); 12] = [
        (Func::Contains, "contains", 2, 2),
        (Func::StartsWith, "startsWith", 2, 2),
        (Func::EndsWith, "endsWith", 2, 2),
        (Func::Format, "format", 1, usize::MAX),
        (Func::Join, "join", 1, 2),
        (Func::ToJson, "toJSON", 1, 1),
        (Func::FromJson, "fromJSON", 1, 1),
        (Func::HashFiles, "hashFiles", 1, usize::MAX),
        (Func::Success, "success", 0, 0),
        (Func::Failure, "failure", 0, 0),
        (Func::Always, "always", 0, 0),
        (Func::Cancelled, "cancelled", 0, 0),
    ];

    pub(crate) fn lookup(name: &str) -> Option<(Func, &'static str, usize, usize)> {
        Func::ALL
            .iter()
            .copied()
            .find(|(_, n, _, _)| n.eq_ignore_ascii_case(name))
    }

    pub(crate) fn is_status(self) -> bool {
        matches!(
            self,
            Func::Success | Func::Failure | Func::Always | Func::Cancelled
        )
    }
}

/// A node with its byte range in the source text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Literal(Value),
    /// A context name at the root (`github`, `env`, ...).
    Context(String),
    Property(Box<Node>, String),
    Index(Box<Node>, Box<Node>),
    /// `.*` or `[*]`.
    Filter(Box<Node>),
    Not(Box<Node>),
    Compare(Cmp, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
}

impl Node {
    /// Visits this node and all below it.
    pub(crate) fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Node)) {
        f(self);
        match &self.kind {
            Kind::Literal(_) | Kind::Context(_) => {}
            Kind::Property(b, _) | Kind::Filter(b) | Kind::Not(b) => b.walk(f),
            Kind::Index(a, b) | Kind::Compare(_, a, b) | Kind::And(a, b) | Kind::Or(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Kind::Call(_, args) => args.iter().for_each(|a| a.walk(f)),
        }
    }
}
