//! The job's workspace as a tar stream (what `.gitignore` excludes left out, as act does),
//! to copy into the job's volume.

use std::path::{Path, PathBuf};

use gantry_backend::BoxedReader;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::io::StreamReader;

use crate::guard::ChunkWriter;

/// A tar of `src` with entries under `workspace/`, plus an empty `_temp/` and the
/// `extra` executable (the shim) when given, streamed.
/// A file that cannot be read fails the stream (and so the upload): a job never starts
/// on a partial workspace.
pub fn tar_workspace(
    src: PathBuf,
    include_tree: bool,
    extra: Option<(String, &'static [u8])>,
) -> BoxedReader {
    archive(src, Some("workspace"), include_tree, extra)
}

/// A tar of the tree at `src` with entries relative to it (`.gitignore` respected), for
/// unpacking straight into a workspace directory.
pub fn tar_tree(src: PathBuf) -> BoxedReader {
    archive(src, None, true, None)
}

fn archive(
    src: PathBuf,
    prefix: Option<&'static str>,
    include_tree: bool,
    extra: Option<(String, &'static [u8])>,
) -> BoxedReader {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let err_tx = tx.clone();
        let mut b = tar::Builder::new(ChunkWriter {
            tx,
            buf: Vec::new(),
        });
        b.follow_symlinks(false);
        let result = write_tree(&mut b, &src, prefix, include_tree).and_then(|_| {
            if let Some((name, contents)) = &extra {
                let mut h = tar::Header::new_gnu();
                h.set_size(contents.len() as u64);
                h.set_mode(0o755);
                b.append_data(&mut h, name, *contents)
                    .map_err(|e| e.to_string())?;
            }
            b.into_inner()
                .and_then(|mut w| std::io::Write::flush(&mut w))
                .map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            let _ = err_tx.blocking_send(Err(std::io::Error::other(format!(
                "archiving the workspace {}: {e}",
                src.display()
            ))));
        }
    });
    Box::new(StreamReader::new(ReceiverStream::new(rx)))
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
    prefix: Option<&str>,
    include_tree: bool,
) -> Result<(), String> {
    if let Some(prefix) = prefix {
        b.append_data(&mut dir_header(), format!("{prefix}/"), std::io::empty())
            .map_err(|e| e.to_string())?;
        let mut temp = dir_header();
        temp.set_mode(0o1777);
        b.append_data(&mut temp, "_temp/", std::io::empty())
            .map_err(|e| e.to_string())?;
    }
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
        let name = match prefix {
            Some(p) => Path::new(p).join(rel),
            None => rel.to_path_buf(),
        };
        let ft = entry.file_type();
        if ft.is_some_and(|t| t.is_dir() || t.is_file() || t.is_symlink()) {
            b.append_path_with_name(entry.path(), &name)
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}
