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
///
/// Chains (`a || b || c`, `a == b != c`, `a.b[c].*`, `!!x`) are one node with a list, not a
/// nested tree: the tree is only as deep as the expression's real nesting (parentheses, call
/// arguments, index expressions), which the parser limits. Every recursive walk below is
/// therefore bounded, however long a chain is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// One step of an access chain after its base.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Accessor {
    /// `.name`
    Property(String),
    /// `[expr]`
    Index(Node),
    /// `.*` or `[*]`
    Filter,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Literal(Value),
    /// A context name at the root (`github`, `env`, ...).
    Context(String),
    /// A base followed by accessors, each with the end offset of the chain up to it.
    Access(Box<Node>, Vec<(Accessor, usize)>),
    /// `!` applied `count` times (at least once).
    Not(Box<Node>, usize),
    /// A left-associative chain of comparisons: `((first op1 a) op2 b) ...`.
    Compare(Box<Node>, Vec<(Cmp, Node)>),
    /// Two or more operands of `&&`.
    And(Vec<Node>),
    /// Two or more operands of `||`.
    Or(Vec<Node>),
    Call(Func, Vec<Node>),
}

impl Node {
    /// The nodes directly below this one.
    pub(crate) fn children(&self) -> Vec<&Node> {
        match &self.kind {
            Kind::Literal(_) | Kind::Context(_) => Vec::new(),
            Kind::Access(base, accessors) => std::iter::once(base.as_ref())
                .chain(accessors.iter().filter_map(|(a, _)| match a {
                    Accessor::Index(i) => Some(i),
                    _ => None,
                }))
                .collect(),
            Kind::Not(inner, _) => vec![inner],
            Kind::Compare(first, rest) => std::iter::once(first.as_ref())
                .chain(rest.iter().map(|(_, n)| n))
                .collect(),
            Kind::And(items) | Kind::Or(items) | Kind::Call(_, items) => items.iter().collect(),
        }
    }

    /// Visits this node and all below it (without recursion).
    pub(crate) fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Node)) {
        let mut stack = vec![self];
        while let Some(n) = stack.pop() {
            f(n);
            let mut children = n.children();
            children.reverse();
            stack.extend(children);
        }
    }
}
