//! Object keys: `/`-separated relative names that cannot escape the store.

use crate::store::StoreError;

/// A checked key: non-empty components, none of them `.`, `..`, empty, or holding `\`,
/// NUL or control characters; at most 1024 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Checks `key`.
    pub fn new(key: &str) -> Result<ObjectKey, StoreError> {
        let bad = |why: &str| StoreError::BadKey {
            key: key.chars().take(200).collect(),
            reason: why.into(),
        };
        if key.is_empty() || key.len() > 1024 {
            return Err(bad("must be 1 to 1024 bytes"));
        }
        if key.starts_with('/') {
            return Err(bad("must be relative"));
        }
        for part in key.split('/') {
            match part {
                "" => return Err(bad("has an empty component")),
                "." | ".." => return Err(bad("has a `.` or `..` component")),
                p if p.chars().any(|c| c == '\\' || c.is_control()) => {
                    return Err(bad("has a backslash or a control character"))
                }
                _ => {}
            }
        }
        Ok(ObjectKey(key.to_string()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An artifact name as users write it: letters, digits and `-_.+@`, not starting with `.`.
pub fn check_artifact_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+@ ".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "artifact name `{}` may hold only letters, digits, space and `-_.+@`, and not start with `.`",
            name.chars().take(100).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a//b",
            "./a",
            "a\\b",
            "a\0b",
            "a/",
        ] {
            assert!(ObjectKey::new(bad).is_err(), "{bad:?}");
        }
        assert!(ObjectKey::new("runs/01H/artifacts/dist.tar").is_ok());
        assert!(check_artifact_name("dist-linux_x64.1").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "x\ny"] {
            assert!(check_artifact_name(bad).is_err(), "{bad:?}");
        }
    }
}
