//! The built-in steps `gantry/upload-artifact` and `gantry/download-artifact` (also
//! serving `actions/upload-artifact` and `actions/download-artifact`). They move files
//! through the backend contract's copy calls, so they work on the host, in containers and
//! on plugins alike. An artifact is one tar object in the store, recorded in the ledger
//! (with every file's size and sha256) only once its bytes are stored.

use std::sync::Arc;

use async_trait::async_trait;
use gantry_engine::{BuiltinCall, BuiltinOutcome, BuiltinStep};
use gantry_state::{ArtifactFile, ArtifactRecord, Ledger};
use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};
use tokio_util::io::SyncIoBridge;

use crate::key::{check_artifact_name, ObjectKey};
use crate::store::ArtifactStore;

/// The store key of artifact `name` of `run_id`.
pub fn artifact_key(run_id: &str, name: &str) -> Result<ObjectKey, String> {
    ObjectKey::new(&format!("runs/{run_id}/artifacts/{name}.tar")).map_err(|e| e.to_string())
}

/// One `path:` line: where to copy from and which entries to keep.
#[derive(Debug, Clone)]
struct Pattern {
    /// Workspace-relative literal directory or file the pattern starts at.
    base: String,
    /// Whether the line had glob characters.
    glob: bool,
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// A workspace-relative, normalised pattern line; refuses absolute paths and `..`.
fn normalise(line: &str) -> Result<String, String> {
    let line = line.trim().trim_start_matches("./");
    if line.starts_with('/') {
        return Err(format!(
            "path `{line}` is absolute; artifact paths are relative to the workspace"
        ));
    }
    if line.split('/').any(|p| p == "..") {
        return Err(format!("path `{line}` leaves the workspace (`..`)"));
    }
    Ok(line.trim_end_matches('/').to_string())
}

fn parse_patterns(path: &str) -> Result<(Vec<Pattern>, GlobSet, GlobSet), String> {
    let mut patterns = Vec::new();
    let mut include = GlobSetBuilder::new();
    let mut exclude = GlobSetBuilder::new();
    for raw in path.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (neg, line) = match raw.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let line = normalise(line)?;
        let glob_text = if is_glob(&line) {
            line.clone()
        } else if line.is_empty() {
            "**".into()
        } else {
            // A plain path matches itself and everything below it.
            format!("{{{line},{line}/**}}")
        };
        let glob = Glob::new(&glob_text).map_err(|e| format!("path `{raw}`: {e}"))?;
        if neg {
            exclude.add(glob);
            continue;
        }
        include.add(glob);
        let base: Vec<&str> = line
            .split('/')
            .take_while(|p| !is_glob(p))
            .filter(|p| !p.is_empty())
            .collect();
        patterns.push(Pattern {
            base: base.join("/"),
            glob: is_glob(&line),
        });
    }
    if patterns.is_empty() {
        return Err("`path` names nothing to upload".into());
    }
    let include = include.build().map_err(|e| e.to_string())?;
    let exclude = exclude.build().map_err(|e| e.to_string())?;
    Ok((patterns, include, exclude))
}

/// The directory artifact entries are relative to: the least common ancestor of the
/// patterns' roots (a plain file's root is its directory), as upload-artifact does.
fn common_root(roots: &[String]) -> String {
    let mut it = roots
        .iter()
        .map(|r| r.split('/').filter(|p| !p.is_empty()).collect::<Vec<_>>());
    let Some(mut common) = it.next() else {
        return String::new();
    };
    for r in it {
        let n = common.iter().zip(&r).take_while(|(a, b)| a == b).count();
        common.truncate(n);
    }
    common.join("/")
}

/// Uploads files from the job's workspace as a named artifact.
pub struct UploadArtifact {
    /// Where artifact contents are stored.
    pub store: Arc<dyn ArtifactStore>,
    /// Where artifacts are recorded (name, run, files).
    pub ledger: Ledger,
}

/// Downloads artifacts of this run (or of `run-id`) into the job's workspace.
pub struct DownloadArtifact {
    /// Where artifact contents are stored.
    pub store: Arc<dyn ArtifactStore>,
    /// Where artifacts are recorded (name, run, files).
    pub ledger: Ledger,
}

/// Files kept from one copied-out tree, written into the artifact tar.
struct Collected {
    builder: tar::Builder<gantry_archive::ChunkWriter>,
    files: Vec<ArtifactFile>,
    root: String,
}

