//! Matrix expansion as GitHub documents it: the cartesian product of the keys, minus
//! `exclude` (partial matches), then each `include` entry extends every combination it
//! does not contradict on an original key, or becomes a combination of its own.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::Value;

use crate::model::Matrix;

/// GitHub's limit on combinations per job.
pub(crate) const MAX_COMBINATIONS: usize = 256;

pub(crate) type Combination = IndexMap<String, Value>;

/// The combinations of `m` (empty keys and includes: one empty combination).
///
/// The size is computed before anything is expanded ([`count`]), so a 4000x4000 matrix is
/// refused at once instead of after building its 16 million combinations.
pub(crate) fn expand(m: &Matrix) -> Result<Vec<Combination>, String> {
    let shape = Shape::new(m);
    let base = shape.count();
    if base > MAX_COMBINATIONS as u128 {
        return Err(format!(
            "the matrix has {} combinations{}; GitHub's limit is {MAX_COMBINATIONS}",
            shown(base),
            if m.exclude.is_empty() {
                ""
            } else {
                " after `exclude`"
            }
        ));
    }
    let mut combos: Vec<Combination> = shape
        .enumerate()
        .into_iter()
        .map(|picks| {
            m.dims
                .iter()
                .zip(picks)
                .map(|((k, values), i)| (k.clone(), values[i].clone()))
                .collect()
        })
        .collect();
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
            if combos.len() > MAX_COMBINATIONS {
                return Err(format!(
                    "the matrix has more than {MAX_COMBINATIONS} combinations with its `include` entries; GitHub's limit is {MAX_COMBINATIONS}"
                ));
            }
        }
    }
    if combos.is_empty() {
        return Err("the matrix has no combinations left after `exclude`".into());
    }
    Ok(combos)
}

/// A count for a message; counts past `u128` are only "astronomical".
fn shown(n: u128) -> String {
    if n == u128::MAX {
        "more than 10^38".into()
    } else {
        n.to_string()
    }
}

/// A value's identity for matching: JSON with object keys sorted (two mappings with the
/// same keys in another order are equal, as `Value`s are).
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, String)> =
                m.iter().map(|(k, v)| (k, canonical(v))).collect();
            entries.sort();
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The cartesian part of a matrix and its `exclude` entries, indexed for counting and
/// enumerating without expanding.
struct Shape {
    /// Each dimension's values, canonical.
    values: Vec<Vec<String>>,
    /// How often each canonical value occurs in each dimension.
    counts: Vec<HashMap<String, u128>>,
    /// Exclude entries that can match: (dimension, canonical value) pairs. An entry naming
    /// a key the matrix does not have never matches and is left out.
    excludes: Vec<Vec<(usize, String)>>,
    /// The last dimension each exclude entry names (`None` for an empty entry).
    last_dim: Vec<Option<usize>>,
}

