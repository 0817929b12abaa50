//! Loading secrets: from the environment by name, or from a dotenv-like file. Never from
//! argv, where any user on the machine could read them.

use std::path::Path;

use indexmap::IndexMap;

/// Why secrets could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `--secret NAME` names no environment variable.
    #[error("secret `{0}`: no environment variable of that name is set; export it before running gantry")]
    MissingEnv(String),
    /// A value was given on the command line.
    #[error("--secret {0}=...: secret values must not be given on the command line (other users can read argv); export {0} and pass `--secret {0}`, or use --secret-file")]
    ValueInArgv(String),
    #[error(
        "secret name `{0}` is invalid: use letters, digits and `_`, not starting with a digit"
    )]
    /// The name cannot be a secret's.
    BadName(String),
    /// A secret file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A line of a secret file cannot be read.
    #[error("{path}:{line}: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Named secret values, in the order they were added (later wins).
#[derive(Debug, Default, Clone)]
pub struct SecretSet {
    values: IndexMap<String, String>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SecretSet {
    /// Adds secret `name` with the value of the environment variable of the same name.
    pub fn add_from_env(&mut self, name: &str) -> Result<(), SecretError> {
        if let Some((n, _)) = name.split_once('=') {
            return Err(SecretError::ValueInArgv(n.to_string()));
        }
        if !valid_name(name) {
            return Err(SecretError::BadName(name.to_string()));
        }
        let value = std::env::var(name).map_err(|_| SecretError::MissingEnv(name.to_string()))?;
        self.values.insert(name.to_string(), value);
        Ok(())
    }

    /// Adds every secret in `path`: `NAME=value` lines, `#` comments, blank lines, an
    /// optional `export ` prefix, quoted values (`\n` escapes inside double quotes) and
    /// multi-line `NAME<<EOF` ... `EOF` blocks.
    pub fn load_file(&mut self, path: &Path) -> Result<(), SecretError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.load_text(&path.display().to_string(), &text)
    }

    fn load_text(&mut self, path: &str, text: &str) -> Result<(), SecretError> {
        let err = |line: usize, reason: String| SecretError::Syntax {
            path: path.to_string(),
            line,
            reason,
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let no = i + 1;
            let line = lines[i].trim();
            i += 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line
                .strip_prefix("export ")
                .map(str::trim_start)
                .unwrap_or(line);
            let heredoc = line.find("<<");
            let eq = line.find('=');
            if let (Some(h), true) = (heredoc, eq.is_none_or(|e| heredoc.is_some_and(|h| h < e))) {
                let (name, delim) = (line[..h].trim(), line[h + 2..].trim());
                if !valid_name(name) {
                    return Err(err(no, format!("invalid name `{name}`")));
                }
                if delim.is_empty() {
                    return Err(err(
                        no,
                        format!("`{name}<<` needs a delimiter, e.g. `{name}<<EOF`"),
                    ));
                }
                let mut value = Vec::new();
                loop {
                    let Some(l) = lines.get(i) else {
                        return Err(err(
                            no,
                            format!("`{name}<<{delim}` is never closed by a line `{delim}`"),
                        ));
                    };
                    i += 1;
                    if l.trim_end() == delim {
                        break;
                    }
                    value.push(*l);
                }
                self.values.insert(name.to_string(), value.join("\n"));
                continue;
            }
            let Some((name, raw)) = line.split_once('=') else {
                return Err(err(no, "expected `NAME=value` or `NAME<<EOF`".into()));
            };
            let name = name.trim();
            if !valid_name(name) {
                return Err(err(no, format!("invalid name `{name}`")));
            }
            let raw = raw.trim();
            let value = if let Some(inner) = raw.strip_prefix('"') {
                let inner = inner
                    .strip_suffix('"')
                    .ok_or_else(|| err(no, "unterminated double quote".into()))?;
                unescape(inner)
            } else if let Some(inner) = raw.strip_prefix('\'') {
                inner
                    .strip_suffix('\'')
                    .ok_or_else(|| err(no, "unterminated single quote".into()))?
                    .to_string()
            } else {
                raw.to_string()
            };
            self.values.insert(name.to_string(), value);
        }
        Ok(())
    }

    /// The secrets by name.
    pub fn into_map(self) -> IndexMap<String, String> {
        self.values
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_file_format() {
        let mut s = SecretSet::default();
        s.load_text(
            "f",
            "# c\n\nA=1\nexport B = two words \nC=\"x\\ny\"\nD='lit\\n'\nKEY<<EOF\nl1\nl2\nEOF\nE=a=b\n",
        )
        .unwrap();
        let m = s.into_map();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "x\ny");
        assert_eq!(m["D"], "lit\\n");
        assert_eq!(m["KEY"], "l1\nl2");
        assert_eq!(m["E"], "a=b");
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("A=1\nnope\n", 2),
            ("K<<E\nno end\n", 1),
            ("1A=x\n", 1),
            ("A=\"open\n", 1),
        ] {
            match SecretSet::default().load_text("f", text) {
                Err(SecretError::Syntax { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn argv_values_are_refused() {
        assert!(matches!(
            SecretSet::default().add_from_env("X=y"),
            Err(SecretError::ValueInArgv(_))
        ));
        assert!(matches!(
            SecretSet::default().add_from_env("GANTRY_SURELY_UNSET_VAR_1"),
            Err(SecretError::MissingEnv(_))
        ));
    }
}