/// Reads a tar (entries relative to `parent`) and appends what the globs keep.
/// `parent` is `None` when the copy is of the workspace itself, whose own name then
/// leads every entry and is dropped.
fn collect(
    mut state: Collected,
    reader: impl std::io::Read,
    parent: Option<&str>,
    include: &GlobSet,
    exclude: &GlobSet,
) -> Result<Collected, String> {
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, reader));
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            // Directories come from file paths; links are not followed out of the tree.
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let rel = match parent {
            None => match name.split_once('/') {
                Some((_, rest)) if !rest.is_empty() => rest.to_string(),
                _ => continue,
            },
            Some("") => name.clone(),
            Some(parent) => format!("{parent}/{name}"),
        };
        if rel.split('/').any(|p| p == ".." || p.is_empty())
            || !include.is_match(&rel)
            || exclude.is_match(&rel)
        {
            continue;
        }
        let inside = if state.root.is_empty() {
            rel.clone()
        } else {
            match rel.strip_prefix(&format!("{}/", state.root)) {
                Some(r) => r.to_string(),
                None => continue,
            }
        };
        if state.files.iter().any(|f| f.path == inside) {
            continue;
        }
        let mut header = entry.header().clone();
        let size = header.size().map_err(|e| e.to_string())?;
        let mut hashing = HashingReader {
            inner: entry,
            hasher: Sha256::new(),
        };
        state
            .builder
            .append_data(&mut header, &inside, &mut hashing)
            .map_err(|e| format!("{inside}: {e}"))?;
        state.files.push(ArtifactFile {
            path: inside,
            size,
            sha256: hashing
                .hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        });
    }
    Ok(state)
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// `t` as RFC 3339 UTC to the second (`2026-11-23T12:00:00Z`).
fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn retention(with: &indexmap::IndexMap<String, String>) -> Result<Option<String>, String> {
    let Some(days) = with.get("retention-days").filter(|d| !d.trim().is_empty()) else {
        return Ok(None);
    };
    let days: u64 = days
        .trim()
        .parse()
        .map_err(|_| format!("retention-days `{days}` is not a whole number of days"))?;
    if days == 0 || days > 3650 {
        return Err(format!("retention-days {days} must be between 1 and 3650"));
    }
    let at = std::time::SystemTime::now() + std::time::Duration::from_secs(days * 86_400);
    Ok(Some(rfc3339(at)))
}

#[async_trait]
impl BuiltinStep for UploadArtifact {
    fn names(&self) -> Vec<&'static str> {
        vec!["gantry/upload-artifact", "actions/upload-artifact"]
    }

    async fn run(&self, call: BuiltinCall) -> Result<BuiltinOutcome, String> {
        let name = call
            .with
            .get("name")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "artifact".into());
        check_artifact_name(&name)?;
        let path = call
            .with
            .get("path")
            .ok_or("`with: path` is required (the files to upload)")?;
        let missing = call
            .with
            .get("if-no-files-found")
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "warn".into());
        if !["warn", "error", "ignore"].contains(&missing.as_str()) {
            return Err(format!(
                "if-no-files-found `{missing}` must be warn, error or ignore"
            ));
        }
        let expires_at = retention(&call.with)?;
        let (patterns, include, exclude) = parse_patterns(path)?;
        let workspace = call.target.paths().workspace;

        // Each pattern's root: a directory, or a plain file's directory.
        let mut copies = Vec::new();
        let mut roots = Vec::new();
        for p in &patterns {
            let abs = if p.base.is_empty() {
                workspace.clone()
            } else {
                format!("{workspace}/{}", p.base)
            };
            match call.target.copy_out(&abs).await {
                Ok(reader) => {
                    copies.push((p.clone(), reader));
                }
                Err(e) => {
                    let _ = call.log.send(format!("no files at `{}` ({e})", p.base));
                }
            }
        }
        // The artifact tar streams straight into the store while it is built; a failure
        // on either side fails the put, which stores nothing.
        let (writer, reader) = gantry_archive::ChunkWriter::channel();
        let failer = writer.failer();
        let mut state = Collected {
            builder: tar::Builder::new(writer),
            files: Vec::new(),
            root: String::new(),
        };
        // The root is known once we know which plain paths are files: the first entry of
        // a copy of a plain path is a directory entry when the path is a directory.
        let mut buffered = Vec::new();
        for (p, reader) in copies {
            let parent = if p.base.is_empty() {
                None
            } else {
                Some(
                    p.base
                        .rsplit_once('/')
                        .map(|(d, _)| d.to_string())
                        .unwrap_or_default(),
                )
            };
            let handle = tokio::runtime::Handle::current();
            let mut bridge = SyncIoBridge::new_with_handle(reader, handle);
            let first = tokio::task::spawn_blocking(move || {
                let mut header = [0u8; 512];
                std::io::Read::read_exact(&mut bridge, &mut header).map(|()| (header, bridge))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("reading `{}` from the job: {e}", p.base))?;
            let is_dir = first.0[156] == b'5';
            let root = if p.glob || is_dir {
                p.base.clone()
            } else {
                parent.clone().unwrap_or_default()
            };
            roots.push(root);
            buffered.push((parent, first));
        }
        state.root = common_root(&roots);
        let producer = tokio::task::spawn_blocking(move || {
            let mut state = state;
            for (parent, (header, bridge)) in buffered {
                let reader = std::io::Read::chain(std::io::Cursor::new(header), bridge);
                state = match collect(state, reader, parent.as_deref(), &include, &exclude) {
                    Ok(s) => s,
                    Err(e) => {
                        failer.fail(std::io::Error::other(e.clone()));
                        return Err(e);
                    }
                };
            }
            let files = std::mem::take(&mut state.files);
            match state
                .builder
                .into_inner()
                .and_then(|mut w| std::io::Write::flush(&mut w))
            {
                Ok(()) => Ok(files),
                Err(e) => Err(format!("writing the artifact: {e}")),
            }
        });
        let key = artifact_key(&call.run_id, &name)?;
        let stored = self.store.put(&key, reader).await;
        let produced = producer.await.map_err(|e| e.to_string())?;
        // A producer failure reaches the store as a stream error, so the store's error
        // names the cause; the producer's own error is only "abandoned" then.
        let info = stored.map_err(|e| {
            format!(
                "storing artifact `{name}` in {}: {e}",
                self.store.describe()
            )
        })?;
        let files = produced?;
        if files.is_empty() {
            // Nothing matched: the empty archive is not an artifact.
            let _ = self.store.delete(&key).await;
            let msg = format!("no files found for artifact `{name}` with path:\n{path}");
            return match missing.as_str() {
                "error" => Err(msg),
                "warn" => {
                    let _ = call.log.send(format!("warning: {msg}"));
                    Ok(BuiltinOutcome::default())
                }
                _ => Ok(BuiltinOutcome::default()),
            };
        }
        let count = files.len();
        self.ledger
            .record_artifact(&ArtifactRecord {
                run_id: call.run_id.clone(),
                name: name.clone(),
                job_key: call.job_key.clone(),
                object_key: key.to_string(),
                sha256: info.sha256.clone(),
                size: info.size,
                files,
                created_at: rfc3339(std::time::SystemTime::now()),
                expires_at,
            })
            .map_err(|e| e.to_string())?;
        let _ = call.log.send(format!(
            "uploaded artifact `{name}`: {count} file(s), {} bytes, sha256 {}",
            info.size, info.sha256
        ));
        let mut outcome = BuiltinOutcome::default();
        outcome
            .outputs
            .insert("artifact-id".into(), format!("{}/{name}", call.run_id));
        outcome
            .outputs
            .insert("artifact-digest".into(), info.sha256);
        Ok(outcome)
    }
}

