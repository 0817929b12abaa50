//! Moving pack bytes: gantry itself uploads to and downloads from the URLs an adapter
//! hands out (`file://` absolute paths, `http(s)://` with a streaming request), so the
//! adapter never sees the bytes. A `file://` upload creates the directories it needs (as
//! epack's CLI does) and never follows a symlink at the destination; a download goes to a
//! temp file beside its destination while it is hashed, so the caller can verify it
//! before renaming it into place.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::RemoteError;
use crate::lock::hex;
use crate::protocol::{Download, Upload};

/// Context for error messages and the confinement of `file://` URLs.
#[derive(Debug, Clone, Copy)]
pub struct TransferContext<'a> {
    /// The remote's name.
    pub adapter: &'a str,
    /// The command whose URL it is.
    pub command: &'a str,
    /// `file://` URLs must be inside this directory, when set (epack's
    /// `transport.file_root`).
    pub file_root: Option<&'a Path>,
}

impl TransferContext<'_> {
    fn fail(&self, url: &str, reason: impl Into<String>) -> RemoteError {
        RemoteError::Transfer {
            adapter: self.adapter.to_string(),
            command: self.command.to_string(),
            url: url.to_string(),
            reason: reason.into(),
        }
    }
}

/// A `file://` URL's path: absolute, free of `..`, inside the file root when one is set.
fn file_path(cx: TransferContext<'_>, url: &url::Url) -> Result<PathBuf, RemoteError> {
    let path = url
        .to_file_path()
        .map_err(|()| cx.fail(url.as_str(), "not a local absolute file URL"))?;
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(cx.fail(
            url.as_str(),
            "file URLs must be absolute paths without `..`",
        ));
    }
    if let Some(root) = cx.file_root {
        if !path.starts_with(root) {
            return Err(cx.fail(
                url.as_str(),
                format!("the path is outside `file-root` {}", root.display()),
            ));
        }
    }
    Ok(path)
}

fn parse(cx: TransferContext<'_>, raw: &str) -> Result<url::Url, RemoteError> {
    url::Url::parse(raw).map_err(|e| cx.fail(raw, format!("bad URL: {e}")))
}

/// Uploads the pack at `pack` (`size` bytes) as `upload` says. The caller has already
/// handled `method: "skip"`.
pub async fn upload(
    cx: TransferContext<'_>,
    pack: &Path,
    size: u64,
    upload: &Upload,
) -> Result<(), RemoteError> {
    let raw_url = upload.url.as_str();
    let url = parse(cx, raw_url)?;
    match url.scheme() {
        "file" => {
            let dest = file_path(cx, &url)?;
            let pack = pack.to_path_buf();
            let shown = raw_url.to_string();
            let copied = tokio::task::spawn_blocking(move || copy_to_file(&pack, &dest))
                .await
                .map_err(|e| cx.fail(raw_url, format!("copying: {e}")))?;
            copied.map_err(|reason| cx.fail(&shown, reason))
        }
        "http" | "https" => {
            let method = match upload.method.to_ascii_uppercase().as_str() {
                "" | "PUT" => reqwest::Method::PUT,
                "POST" => reqwest::Method::POST,
                other => {
                    return Err(cx.fail(
                        &redact(&url),
                        format!("upload method `{other}` is not PUT, POST or skip"),
                    ))
                }
            };
            let file = tokio::fs::File::open(pack)
                .await
                .map_err(|e| RemoteError::io(pack, e))?;
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
            let mut req = client(cx, raw_url)?
                .request(method.clone(), url.clone())
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(body);
            for (k, v) in &upload.headers {
                req = req.header(k, v);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| cx.fail(&redact(&url), format!("{method} failed: {e}")))?;
            if !resp.status().is_success() {
                return Err(cx.fail(
                    &redact(&url),
                    format!("{method} answered {}", resp.status()),
                ));
            }
            Ok(())
        }
        other => Err(cx.fail(
            raw_url,
            format!("unsupported URL scheme `{other}` (file, http, https)"),
        )),
    }
}

/// Copies `pack` to `dest`, creating `dest`'s directories and refusing a symlink there.
fn copy_to_file(pack: &Path, dest: &Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let mut input =
        std::fs::File::open(pack).map_err(|e| format!("reading {}: {e}", pack.display()))?;
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(dest)
        .map_err(|e| format!("opening {} for writing: {e}", dest.display()))?;
    std::io::copy(&mut input, &mut output)
        .and_then(|_| output.flush())
        .and_then(|()| output.sync_all())
        .map_err(|e| format!("copying {} there: {e}", pack.display()))
}

/// A finished download, not yet in place.
#[derive(Debug)]
pub struct Downloaded {
    /// The temp file holding the bytes (removed when dropped).
    pub file: tempfile::TempPath,
    /// `sha256:<hex>` of the bytes.
    pub file_digest: String,
    /// How many bytes.
    pub size_bytes: u64,
}

