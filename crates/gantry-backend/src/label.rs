//! Label specs: what a `runs-on` label maps to.
//!
//! Forms accepted (as act and Forgejo runner users write them):
//! - `host`, `self-hosted`: a backend id alone;
//! - `docker://IMAGE?opt=value&opt2=value`: a backend scheme, a target and options;
//! - `NAME:docker://IMAGE` (a label string naming itself, Forgejo runner style);
//! - a map in the config file (`backend`, `target`, `options`), see [`LabelSpec`]'s serde form.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// What a label resolves to: a backend, its target (an image, a plugin-specific string)
/// and options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LabelSpec {
    /// The `runs-on` label this spec serves (`ubuntu-latest`).
    #[serde(default)]
    pub label: String,
    /// Backend id (`host`, `docker`, a plugin name).
    pub backend: String,
    /// Backend-specific target: an image for `docker`, empty for `host`.
    #[serde(default)]
    pub target: String,
    /// Options from `?k=v` or the config map (`pull`, `memory`, `network`, ...).
    #[serde(default)]
    pub options: IndexMap<String, String>,
}

/// A label string that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The spec is empty.
    #[error("empty label spec")]
    Empty,
    /// The spec cannot be read.
    #[error("label spec `{spec}`: {reason}")]
    Malformed {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl LabelSpec {
    /// A spec for `backend` with no target or options.
    pub fn new(label: impl Into<String>, backend: impl Into<String>) -> Self {
        LabelSpec {
            label: label.into(),
            backend: backend.into(),
            target: String::new(),
            options: IndexMap::new(),
        }
    }

    /// Parses the right-hand side of `-P LABEL=SPEC` for `label`.
    pub fn parse(label: &str, spec: &str) -> Result<Self, LabelError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(LabelError::Empty);
        }
        let Some((scheme, rest)) = spec.split_once("://") else {
            if !is_backend_id(spec) {
                return Err(LabelError::Malformed {
                    spec: spec.into(),
                    reason: "expected a backend id like `host` or `SCHEME://TARGET?opt=value`"
                        .into(),
                });
            }
            return Ok(LabelSpec::new(label, spec));
        };
        if !is_backend_id(scheme) {
            return Err(LabelError::Malformed {
                spec: spec.into(),
                reason: format!("`{scheme}` is not a backend id (letters, digits, `-`, `_`)"),
            });
        }
        let (target, query) = match rest.split_once('?') {
            Some((t, q)) => (t, Some(q)),
            None => (rest, None),
        };
        let mut options = IndexMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
            if k.is_empty() {
                return Err(LabelError::Malformed {
                    spec: spec.into(),
                    reason: format!("option `{pair}` has no name"),
                });
            }
            options.insert(percent_decode(k), percent_decode(v));
        }
        Ok(LabelSpec {
            label: label.into(),
            backend: scheme.into(),
            target: target.into(),
            options,
        })
    }

    /// Parses `NAME=SPEC` (act's `-P`) or `NAME:SCHEME://...` (Forgejo runner labels).
    pub fn parse_mapping(text: &str) -> Result<Self, LabelError> {
        let text = text.trim();
        // `NAME:SCHEME://...` (Forgejo's form) first: its options may contain `=`.
        let forgejo = text.split_once(':').filter(|(name, spec)| {
            !name.contains('=')
                && spec
                    .split_once("://")
                    .is_some_and(|(scheme, _)| !scheme.contains(['=', '/', '?']))
        });
        let split = forgejo.or_else(|| text.split_once('='));
        if let Some((name, spec)) = split {
            if let Some(reason) = bad_label_name(name) {
                return Err(LabelError::Malformed {
                    spec: text.into(),
                    reason,
                });
            }
            return LabelSpec::parse(name.trim(), spec);
        }
        if let Some((name, spec)) = text.split_once(':') {
            if spec.contains("://") || is_backend_id(spec) {
                if let Some(reason) = bad_label_name(name) {
                    return Err(LabelError::Malformed {
                        spec: text.into(),
                        reason,
                    });
                }
                return LabelSpec::parse(name.trim(), spec);
            }
        }
        Err(LabelError::Malformed {
            spec: text.into(),
            reason: "expected `LABEL=SPEC`, e.g. `ubuntu-latest=docker://gantry-test/busybox:1`"
                .into(),
        })
    }

    /// An option's value.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// The spec written back in its string form (`docker://image?k=v`).
    pub fn to_spec_string(&self) -> String {
        let mut s = if self.target.is_empty() && self.options.is_empty() {
            self.backend.clone()
        } else {
            format!("{}://{}", self.backend, self.target)
        };
        for (i, (k, v)) in self.options.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }
}

fn bad_label_name(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        Some("the label name is empty".into())
    } else if name.chars().any(char::is_whitespace) {
        Some(format!("label name `{name}` contains whitespace"))
    } else {
        None
    }
}

fn is_backend_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_spec_with_options() {
        let s = LabelSpec::parse(
            "ubuntu-latest",
            "docker://gantry-test/busybox:1?pull=never&memory=512m",
        )
        .unwrap();
        assert_eq!(s.backend, "docker");
        assert_eq!(s.target, "gantry-test/busybox:1");
        assert_eq!(s.option("pull"), Some("never"));
        assert_eq!(s.option("memory"), Some("512m"));
        assert_eq!(
            s.to_spec_string(),
            "docker://gantry-test/busybox:1?pull=never&memory=512m"
        );
    }

    #[test]
    fn parses_plain_backend_and_mappings() {
        assert_eq!(LabelSpec::parse("x", "host").unwrap().backend, "host");
        let m = LabelSpec::parse_mapping("ubuntu-latest=docker://img:2").unwrap();
        assert_eq!(
            (m.label.as_str(), m.target.as_str()),
            ("ubuntu-latest", "img:2")
        );
        let m = LabelSpec::parse_mapping("ubuntu-latest:docker://img:2").unwrap();
        assert_eq!(
            (m.label.as_str(), m.target.as_str()),
            ("ubuntu-latest", "img:2")
        ); // Forgejo's form with options: the `=` in them is not the mapping's.
        let m = LabelSpec::parse_mapping("small:docker://img:2?pids=77&memory=1g").unwrap();
        assert_eq!(
            (m.label.as_str(), m.target.as_str(), m.option("pids")),
            ("small", "img:2", Some("77"))
        );
        let m = LabelSpec::parse_mapping("ubuntu-latest=docker://img?pull=never").unwrap();
        assert_eq!(
            (m.label.as_str(), m.option("pull")),
            ("ubuntu-latest", Some("never"))
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(LabelSpec::parse("x", "").is_err());
        assert!(LabelSpec::parse("x", "not a spec").is_err());
        assert!(LabelSpec::parse("x", "do cker://img").is_err());
        assert!(LabelSpec::parse_mapping("noequals").is_err());
        assert!(LabelSpec::parse_mapping("=host").is_err());
        assert_eq!(
            LabelSpec::parse("x", "docker://i?%zz=%4").unwrap().options["%zz"],
            "%4"
        );
    }
}
