//! The job's workspace as a tar stream (what `.gitignore` excludes left out, as act does),
//! to copy into the job's volume.

use std::path::{Path, PathBuf};

use gantry_backend::BoxedReader;
use tokio_util::io::SyncIoBridge;

/// A tar of `src` with entries under `workspace/`, plus an empty `_temp/`, streamed.
pub fn tar_workspace(src: PathBuf, include_tree: bool) -> BoxedReader {
    let (reader, writer) = tokio::io::duplex(256 * 1024);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let writer = SyncIoBridge::new_with_handle(writer, handle);
        let mut b = tar::Builder::new(writer);
        b.follow_symlinks(false);
        if let Err(e) = write_tree(&mut b, &src, include_tree)
            .and_then(|_| b.into_inner().map(|_| ()).map_err(|e| e.to_string()))
        {
            tracing::warn!("archiving the workspace {}: {e}", src.display());
        }
    });
    Box::new(reader)
}

fn dir_header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o777);
    h.set_size(0);
    h
}

fn write_tree<W: std::io::Write>(
    b: &mut tar::Builder<W>,
    src: &Path,
    include_tree: bool,
) -> Result<(), String> {
    b.append_data(&mut dir_header(), "workspace/", std::io::empty())
        .map_err(|e| e.to_string())?;
    let mut temp = dir_header();
    temp.set_mode(0o1777);
    b.append_data(&mut temp, "_temp/", std::io::empty())
        .map_err(|e| e.to_string())?;
    if !include_tree {
        return Ok(());
    }
    let walker = ignore::WalkBuilder::new(src)
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(false)
        .parents(false)
        .require_git(false)
        .follow_links(false)
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| e.to_string())?;
        let Ok(rel) = entry.path().strip_prefix(src) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let name = Path::new("workspace").join(rel);
        let ft = entry.file_type();
        if ft.is_some_and(|t| t.is_dir() || t.is_file() || t.is_symlink()) {
            b.append_path_with_name(entry.path(), &name)
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}