#[async_trait]
impl BuiltinStep for DownloadArtifact {
    fn names(&self) -> Vec<&'static str> {
        vec!["gantry/download-artifact", "actions/download-artifact"]
    }

    async fn run(&self, call: BuiltinCall) -> Result<BuiltinOutcome, String> {
        let run_id = call
            .with
            .get("run-id")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| call.run_id.clone());
        let workspace = call.target.paths().workspace;
        let dest = match call
            .with
            .get("path")
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
        {
            Some(p) => {
                let p = normalise(p)?;
                if p.is_empty() {
                    workspace.clone()
                } else {
                    format!("{workspace}/{p}")
                }
            }
            None => workspace.clone(),
        };
        let name = call
            .with
            .get("name")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty());
        let wanted = match name {
            Some(n) => {
                check_artifact_name(n)?;
                let a = self
                    .ledger
                    .artifact(&run_id, n)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("run {run_id} has no artifact `{n}`"))?;
                vec![(a, dest.clone())]
            }
            None => self
                .ledger
                .artifacts(&run_id)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|a| {
                    let d = format!("{dest}/{}", a.name);
                    (a, d)
                })
                .collect(),
        };
        for (a, into) in &wanted {
            let key = ObjectKey::new(&a.object_key).map_err(|e| e.to_string())?;
            let reader = self
                .store
                .get(&key)
                .await
                .map_err(|e| format!("artifact `{}`: {e}", a.name))?;
            call.target
                .copy_in(into, reader)
                .await
                .map_err(|e| format!("unpacking artifact `{}` into {into}: {e}", a.name))?;
            let _ = call.log.send(format!(
                "downloaded artifact `{}` ({} file(s)) into {into}",
                a.name,
                a.files.len()
            ));
        }
        let mut outcome = BuiltinOutcome::default();
        outcome.outputs.insert("download-path".into(), dest);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_roots() {
        let (p, inc, exc) = parse_patterns("dist/**/*.js\n!dist/skip/**\nREADME.md\n").expect("ok");
        assert_eq!(p[0].base, "dist");
        assert!(p[0].glob);
        assert_eq!(p[1].base, "README.md");
        assert!(inc.is_match("dist/a/b.js") && inc.is_match("README.md"));
        assert!(exc.is_match("dist/skip/x.js"));
        assert!(parse_patterns("../etc/passwd").is_err());
        assert!(parse_patterns("/etc/passwd").is_err());
        assert_eq!(common_root(&["dist/a".into(), "dist/b".into()]), "dist");
        assert_eq!(common_root(&["dist".into(), "".into()]), "");
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
