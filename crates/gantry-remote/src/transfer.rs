//! Moving pack bytes: gantry itself uploads to and downloads from the URLs an adapter
//! hands out (`file://` absolute paths, `http(s)://` with a streaming PUT/GET), so the
//! adapter never sees the bytes and every download is verified (sha256 and size) and
//! written atomically (temp file + rename).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::RemoteError;
use crate::lock::hex;
use crate::seal::digests_equal;

/// Context for error messages.
#[derive(Debug, Clone, Copy)]
pub struct TransferContext<'a> {
    pub adapter: &'a str,
    pub command: &'a str,
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

/// `sha256:<hex>` of the file at `path`, and its size.
pub async fn digest_pack(path: &Path) -> Result<(String, u64), RemoteError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| RemoteError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| RemoteError::io(path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((format!("sha256:{}", hex(&hasher.finalize())), size))
}

/// A `file://` URL's path, which must be absolute and free of `..`.
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
    Ok(path)
}

fn parse(cx: TransferContext<'_>, raw: &str) -> Result<url::Url, RemoteError> {
    url::Url::parse(raw).map_err(|e| cx.fail(raw, format!("bad URL: {e}")))
}

/// Uploads the pack at `pack` (`size` bytes) to `url` with `method` (PUT) and `headers`.
pub async fn upload(
    cx: TransferContext<'_>,
    pack: &Path,
    size: u64,
    method: &str,
    raw_url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<(), RemoteError> {
    let url = parse(cx, raw_url)?;
    if !method.eq_ignore_ascii_case("PUT") {
        return Err(cx.fail(raw_url, format!("upload method `{method}` is not PUT")));
    }
    match url.scheme() {
        "file" => {
            let dest = file_path(cx, &url)?;
            tokio::fs::copy(pack, &dest)
                .await
                .map_err(|e| cx.fail(raw_url, format!("copying {} there: {e}", pack.display())))?;
            Ok(())
        }
        "http" | "https" => {
            let file = tokio::fs::File::open(pack)
                .await
                .map_err(|e| RemoteError::io(pack, e))?;
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
            let mut req = client(cx, raw_url)?
                .put(url.clone())
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| cx.fail(&redact(&url), format!("PUT failed: {e}")))?;
            if !resp.status().is_success() {
                return Err(cx.fail(&redact(&url), format!("PUT answered {}", resp.status())));
            }
            Ok(())
        }
        other => Err(cx.fail(
            raw_url,
            format!("unsupported URL scheme `{other}` (file, http, https)"),
        )),
    }
}

/// Downloads `url` to `dest` atomically, refusing bytes that do not hash to `digest`
/// (`sha256:<hex>`) or are not exactly `size` bytes.
pub async fn download(
    cx: TransferContext<'_>,
    raw_url: &str,
    headers: &BTreeMap<String, String>,
    digest: &str,
    size: u64,
    dest: &Path,
) -> Result<(), RemoteError> {
    let url = parse(cx, raw_url)?;
    let Some(expected) = digest.strip_prefix("sha256:") else {
        return Err(cx.fail(raw_url, format!("digest `{digest}` is not `sha256:<hex>`")));
    };
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
        if *written > size {
            return Err(cx.fail(&shown, format!("more than the announced {size} bytes")));
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
            let mut req = client(cx, raw_url)?.get(url.clone());
            for (k, v) in headers {
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
    if written != size {
        return Err(cx.fail(
            &shown,
            format!("got {written} bytes, the adapter announced {size}"),
        ));
    }
    let actual = hex(&hasher.finalize());
    if !digests_equal(&actual, expected) {
        return Err(cx.fail(
            &shown,
            format!("the bytes hash to sha256:{actual}, the adapter announced {digest}; nothing was written"),
        ));
    }
    out.sync_all()
        .await
        .map_err(|e| RemoteError::io(&*tmp_path, e))?;
    drop(out);
    tmp_path
        .persist(dest)
        .map_err(|e| RemoteError::io(dest, e.error))?;
    Ok(())
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