/// Downloads `download` into a temp file beside `dest`, hashing it; stops past `limit`
/// bytes (the size the adapter announced) when one is given.
pub async fn download(
    cx: TransferContext<'_>,
    download: &Download,
    limit: Option<u64>,
    dest: &Path,
) -> Result<Downloaded, RemoteError> {
    let raw_url = download.url.as_str();
    let url = parse(cx, raw_url)?;
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".gantry-pull-")
        .tempfile_in(parent)
        .map_err(|e| RemoteError::io(parent, e))?;
    let (std_file, tmp_path) = tmp.into_parts();
    let mut out = tokio::fs::File::from_std(std_file);
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let shown = redact(&url);
    let mut sink = |chunk: &[u8], written: &mut u64| -> Result<(), RemoteError> {
        *written += chunk.len() as u64;
        if let Some(limit) = limit {
            if *written > limit {
                return Err(cx.fail(&shown, format!("more than the announced {limit} bytes")));
            }
        }
        hasher.update(chunk);
        Ok(())
    };
    match url.scheme() {
        "file" => {
            let source = file_path(cx, &url)?;
            let mut input = tokio::fs::File::open(&source)
                .await
                .map_err(|e| cx.fail(raw_url, format!("opening {}: {e}", source.display())))?;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = input
                    .read(&mut buf)
                    .await
                    .map_err(|e| cx.fail(raw_url, format!("reading: {e}")))?;
                if n == 0 {
                    break;
                }
                sink(&buf[..n], &mut written)?;
                out.write_all(&buf[..n])
                    .await
                    .map_err(|e| RemoteError::io(&*tmp_path, e))?;
            }
        }
        "http" | "https" => {
            let method = download.method.as_deref().unwrap_or("GET");
            if !method.eq_ignore_ascii_case("GET") {
                return Err(cx.fail(&shown, format!("download method `{method}` is not GET")));
            }
            let mut req = client(cx, raw_url)?.get(url.clone());
            for (k, v) in &download.headers {
                req = req.header(k, v);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| cx.fail(&shown, format!("GET failed: {e}")))?;
            if !resp.status().is_success() {
                return Err(cx.fail(&shown, format!("GET answered {}", resp.status())));
            }
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| cx.fail(&shown, format!("reading the body: {e}")))?;
                sink(&chunk, &mut written)?;
                out.write_all(&chunk)
                    .await
                    .map_err(|e| RemoteError::io(&*tmp_path, e))?;
            }
        }
        other => {
            return Err(cx.fail(
                raw_url,
                format!("unsupported URL scheme `{other}` (file, http, https)"),
            ))
        }
    }
    out.sync_all()
        .await
        .map_err(|e| RemoteError::io(&*tmp_path, e))?;
    drop(out);
    Ok(Downloaded {
        file: tmp_path,
        file_digest: format!("sha256:{}", hex(&hasher.finalize())),
        size_bytes: written,
    })
}

fn client(cx: TransferContext<'_>, raw_url: &str) -> Result<reqwest::Client, RemoteError> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| cx.fail(raw_url, format!("building the HTTP client: {e}")))
}

/// The URL without its query (presigned URLs carry credentials there).
fn redact(url: &url::Url) -> String {
    let mut u = url.clone();
    if u.query().is_some() {
        u.set_query(Some("…"));
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(root: Option<&Path>) -> TransferContext<'_> {
        TransferContext {
            adapter: "t",
            command: "push.prepare",
            file_root: root,
        }
    }

    #[tokio::test]
    async fn file_uploads_create_their_directories_and_respect_the_root() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pack = dir.path().join("p");
        std::fs::write(&pack, b"bytes").expect("write");
        let dest = dir.path().join("remote/not/yet/there/pack");
        let up = Upload::new("PUT", format!("file://{}", dest.display()));
        upload(cx(None), &pack, 5, &up).await.expect("upload");
        assert_eq!(std::fs::read(&dest).expect("read"), b"bytes");

        let root = dir.path().join("remote");
        upload(cx(Some(&root)), &pack, 5, &up)
            .await
            .expect("inside the root");
        let outside = Upload::new(
            "PUT",
            format!("file://{}", dir.path().join("elsewhere").display()),
        );
        let err = upload(cx(Some(&root)), &pack, 5, &outside)
            .await
            .expect_err("outside");
        assert!(err.to_string().contains("outside `file-root`"), "{err}");

        let link = dir.path().join("remote/link");
        std::os::unix::fs::symlink(dir.path().join("victim"), &link).expect("symlink");
        let through = Upload::new("PUT", format!("file://{}", link.display()));
        let err = upload(cx(None), &pack, 5, &through)
            .await
            .expect_err("symlink");
        assert!(err.to_string().contains("for writing"), "{err}");
        assert!(!dir.path().join("victim").exists());
    }
}
