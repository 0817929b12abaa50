//! GitHub's type coercion: truthiness, numbers, display strings and loose equality.

use std::cmp::Ordering;

use serde_json::Value;

/// false, 0, -0, NaN, "", null are falsy; everything else (including "false", [], {}) is truthy.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The number a value coerces to (NaN when it has none).
pub(crate) fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => string_to_number(s),
        Value::Array(_) | Value::Object(_) => f64::NAN,
    }
}

fn string_to_number(s: &str) -> f64 {
    let t = s.trim();
    if t.is_empty() {
        return 0.0;
    }
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16)
            .map(|v| v as f64)
            .unwrap_or(f64::NAN);
    }
    // Only plain decimal notation: Rust would also accept "inf" and "nan".
    let plain = t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    if !plain {
        return f64::NAN;
    }
    t.parse().unwrap_or(f64::NAN)
}

/// A number as GitHub prints it: integers without `.0`.
pub(crate) fn number_string(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// GitHub's string form of a value.
pub fn to_display_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (_, Some(u)) => u.to_string(),
            _ => number_string(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => s.clone(),
        Value::Array(_) => "Array".into(),
        Value::Object(_) => "Object".into(),
    }
}

fn kind(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// Loose equality. Arrays and objects are equal only to themselves in GitHub (by
/// reference); JSON values have no identity, so we never call two of them equal.
pub(crate) fn loose_eq(a: &Value, b: &Value) -> bool {
    if kind(a) == kind(b) {
        return match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
            (Value::Number(_), Value::Number(_)) => to_number(a) == to_number(b),
            _ => false,
        };
    }
    if matches!(a, Value::Array(_) | Value::Object(_))
        || matches!(b, Value::Array(_) | Value::Object(_))
    {
        return false;
    }
    let (x, y) = (to_number(a), to_number(b));
    x == y
}

/// Loose ordering for `< <= > >=`; `None` when the values do not compare (NaN, objects).
pub(crate) fn loose_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Value::String(x), Value::String(y)) = (a, b) {
        return Some(x.to_lowercase().cmp(&y.to_lowercase()));
    }
    if matches!(a, Value::Array(_) | Value::Object(_))
        || matches!(b, Value::Array(_) | Value::Object(_))
    {
        return None;
    }
    to_number(a).partial_cmp(&to_number(b))
}

/// Case-insensitive key lookup (exact match first).
pub(crate) fn get_key<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}
