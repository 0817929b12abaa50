//! The functions GitHub defines for expressions.

use std::io::Read;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ast::Func;
use crate::coerce::{loose_eq, to_display_string};
use crate::{EvalContext, EvalError, JobStatus};

pub(crate) fn call(func: Func, args: &[Value], ctx: &EvalContext) -> Result<Value, EvalError> {
    let s = |i: usize| args.get(i).map(to_display_string).unwrap_or_default();
    Ok(match func {
        Func::Contains => Value::Bool(match args.first() {
            Some(Value::Array(items)) => {
                let needle = args.get(1).cloned().unwrap_or(Value::Null);
                items.iter().any(|i| loose_eq(i, &needle))
            }
            _ => s(0).to_lowercase().contains(&s(1).to_lowercase()),
        }),
        Func::StartsWith => Value::Bool(s(0).to_lowercase().starts_with(&s(1).to_lowercase())),
        Func::EndsWith => Value::Bool(s(0).to_lowercase().ends_with(&s(1).to_lowercase())),
        Func::Format => Value::String(format(&s(0), &args[1.min(args.len())..])?),
        Func::Join => {
            let sep = if args.len() > 1 {
                s(1)
            } else {
                ",".to_string()
            };
            Value::String(match args.first() {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(to_display_string)
                    .collect::<Vec<_>>()
                    .join(&sep),
                Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                    to_display_string(v)
                }
                _ => String::new(),
            })
        }
        Func::ToJson => Value::String(
            serde_json::to_string_pretty(args.first().unwrap_or(&Value::Null))
                .map_err(|e| EvalError(format!("toJSON: {e}")))?,
        ),
        Func::FromJson => {
            let text = s(0);
            serde_json::from_str(text.trim()).map_err(|e| {
                let shown: String = text.chars().take(40).collect();
                EvalError(format!("fromJSON: `{shown}` is not JSON: {e}"))
            })?
        }
        Func::HashFiles => Value::String(hash_files(args, ctx)?),
        Func::Success => Value::Bool(ctx.status == JobStatus::Success),
        Func::Failure => Value::Bool(ctx.status == JobStatus::Failure),
        Func::Cancelled => Value::Bool(ctx.status == JobStatus::Cancelled),
        Func::Always => Value::Bool(true),
    })
}

/// `format('{0} and {1}', a, b)` with `{{` and `}}` as literal braces.
fn format(fmt: &str, args: &[Value]) -> Result<String, EvalError> {
    let mut out = String::with_capacity(fmt.len());
    let mut chars = fmt.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let rest = &fmt[i + 1..];
                let close = rest
                    .find('}')
                    .ok_or_else(|| EvalError(format!("format: `{{` at position {i} is not closed; write `{{{{` for a literal brace")))?;
                let n: usize = rest[..close].trim().parse().map_err(|_| {
                    EvalError(format!(
                        "format: `{{{}}}` is not an argument index",
                        crate::lexer::excerpt(&rest[..close])
                    ))
                })?;
                let v = args.get(n).ok_or_else(|| {
                    EvalError(format!(
                        "format: `{{{n}}}` but only {} argument(s) given",
                        args.len()
                    ))
                })?;
                out.push_str(&to_display_string(v));
                for _ in 0..=close {
                    chars.next();
                }
            }
            '}' => {
                return Err(EvalError(format!(
                    "format: `}}` at position {i} has no `{{`; write `}}}}` for a literal brace"
                )))
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// sha256 over the sha256 of every file matching the patterns (sorted), `""` when none.
fn hash_files(args: &[Value], ctx: &EvalContext) -> Result<String, EvalError> {
    let root = ctx
        .workspace
        .as_ref()
        .ok_or_else(|| EvalError("hashFiles: no workspace to search here".into()))?;
    let mut include = globset::GlobSetBuilder::new();
    let mut exclude = globset::GlobSetBuilder::new();
    for a in args {
        let p = to_display_string(a);
        let (set, pat) = match p.strip_prefix('!') {
            Some(rest) => (&mut exclude, rest.to_string()),
            None => (&mut include, p),
        };
        let pat = pat.trim_start_matches("./").to_string();
        let glob = globset::GlobBuilder::new(&pat)
            .literal_separator(true)
            .build()
            .map_err(|e| EvalError(format!("hashFiles: pattern `{pat}`: {e}")))?;
        set.add(glob);
    }
    let include = include
        .build()
        .map_err(|e| EvalError(format!("hashFiles: {e}")))?;
    let exclude = exclude
        .build()
        .map_err(|e| EvalError(format!("hashFiles: {e}")))?;
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        if include.is_match(rel) && !exclude.is_match(rel) {
            files.push(entry.path().to_path_buf());
        }
    }
    if files.is_empty() {
        return Ok(String::new());
    }
    files.sort();
    let mut outer = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    for f in files {
        let mut file = std::fs::File::open(&f)
            .map_err(|e| EvalError(format!("hashFiles: {}: {e}", f.display())))?;
        let mut inner = Sha256::new();
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| EvalError(format!("hashFiles: {}: {e}", f.display())))?;
            if n == 0 {
                break;
            }
            inner.update(&buf[..n]);
        }
        outer.update(inner.finalize());
    }
    Ok(outer
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
