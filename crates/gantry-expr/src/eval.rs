//! Evaluation of a parsed expression against contexts.

use serde_json::Value;

use crate::ast::{Accessor, Cmp, Kind, Node};
use crate::coerce::{get_key, loose_cmp, loose_eq, truthy};
use crate::functions;
use crate::{EvalContext, EvalError};

/// A value, or the result of a `*` filter (property access then maps over its items).
enum Val {
    Plain(Value),
    Filtered(Vec<Value>),
}

impl Val {
    fn into_value(self) -> Value {
        match self {
            Val::Plain(v) => v,
            Val::Filtered(items) => Value::Array(items),
        }
    }
}

pub(crate) fn eval(node: &Node, ctx: &EvalContext) -> Result<Value, EvalError> {
    Ok(eval_val(node, ctx)?.into_value())
}

fn property(v: &Value, name: &str) -> Value {
    match v {
        Value::Object(m) => get_key(m, name).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn index(v: &Value, idx: &Value) -> Value {
    match (v, idx) {
        (Value::Array(items), _) => {
            let f = crate::coerce::to_number(idx);
            if f.is_finite() && f >= 0.0 && f.fract() == 0.0 {
                items.get(f as usize).cloned().unwrap_or(Value::Null)
            } else {
                Value::Null
            }
        }
        (Value::Object(m), _) => get_key(m, &crate::coerce::to_display_string(idx))
            .cloned()
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn children(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Object(m) => m.values().cloned().collect(),
        _ => Vec::new(),
    }
}

fn eval_val(node: &Node, ctx: &EvalContext) -> Result<Val, EvalError> {
    Ok(match &node.kind {
        Kind::Literal(v) => Val::Plain(v.clone()),
        Kind::Context(name) => Val::Plain(
            ctx.contexts
                .get(name.as_str())
                .or_else(|| {
                    ctx.contexts
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                })
                .cloned()
                .unwrap_or(Value::Null),
        ),
        Kind::Access(base, accessors) => {
            let mut val = eval_val(base, ctx)?;
            for (accessor, _) in accessors {
                val = access(val, accessor, ctx)?;
            }
            val
        }
        Kind::Not(inner, count) => {
            let t = truthy(&eval(inner, ctx)?);
            Val::Plain(Value::Bool(if count % 2 == 1 { !t } else { t }))
        }
        Kind::Compare(first, rest) => {
            let mut acc = eval(first, ctx)?;
            for (op, rhs) in rest {
                let b = eval(rhs, ctx)?;
                let a = &acc;
                let r = match op {
                    Cmp::Eq => loose_eq(a, &b),
                    Cmp::Ne => !loose_eq(a, &b),
                    Cmp::Lt => loose_cmp(a, &b).is_some_and(|o| o.is_lt()),
                    Cmp::Le => loose_cmp(a, &b).is_some_and(|o| o.is_le()),
                    Cmp::Gt => loose_cmp(a, &b).is_some_and(|o| o.is_gt()),
                    Cmp::Ge => loose_cmp(a, &b).is_some_and(|o| o.is_ge()),
                };
                acc = Value::Bool(r);
            }
            Val::Plain(acc)
        }
        // The first falsy operand, else the last (GitHub's short-circuit semantics).
        Kind::And(items) => {
            let mut last = Value::Null;
            for item in items {
                last = eval(item, ctx)?;
                if !truthy(&last) {
                    break;
                }
            }
            Val::Plain(last)
        }
        // The first truthy operand, else the last.
        Kind::Or(items) => {
            let mut last = Value::Null;
            for item in items {
                last = eval(item, ctx)?;
                if truthy(&last) {
                    break;
                }
            }
            Val::Plain(last)
        }
        Kind::Call(func, args) => {
            let values = args
                .iter()
                .map(|a| eval(a, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            Val::Plain(functions::call(*func, &values, ctx)?)
        }
    })
}

/// One step of an access chain; after a filter, property and index map over the items.
fn access(val: Val, accessor: &Accessor, ctx: &EvalContext) -> Result<Val, EvalError> {
    Ok(match accessor {
        Accessor::Property(name) => match val {
            Val::Plain(v) => Val::Plain(property(&v, name)),
            Val::Filtered(items) => Val::Filtered(
                items
                    .iter()
                    .map(|i| property(i, name))
                    .filter(|v| !v.is_null())
                    .collect(),
            ),
        },
        Accessor::Index(idx) => {
            let idx = eval(idx, ctx)?;
            match val {
                Val::Plain(v) => Val::Plain(index(&v, &idx)),
                Val::Filtered(items) => Val::Filtered(
                    items
                        .iter()
                        .map(|i| index(i, &idx))
                        .filter(|v| !v.is_null())
                        .collect(),
                ),
            }
        }
        Accessor::Filter => match val {
            Val::Plain(v) => Val::Filtered(children(&v)),
            Val::Filtered(items) => Val::Filtered(items.iter().flat_map(children).collect()),
        },
    })
}
