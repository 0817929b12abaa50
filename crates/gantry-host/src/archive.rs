//! Tar streams in and out of a host directory, with paths kept inside their root.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use gantry_backend::{BackendError, BoxedReader};
use tokio_util::io::SyncIoBridge;

/// Unpacks `archive` into `dest`, refusing any entry that would land outside it.
pub(crate) async fn unpack(dest: PathBuf, archive: BoxedReader) -> Result<(), BackendError> {
    let bridge = SyncIoBridge::new(archive);
    tokio::task::spawn_blocking(move || unpack_sync(&dest, bridge))
        .await
        .map_err(|e| BackendError::Other(format!("unpack task failed: {e}")))?
}

fn copy_err(path: &Path, reason: impl std::fmt::Display) -> BackendError {
    BackendError::Copy {
        direction: "in",
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn unpack_sync(dest: &Path, reader: impl Read) -> Result<(), BackendError> {
    std::fs::create_dir_all(dest).map_err(|e| BackendError::io(dest.display(), e))?;
    // Large reads: tar reads entries in 8 KiB pieces, each a hop to the async side.
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, reader));
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    let entries = archive.entries().map_err(|e| copy_err(dest, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| copy_err(dest, e))?;
        let path = entry.path().map_err(|e| copy_err(dest, e))?.into_owned();
        if !is_contained(&path) {
            return Err(copy_err(
                dest,
                format!("entry `{}` would escape the destination", path.display()),
            ));
        }
        // `unpack_in` refuses `..` and writes through no symlink that leaves `dest`.
        let inside = entry
            .unpack_in(dest)
            .map_err(|e| copy_err(&dest.join(&path), e))?;
        if !inside {
            return Err(copy_err(
                dest,
                format!("entry `{}` would escape the destination", path.display()),
            ));
        }
    }
    Ok(())
}

fn is_contained(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Streams `path` out as a tar whose entries are relative to its parent (like `docker cp`).
pub(crate) fn pack(path: PathBuf) -> Result<BoxedReader, BackendError> {
    let meta = std::fs::symlink_metadata(&path).map_err(|e| BackendError::Copy {
        direction: "out",
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let name = path.file_name().map(PathBuf::from).ok_or_else(|| {
        BackendError::InvalidRequest(format!("`{}` has no file name to archive", path.display()))
    })?;
    let (writer, reader) = gantry_archive::ChunkWriter::channel();
    let failer = writer.failer();
    tokio::task::spawn_blocking(move || {
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        let result = if meta.is_dir() {
            builder.append_dir_all(&name, &path)
        } else {
            builder.append_path_with_name(&path, &name)
        };
        let result = result
            .and_then(|()| builder.into_inner())
            .and_then(|mut w| std::io::Write::flush(&mut w));
        if let Err(e) = result {
            // A file that cannot be read fails the stream: a copy is whole or an error.
            failer.fail(std::io::Error::other(format!(
                "archiving {}: {e}",
                path.display()
            )));
        }
    });
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment() {
        assert!(is_contained(Path::new("a/b/./c")));
        assert!(!is_contained(Path::new("../x")));
        assert!(!is_contained(Path::new("/etc/x")));
        assert!(!is_contained(Path::new("a/../../x")));
    }
}
