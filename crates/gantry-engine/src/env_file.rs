//! The files steps write to talk back: `$GANTRY_OUTPUT`/`$GITHUB_OUTPUT` and
//! `$GANTRY_ENV`/`$GITHUB_ENV` (`NAME=value` lines or the multi-line `NAME<<DELIM` form),
//! and `$GANTRY_PATH`/`$GITHUB_PATH` (one directory per line).

use indexmap::IndexMap;

/// A malformed line in a step's env or output file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {reason}")]
pub struct EnvFileError {
    /// Which file (`$GANTRY_OUTPUT`, `$GANTRY_ENV`).
    pub file: &'static str,
    /// The line, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses the `NAME=value` / `NAME<<DELIM` format. Later assignments win.
pub fn parse_assignments(
    file: &'static str,
    text: &str,
) -> Result<IndexMap<String, String>, EnvFileError> {
    let mut out = IndexMap::new();
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let line_no = i + 1;
        i += 1;
        if line.trim().is_empty() {
            continue;
        }
        let heredoc = line.find("<<");
        let equals = line.find('=');
        let use_heredoc = match (heredoc, equals) {
            (Some(h), Some(e)) => h < e,
            (Some(_), None) => true,
            _ => false,
        };
        if use_heredoc {
            let (name, delim) = line.split_once("<<").unwrap_or((line, ""));
            check_name(file, line_no, name)?;
            if delim.is_empty() {
                return Err(EnvFileError {
                    file,
                    line: line_no,
                    reason: format!("`{name}<<` has no delimiter"),
                });
            }
            let mut value: Vec<&str> = Vec::new();
            let mut closed = false;
            while i < lines.len() {
                let l = lines[i];
                i += 1;
                if l == delim {
                    closed = true;
                    break;
                }
                value.push(l);
            }
            if !closed {
                return Err(EnvFileError {
                    file,
                    line: line_no,
                    reason: format!("`{name}<<{delim}` is never closed by a line `{delim}`"),
                });
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            check_name(file, line_no, name)?;
            out.insert(name.to_string(), value.to_string());
        } else {
            return Err(EnvFileError {
                file,
                line: line_no,
                reason: format!(
                    "expected `NAME=value` or `NAME<<DELIMITER`, found `{}`",
                    truncate(line)
                ),
            });
        }
    }
    Ok(out)
}

/// Parses a path file: one directory per non-empty line, in order.
pub fn parse_paths(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn check_name(file: &'static str, line: usize, name: &str) -> Result<(), EnvFileError> {
    if name.is_empty() || name.trim() != name || name.contains(char::is_whitespace) {
        return Err(EnvFileError {
            file,
            line,
            reason: format!("invalid name `{}`", truncate(name)),
        });
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simple_and_heredoc() {
        let text = "a=1\nb=x=y\n\nmulti<<EOF\nline 1\nline 2\nEOF\nc=\n";
        let m = parse_assignments("output", text).unwrap();
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "x=y");
        assert_eq!(m["multi"], "line 1\nline 2");
        assert_eq!(m["c"], "");
    }

    #[test]
    fn heredoc_with_equals_in_delimiter_line() {
        let m = parse_assignments("env", "json<<_GANTRY_\n{\"a\":\"b=c\"}\n_GANTRY_\n").unwrap();
        assert_eq!(m["json"], "{\"a\":\"b=c\"}");
    }

    #[test]
    fn rejects_bad_lines() {
        assert_eq!(parse_assignments("env", "novalue\n").unwrap_err().line, 1);
        let e = parse_assignments("output", "ok=1\nx<<EOF\nnever closed\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("never closed"));
        assert!(parse_assignments("env", " spaced=1").is_err());
    }

    #[test]
    fn crlf_and_paths() {
        assert_eq!(parse_assignments("env", "a=1\r\n").unwrap()["a"], "1");
        assert_eq!(parse_paths("/a\n\n /b \n"), vec!["/a", "/b"]);
    }
}