impl Shape {
    fn new(m: &Matrix) -> Self {
        let index: HashMap<&str, usize> = m
            .dims
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.as_str(), i))
            .collect();
        let values: Vec<Vec<String>> = m
            .dims
            .iter()
            .map(|(_, vs)| vs.iter().map(canonical).collect())
            .collect();
        let counts = values
            .iter()
            .map(|vs| {
                let mut c: HashMap<String, u128> = HashMap::new();
                for v in vs {
                    *c.entry(v.clone()).or_default() += 1;
                }
                c
            })
            .collect();
        let excludes: Vec<Vec<(usize, String)>> = m
            .exclude
            .iter()
            .filter_map(|entry| {
                entry
                    .iter()
                    .map(|(k, v)| index.get(k.as_str()).map(|&d| (d, canonical(v))))
                    .collect::<Option<Vec<_>>>()
            })
            .collect();
        let last_dim = excludes
            .iter()
            .map(|e| e.iter().map(|(d, _)| *d).max())
            .collect();
        Shape {
            values,
            counts,
            excludes,
            last_dim,
        }
    }

    /// The value exclude entry `e` requires of dimension `d`, if it names `d`.
    fn fixes(&self, e: usize, d: usize) -> Option<&str> {
        self.excludes[e]
            .iter()
            .find(|(dim, _)| *dim == d)
            .map(|(_, v)| v.as_str())
    }

    /// True when one of `live` (entries consistent with the values chosen for the first
    /// `depth` dimensions) names no later dimension: it matches, so the prefix is excluded.
    fn excluded(&self, live: &[usize], depth: usize) -> bool {
        live.iter()
            .any(|&e| self.last_dim[e].is_none_or(|last| last < depth))
    }

    /// How many combinations survive `exclude` (saturating), without enumerating them:
    /// values of a dimension that no live entry names are counted together, and once no
    /// entry can match, the rest is a product.
    fn count(&self) -> u128 {
        let n = self.values.len();
        if n == 0 {
            return 0;
        }
        let mut suffix = vec![1u128; n + 1];
        for d in (0..n).rev() {
            suffix[d] = suffix[d + 1].saturating_mul(self.values[d].len() as u128);
        }
        let mut total = 0u128;
        let mut stack = vec![(0usize, (0..self.excludes.len()).collect::<Vec<_>>(), 1u128)];
        while let Some((depth, live, mult)) = stack.pop() {
            if self.excluded(&live, depth) {
                continue;
            }
            if live.is_empty() || depth == n {
                total = total.saturating_add(mult.saturating_mul(suffix[depth]));
                continue;
            }
            let mut named: Vec<&str> = live.iter().filter_map(|&e| self.fixes(e, depth)).collect();
            named.sort_unstable();
            named.dedup();
            let mut named_total = 0u128;
            for v in named {
                let c = self.counts[depth].get(v).copied().unwrap_or(0);
                if c == 0 {
                    continue;
                }
                named_total += c;
                let child: Vec<usize> = live
                    .iter()
                    .copied()
                    .filter(|&e| self.fixes(e, depth).is_none_or(|x| x == v))
                    .collect();
                stack.push((depth + 1, child, mult.saturating_mul(c)));
            }
            let other = self.values[depth].len() as u128 - named_total;
            if other > 0 {
                let child: Vec<usize> = live
                    .iter()
                    .copied()
                    .filter(|&e| self.fixes(e, depth).is_none())
                    .collect();
                stack.push((depth + 1, child, mult.saturating_mul(other)));
            }
        }
        total
    }

    /// The surviving combinations as value indices, in GitHub's order (the first key
    /// varies slowest). Call only when [`Shape::count`] is small: the work is about that
    /// count times the number of dimensions and values.
    fn enumerate(&self) -> Vec<Vec<usize>> {
        let n = self.values.len();
        let mut out = Vec::new();
        let all: Vec<usize> = (0..self.excludes.len()).collect();
        if n == 0 || self.excluded(&all, 0) {
            return out;
        }
        // Backtracking with one prefix and a cursor per level (no recursion, no copies of
        // the prefix), so thousands of one-value keys cost no more than their number.
        let mut levels: Vec<(Vec<usize>, usize)> = vec![(all, 0)];
        let mut prefix: Vec<usize> = Vec::new();
        while let Some((live, next)) = levels.last_mut() {
            let depth = prefix.len();
            if depth == n {
                out.push(prefix.clone());
                levels.pop();
                prefix.pop();
                continue;
            }
            let Some(v) = self.values[depth].get(*next) else {
                levels.pop();
                prefix.pop();
                continue;
            };
            let i = *next;
            *next += 1;
            let child: Vec<usize> = live
                .iter()
                .copied()
                .filter(|&e| self.fixes(e, depth).is_none_or(|x| x == v))
                .collect();
            if self.excluded(&child, depth + 1) {
                continue;
            }
            prefix.push(i);
            levels.push((child, 0));
        }
        out
    }
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

    /// The expansion as documented, by brute force: the reference for the counting.
    fn naive(m: &Matrix) -> Vec<Combination> {
        let mut combos: Vec<Combination> = vec![IndexMap::new()];
        for (key, values) in &m.dims {
            combos = combos
                .iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.insert(key.clone(), v.clone());
                        c
                    })
                })
                .collect();
        }
        if m.dims.is_empty() {
            combos.clear();
        }
        combos.retain(|c| {
            !m.exclude
                .iter()
                .any(|ex| ex.iter().all(|(k, v)| c.get(k) == Some(v)))
        });
        combos
    }

    fn small_matrix() -> impl proptest::strategy::Strategy<Value = Matrix> {
        use proptest::prelude::*;
        let value = prop_oneof![(0..3i64).prop_map(|i| json!(i)), Just(json!("x"))];
        let dims = proptest::collection::vec(proptest::collection::vec(value.clone(), 0..4), 0..4);
        let entry = proptest::collection::vec((0..5usize, value), 0..3);
        (dims, proptest::collection::vec(entry, 0..4)).prop_map(|(dims, excludes)| Matrix {
            dims: dims
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("k{i}"), v))
                .collect(),
            exclude: excludes
                .into_iter()
                .map(|e| {
                    let mut seen = std::collections::HashSet::new();
                    e.into_iter()
                        .filter(|(k, _)| seen.insert(*k))
                        .map(|(k, v)| (format!("k{k}"), v))
                        .collect()
                })
                .collect(),
            ..Default::default()
        })
    }

    proptest::proptest! {
        /// Counting and enumerating without expanding agree with brute force.
        #[test]
        fn count_and_enumerate_agree_with_brute_force(m in small_matrix()) {
            let want = naive(&m);
            let shape = Shape::new(&m);
            proptest::prop_assert_eq!(shape.count(), want.len() as u128);
            let got: Vec<Combination> = shape
                .enumerate()
                .into_iter()
                .map(|picks| {
                    m.dims
                        .iter()
                        .zip(picks)
                        .map(|((k, values), i)| (k.clone(), values[i].clone()))
                        .collect()
                })
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    /// Issue 10: a 4000x4000 matrix took 8 GB and 29 s before the limit refused it.
    #[test]
    fn a_4000x4000_matrix_is_refused_before_it_is_expanded() {
        let values: Vec<Value> = (0..4000).map(|i| json!(i)).collect();
        let mut m = Matrix {
            dims: dims(&[("a", values.clone()), ("b", values.clone())]),
            ..Default::default()
        };
        let e = expand(&m).unwrap_err();
        assert!(e.contains("16000000 combinations"), "{e}");
        // Excludes that leave few are counted, not expanded: all but a=0 and b<10 removed.
        m.exclude = (1..4000)
            .map(|i| entry(&[("a", json!(i))]))
            .chain((10..4000).map(|i| entry(&[("b", json!(i))])))
            .collect();
        let got = expand(&m).unwrap();
        assert_eq!(got.len(), 10);
        assert_eq!(job_key("t", &got[9]), "t (0, 9)");
    }
}
