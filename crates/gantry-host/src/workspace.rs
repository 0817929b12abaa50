//! The job's private copy of the working tree.
//!
//! Like act, the copy leaves out what `.gitignore` excludes (build output such as
//! `target/` can be gigabytes); `.git` itself is kept so git commands work in steps.
//! Symlinks are copied as symlinks, never followed.

use std::path::{Path, PathBuf};

use gantry_backend::BackendError;

/// Copies `src` into `dest` (which exists), honouring ignore files and never descending
/// into `skip` (the backend's own root and gantry's state, which may lie inside the tree).
pub(crate) fn copy_tree(src: &Path, dest: &Path, skip: &[PathBuf]) -> Result<u64, BackendError> {
    let mut files = 0u64;
    let src = src
        .canonicalize()
        .map_err(|e| BackendError::io(src.display(), e))?;
    let src = src.as_path();
    let skip: Vec<PathBuf> = skip
        .iter()
        .map(|s| s.canonicalize().unwrap_or_else(|_| s.clone()))
        .collect();
    let walker = ignore::WalkBuilder::new(src)
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(false)
        .parents(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(move |e| !skip.iter().any(|s| e.path() == s))
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| BackendError::Setup {
            what: format!("copying the workspace from {}", src.display()),
            reason: e.to_string(),
        })?;
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(src) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(rel);
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| BackendError::io(target.display(), e))?;
            let mode = std::fs::metadata(path)
                .map_err(|e| BackendError::io(path.display(), e))?
                .permissions();
            std::fs::set_permissions(&target, mode)
                .map_err(|e| BackendError::io(target.display(), e))?;
        } else if ft.is_symlink() {
            let link = std::fs::read_link(path).map_err(|e| BackendError::io(path.display(), e))?;
            std::os::unix::fs::symlink(&link, &target)
                .map_err(|e| BackendError::io(target.display(), e))?;
        } else if ft.is_file() {
            std::fs::copy(path, &target).map_err(|e| BackendError::io(path.display(), e))?;
            files += 1;
        }
        // Sockets, fifos and devices are not part of a workspace.
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_symlinks_and_honours_gitignore() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("a/b")).unwrap();
        std::fs::create_dir_all(src.path().join("target/debug")).unwrap();
        std::fs::create_dir_all(src.path().join("state/work")).unwrap();
        std::fs::write(src.path().join("state/work/x"), "no").unwrap();
        std::fs::write(src.path().join("a/b/f.txt"), "hi").unwrap();
        std::fs::write(src.path().join("target/debug/big"), "x").unwrap();
        std::fs::write(src.path().join(".gitignore"), "/target\n").unwrap();
        std::os::unix::fs::symlink("a/b/f.txt", src.path().join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("outside")).unwrap();
        copy_tree(src.path(), dest.path(), &[src.path().join("state")]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.path().join("a/b/f.txt")).unwrap(),
            "hi"
        );
        assert_eq!(
            std::fs::read_link(dest.path().join("link")).unwrap(),
            Path::new("a/b/f.txt")
        );
        assert_eq!(
            std::fs::read_link(dest.path().join("outside")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(dest.path().join(".gitignore").exists());
        assert!(!dest.path().join("target").exists());
        assert!(
            !dest.path().join("state").exists(),
            "the backend's root is never copied"
        );
    }
}
