//! Finding the workflow files a command works on.

use std::path::{Path, PathBuf};

use crate::exit::CliError;

/// Where workflows are looked for when no path is given, in order.
pub(crate) const WORKFLOW_DIRS: [&str; 3] = [
    ".gantry/workflows",
    ".github/workflows",
    ".forgejo/workflows",
];

/// The workflow files for `path` (a file, a directory, or the default directories).
pub(crate) fn workflow_files(path: Option<&Path>) -> Result<Vec<PathBuf>, CliError> {
    match path {
        Some(p) if p.is_dir() => {
            let files = yaml_files(p)?;
            if files.is_empty() {
                return Err(CliError::Usage(format!(
                    "{}: no .yml or .yaml workflow files here",
                    p.display()
                )));
            }
            Ok(files)
        }
        Some(p) => {
            if !p.exists() {
                return Err(CliError::Usage(format!(
                    "{}: no such file or directory",
                    p.display()
                )));
            }
            Ok(vec![p.to_path_buf()])
        }
        None => {
            for dir in WORKFLOW_DIRS {
                let d = Path::new(dir);
                if d.is_dir() {
                    let files = yaml_files(d)?;
                    if !files.is_empty() {
                        return Ok(files);
                    }
                }
            }
            Err(CliError::Usage(format!(
                "no workflow given and none found in {}; pass a file: `gantry run ci.yml`",
                WORKFLOW_DIRS.join(", ")
            )))
        }
    }
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::io(dir.display(), e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CliError::io(dir.display(), e))?;
        let p = entry.path();
        if p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}
