//! Matrix expansion as GitHub documents it: the cartesian product of the keys, minus
//! `exclude` (partial matches), then each `include` entry extends every combination it
//! does not contradict on an original key, or becomes a combination of its own.

use indexmap::IndexMap;
use serde_json::Value;

use crate::model::Matrix;

/// GitHub's limit on combinations per job.
pub(crate) const MAX_COMBINATIONS: usize = 256;

pub(crate) type Combination = IndexMap<String, Value>;

/// The combinations of `m` (empty keys and includes: one empty combination).
pub(crate) fn expand(m: &Matrix) -> Result<Vec<Combination>, String> {
    let mut combos: Vec<Combination> = vec![IndexMap::new()];
    if !m.dims.is_empty() {
        for (key, values) in &m.dims {
            let mut next = Vec::with_capacity(combos.len() * values.len());
            for c in &combos {
                for v in values {
                    let mut c = c.clone();
                    c.insert(key.clone(), v.clone());
                    next.push(c);
                }
            }
            combos = next;
            if combos.len() > MAX_COMBINATIONS * 16 {
                return Err(format!(
                    "the matrix has more than {MAX_COMBINATIONS} combinations"
                ));
            }
        }
        combos.retain(|c| {
            !m.exclude
                .iter()
                .any(|ex| ex.iter().all(|(k, v)| c.get(k) == Some(v)))
        });
    } else {
        combos.clear();
    }
    let originals: Vec<&String> = m.dims.iter().map(|(k, _)| k).collect();
    let base_len = combos.len();
    for inc in &m.include {
        let mut matched = false;
        for c in combos.iter_mut().take(base_len) {
            let fits = inc
                .iter()
                .all(|(k, v)| !originals.contains(&k) || c.get(k) == Some(v));
            if fits {
                matched = true;
                for (k, v) in inc {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        if !matched {
            combos.push(inc.iter().cloned().collect());
        }
    }
    if combos.len() > MAX_COMBINATIONS {
        return Err(format!(
            "the matrix has {} combinations; GitHub's limit is {MAX_COMBINATIONS}",
            combos.len()
        ));
    }
    if combos.is_empty() {
        return Err("the matrix has no combinations left after `exclude`".into());
    }
    Ok(combos)
}

/// `id (v1, v2)`, as GitHub names matrix jobs.
pub(crate) fn job_key(id: &str, c: &Combination) -> String {
    if c.is_empty() {
        return id.to_string();
    }
    let values: Vec<String> = c
        .values()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
        .collect();
    format!("{id} ({})", values.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dims(d: &[(&str, Vec<Value>)]) -> Vec<(String, Vec<Value>)> {
        d.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn entry(e: &[(&str, Value)]) -> Vec<(String, Value)> {
        e.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    /// GitHub's documented example for `include`.
    #[test]
    fn github_include_example() {
        let m = Matrix {
            dims: dims(&[
                ("fruit", vec![json!("apple"), json!("pear")]),
                ("animal", vec![json!("cat"), json!("dog")]),
            ]),
            include: vec![
                entry(&[("color", json!("green"))]),
                entry(&[("color", json!("pink")), ("animal", json!("cat"))]),
                entry(&[("fruit", json!("apple")), ("shape", json!("circle"))]),
                entry(&[("fruit", json!("banana"))]),
                entry(&[("fruit", json!("banana")), ("animal", json!("cat"))]),
            ],
            ..Default::default()
        };
        let got = expand(&m).unwrap();
        let want = vec![
            json!({"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"}),
            json!({"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"}),
            json!({"fruit": "pear", "animal": "cat", "color": "pink"}),
            json!({"fruit": "pear", "animal": "dog", "color": "green"}),
            json!({"fruit": "banana"}),
            json!({"fruit": "banana", "animal": "cat"}),
        ];
        let got: Vec<Value> = got
            .into_iter()
            .map(|c| Value::Object(c.into_iter().collect()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn exclude_partial_match_and_keys() {
        let m = Matrix {
            dims: dims(&[
                ("os", vec![json!("macos"), json!("windows")]),
                ("version", vec![json!(12), json!(14), json!(16)]),
                ("env", vec![json!("staging"), json!("production")]),
            ]),
            exclude: vec![
                entry(&[
                    ("os", json!("macos")),
                    ("version", json!(12)),
                    ("env", json!("production")),
                ]),
                entry(&[("os", json!("windows")), ("version", json!(16))]),
            ],
            ..Default::default()
        };
        let got = expand(&m).unwrap();
        assert_eq!(got.len(), 12 - 1 - 2);
        assert_eq!(job_key("test", &got[0]), "test (macos, 12, staging)");
    }

    #[test]
    fn include_only_and_limits() {
        let m = Matrix {
            include: vec![entry(&[("a", json!(1))]), entry(&[("a", json!(2))])],
            ..Default::default()
        };
        assert_eq!(expand(&m).unwrap().len(), 2);
        let big = Matrix {
            dims: dims(&[
                ("a", (0..20).map(|i| json!(i)).collect()),
                ("b", (0..20).map(|i| json!(i)).collect()),
            ]),
            ..Default::default()
        };
        assert!(expand(&big).is_err());
        let all_gone = Matrix {
            dims: dims(&[("a", vec![json!(1)])]),
            exclude: vec![entry(&[("a", json!(1))])],
            ..Default::default()
        };
        assert!(expand(&all_gone).is_err());
    }
}
