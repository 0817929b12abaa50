//! Tar streams going into containers are checked by gantry itself, entry by entry, while
//! they stream: engines differ (Podman silently rewrites `../x` where Docker refuses it), and
//! no entry may land outside its destination on any engine.

use std::io::Write;
use std::path::{Component, Path};

use bytes::Bytes;
use gantry_backend::BoxedReader;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

/// Writes into a channel of chunks; the stream ends with an error if the archive is bad.
/// A blocking producer (a tar builder) writes; the reader side is an async byte stream.
pub struct ChunkWriter {
    pub(crate) tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    pub(crate) buf: Vec<u8>,
}

impl ChunkWriter {
    /// A writer and the stream of what is written to it. Dropping the writer ends the
    /// stream cleanly; [`Failer::fail`] ends it with an error instead, so a reader
    /// never takes a truncated archive for a whole one.
    pub fn channel() -> (ChunkWriter, BoxedReader) {
        let (tx, rx) = mpsc::channel(4);
        let reader =
            tokio_util::io::StreamReader::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        (
            ChunkWriter {
                tx,
                buf: Vec::new(),
            },
            Box::new(reader),
        )
    }

    /// A handle that ends the stream with an error, to keep before the writer moves into
    /// a tar builder: call [`Failer::fail`] before the builder is dropped (dropping it
    /// writes the end-of-archive blocks, which then stay unsent in the writer's buffer).
    pub fn failer(&self) -> Failer {
        Failer {
            tx: self.tx.clone(),
        }
    }
}

/// Ends a [`ChunkWriter`]'s stream with an error.
pub struct Failer {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl Failer {
    /// Sends `error` as the stream's next item (from a blocking thread).
    pub fn fail(self, error: std::io::Error) {
        let _ = self.tx.blocking_send(Err(error));
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1024 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            self.tx
                .blocking_send(Ok(chunk))
                .map_err(|_| std::io::Error::other("the upload was abandoned"))?;
        }
        Ok(())
    }
}

fn contained(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// The archive re-emitted as a stream of chunks, refusing entries that would escape.
pub fn guarded(archive: BoxedReader) -> mpsc::Receiver<Result<Bytes, std::io::Error>> {
    let (tx, rx) = mpsc::channel(4);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let reader = SyncIoBridge::new_with_handle(archive, handle);
        let err_tx = tx.clone();
        let mut builder = tar::Builder::new(ChunkWriter {
            tx,
            buf: Vec::new(),
        });
        let result = (|| -> std::io::Result<()> {
            let mut input = tar::Archive::new(reader);
            for entry in input.entries()? {
                let mut entry = entry?;
                let path = entry.path()?.into_owned();
                if !contained(&path) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("entry `{}` would escape the destination", path.display()),
                    ));
                }
                let mut header = entry.header().clone();
                match header.entry_type() {
                    tar::EntryType::Symlink | tar::EntryType::Link => {
                        let target = entry
                            .link_name()?
                            .map(|t| t.into_owned())
                            .unwrap_or_default();
                        if header.entry_type() == tar::EntryType::Link && !contained(&target) {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                format!(
                                    "hard link `{}` points outside the archive",
                                    path.display()
                                ),
                            ));
                        }
                        builder.append_link(&mut header, &path, &target)?;
                    }
                    _ => builder.append_data(&mut header, &path, &mut entry)?,
                }
            }
            builder.finish()?;
            builder.get_mut().flush()
        })();
        if let Err(e) = result {
            let _ = err_tx.blocking_send(Err(e));
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment() {
        assert!(contained(Path::new("a/./b")));
        assert!(!contained(Path::new("../a")));
        assert!(!contained(Path::new("/etc/passwd")));
    }
}
