//! Release packs: a run's artifacts and a manifest in one tar file, with the pack's own
//! sha256 beside it (`PACK.sha256`, `sha256sum` format). `verify` checks the file digest,
//! every artifact's digest and every file's size and digest against the manifest.
//!
//! Layout: `manifest.json` first, then `artifacts/<name>.tar` for each artifact.
//!
//! Two digests name a pack. The *file digest* is the sha256 of the pack file. The *pack
//! digest* is epack's (its Remote Adapter Protocol's `pack.digest`, see
//! docs/remote-protocol.md): the sha256 of the canonical artifact list, here one line
//! `artifacts/<name>.tar\tsha256:<that tar's sha256>\n` per manifest artifact, sorted by
//! path byte by byte ([`pack_digest`]). It depends on the artifacts only, not on how the
//! tar was written, so it is what remotes identify a pack by.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gantry_state::{ArtifactFile, Ledger};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::io::SyncIoBridge;

use crate::key::ObjectKey;
use crate::store::ArtifactStore;

/// The manifest's format tag.
pub const FORMAT: &str = "gantry.pack/v1";

/// What a pack holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The pack format, `gantry.pack/v1`.
    pub format: String,
    /// The run the artifacts came from.
    pub run: RunInfo,
    /// The source tree's commit, when the workflow's directory is a git checkout.
    pub source_commit: Option<String>,
    /// When the pack was made (RFC 3339).
    pub created_at: String,
    /// The artifacts in the pack.
    pub artifacts: Vec<PackedArtifact>,
}

/// The run a pack was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The workflow file, as given to `gantry run`.
    pub workflow_path: String,
    /// How the run ended (`success`, `failure`, ...).
    pub status: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When the run ended, if it did.
    pub finished_at: Option<String>,
}

/// One artifact in the pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedArtifact {
    /// The artifact's name (`upload-artifact`'s `name`).
    pub name: String,
    /// The job that uploaded it.
    pub job: String,
    /// sha256 and size of `artifacts/<name>.tar`.
    pub sha256: String,
    /// Its size in bytes (all files).
    pub size: u64,
    /// Its files.
    pub files: Vec<ArtifactFile>,
}

/// The pack written.
#[derive(Debug, Clone)]
pub struct PackSummary {
    /// Where the pack was written.
    pub path: PathBuf,
    /// The pack file's sha256, hex.
    pub sha256: String,
    /// The pack digest (`sha256:<hex>`, see the module docs).
    pub pack_digest: String,
    /// The pack file's size in bytes.
    pub size: u64,
    /// How many artifacts it holds.
    pub artifacts: usize,
    /// How many files it holds.
    pub files: usize,
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where artifact `name` lives inside a pack.
pub fn artifact_path(name: &str) -> String {
    format!("artifacts/{name}.tar")
}

/// The pack digest of `manifest`: `sha256:<hex>` of epack's canonical artifact list, one
/// `artifacts/<name>.tar\tsha256:<tar sha256>\n` line per artifact, sorted by path.
pub fn pack_digest(manifest: &Manifest) -> String {
    let entries: Vec<(String, String)> = manifest
        .artifacts
        .iter()
        .map(|a| (artifact_path(&a.name), format!("sha256:{}", a.sha256)))
        .collect();
    let list = gantry_remote_protocol::digest::canonical_artifact_list(
        entries.iter().map(|(p, d)| (p.as_str(), d.as_str())),
    );
    format!("sha256:{}", hex(&Sha256::digest(list.as_bytes())))
}

/// The pack digest of the pack file at `path`, after checking every artifact and file in
/// it against its manifest; `Ok(None)` when the file is not a gantry pack (not a tar whose
/// first entry is a `gantry.pack/v1` manifest); `Err` with every problem when it is one
/// but is damaged.
pub fn file_pack_digest(path: &Path) -> Result<Option<String>, String> {
    if read_manifest(path).ok().flatten().is_none() {
        return Ok(None);
    }
    verify_contents(path)
        .map(|m| Some(pack_digest(&m)))
        .map_err(|problems| problems.join("; "))
}

/// The manifest of the pack at `path`; `Ok(None)` when the file is not a gantry pack.
pub fn read_manifest(path: &Path) -> Result<Option<Manifest>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let Ok(mut entries) = archive.entries() else {
        return Ok(None);
    };
    let Some(Ok(mut first)) = entries.next() else {
        return Ok(None);
    };
    if !first
        .path()
        .is_ok_and(|p| p.to_string_lossy() == "manifest.json")
    {
        return Ok(None);
    }
    let mut text = Vec::new();
    if first
        .by_ref()
        .take(16 << 20)
        .read_to_end(&mut text)
        .is_err()
    {
        return Ok(None);
    }
    match serde_json::from_slice::<Manifest>(&text) {
        Ok(m) if m.format == FORMAT => Ok(Some(m)),
        _ => Ok(None),
    }
}

fn git_commit(workflow_path: &str) -> Option<String> {
    let dir = Path::new(workflow_path).parent()?;
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| s.len() >= 40)
}

/// Bundles the artifacts of run `run` (an id or unique prefix) into `out`.
pub async fn create(
    ledger: &Ledger,
    store: Arc<dyn ArtifactStore>,
    run: &str,
    out: &Path,
) -> Result<PackSummary, String> {
    let run = ledger
        .run(run)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no run `{run}` in the ledger (see `gantry runs`)"))?;
    let artifacts = ledger.artifacts(&run.id).map_err(|e| e.to_string())?;
    if artifacts.is_empty() {
        return Err(format!("run {} uploaded no artifacts", run.id));
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        run: RunInfo {
            id: run.id.clone(),
            workflow: run.workflow_name.clone(),
            workflow_path: run.workflow_path.clone(),
            status: format!("{:?}", run.status).to_lowercase(),
            started_at: run.started_at.clone(),
            finished_at: run.finished_at.clone(),
        },
        source_commit: git_commit(&run.workflow_path),
        created_at: artifacts
            .iter()
            .map(|a| a.created_at.clone())
            .max()
            .unwrap_or_default(),
        artifacts: artifacts
            .iter()
            .map(|a| PackedArtifact {
                name: a.name.clone(),
                job: a.job_key.clone(),
                sha256: a.sha256.clone(),
                size: a.size,
                files: a.files.clone(),
            })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = tmp.reopen().map_err(|e| e.to_string())?;
    let mut builder = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "manifest.json", &json[..])
        .map_err(|e| e.to_string())?;
    for a in &artifacts {
        let key = ObjectKey::new(&a.object_key).map_err(|e| e.to_string())?;
        let reader = store
            .get(&key)
            .await
            .map_err(|e| format!("artifact `{}`: {e}", a.name))?;
        let (size, name) = (a.size, a.name.clone());
        let handle = tokio::runtime::Handle::current();
        builder = tokio::task::spawn_blocking(move || {
            let bridge = SyncIoBridge::new_with_handle(reader, handle);
            let mut header = tar::Header::new_gnu();
            header.set_size(size);
            header.set_mode(0o644);
            builder
                .append_data(&mut header, artifact_path(&name), bridge.take(size))
                .map(|()| builder)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("artifact `{}`: {e}", a.name))?;
    }
    builder
        .into_inner()
        .and_then(|mut w| std::io::Write::flush(&mut w))
        .map_err(|e| e.to_string())?;
    let (sha256, size) = digest_file(tmp.path())?;
    let digest = pack_digest(&manifest);
    tmp.persist(out)
        .map_err(|e| format!("{}: {}", out.display(), e.error))?;
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let side = sidecar(out);
    std::fs::write(&side, format!("{sha256}  {file_name}\n"))
        .map_err(|e| format!("{}: {e}", side.display()))?;
    Ok(PackSummary {
        path: out.to_path_buf(),
        sha256,
        pack_digest: digest,
        size,
        artifacts: manifest.artifacts.len(),
        files: manifest.artifacts.iter().map(|a| a.files.len()).sum(),
    })
}

/// `PACK.sha256`.
pub fn sidecar(pack: &Path) -> PathBuf {
    let mut s = pack.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

fn digest_file(path: &Path) -> Result<(String, u64), String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Checks every digest in the pack at `path`, its file digest against the `.sha256`
/// sidecar included; returns its manifest, or every problem found (each naming the
/// artifact and file).
pub fn verify(path: &Path) -> Result<Manifest, Vec<String>> {
    let mut problems = Vec::new();
    let side = sidecar(path);
    match std::fs::read_to_string(&side) {
        Ok(text) => {
            let want = text.split_whitespace().next().unwrap_or("").to_lowercase();
            match digest_file(path) {
                Ok((got, _)) if got == want => {}
                Ok((got, _)) => problems.push(format!(
                    "the pack's sha256 is {got}, {} says {want}",
                    side.display()
                )),
                Err(e) => return Err(vec![e]),
            }
        }
        Err(_) => problems.push(format!(
            "{} is missing: the pack's own digest cannot be checked",
            side.display()
        )),
    }
    match verify_contents(path) {
        Ok(m) if problems.is_empty() => Ok(m),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// Checks every artifact's and file's digest in the pack at `path` against its manifest
/// (not the file digest: a pulled pack has no sidecar).
pub fn verify_contents(path: &Path) -> Result<Manifest, Vec<String>> {
    let mut problems = Vec::new();
    let file = std::fs::File::open(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, file));
    let mut entries = archive
        .entries()
        .map_err(|e| vec![format!("{}: not a pack ({e})", path.display())])?;
    let manifest: Manifest = match entries.next() {
        Some(Ok(mut e))
            if e.path()
                .map(|p| p.to_string_lossy() == "manifest.json")
                .unwrap_or(false) =>
        {
            let mut text = Vec::new();
            if let Err(err) = e.by_ref().take(16 << 20).read_to_end(&mut text) {
                return Err(vec![format!("manifest.json: {err}")]);
            }
            match serde_json::from_slice(&text) {
                Ok(m) => m,
                Err(err) => return Err(vec![format!("manifest.json: {err}")]),
            }
        }
        _ => {
            return Err(vec![format!(
                "{}: the first entry is not manifest.json",
                path.display()
            )])
        }
    };
    if manifest.format != FORMAT {
        problems.push(format!("format `{}` is not {FORMAT}", manifest.format));
    }
    let mut seen = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("reading the pack: {e}"));
                break;
            }
        };
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(art) = name
            .strip_prefix("artifacts/")
            .and_then(|n| n.strip_suffix(".tar"))
            .and_then(|n| manifest.artifacts.iter().find(|a| a.name == n))
        else {
            problems.push(format!("unexpected entry `{name}`"));
            continue;
        };
        seen.push(art.name.clone());
        let mut outer = Hashing {
            inner: entry,
            hasher: Sha256::new(),
            count: 0,
        };
        let mut files_seen = Vec::new();
        {
            let mut inner = tar::Archive::new(&mut outer);
            match inner.entries() {
                Ok(files) => {
                    for f in files {
                        let f = match f {
                            Ok(f) => f,
                            Err(e) => {
                                problems.push(format!("artifact `{}`: {e}", art.name));
                                break;
                            }
                        };
                        let fpath = f
                            .path()
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let mut h = Hashing {
                            inner: f,
                            hasher: Sha256::new(),
                            count: 0,
                        };
                        if let Err(e) = std::io::copy(&mut h, &mut std::io::sink()) {
                            problems.push(format!("artifact `{}` file `{fpath}`: {e}", art.name));
                            break;
                        }
                        let got = hex(&h.hasher.finalize());
                        match art.files.iter().find(|m| m.path == fpath) {
                            Some(m) if m.sha256 == got && m.size == h.count => {}
                            Some(m) => problems.push(format!(
                                "artifact `{}` file `{fpath}`: sha256 {got} size {}, the manifest says {} size {}",
                                art.name, h.count, m.sha256, m.size
                            )),
                            None => problems.push(format!(
                                "artifact `{}` holds `{fpath}`, which the manifest does not list",
                                art.name
                            )),
                        }
                        files_seen.push(fpath);
                    }
                }
                Err(e) => problems.push(format!("artifact `{}`: {e}", art.name)),
            }
        }
        let _ = std::io::copy(&mut outer, &mut std::io::sink());
        let got = hex(&outer.hasher.finalize());
        if got != art.sha256 || outer.count != art.size {
            problems.push(format!(
                "artifact `{}`: sha256 {got} size {}, the manifest says {} size {}",
                art.name, outer.count, art.sha256, art.size
            ));
        }
        for m in &art.files {
            if !files_seen.contains(&m.path) {
                problems.push(format!("artifact `{}` lacks `{}`", art.name, m.path));
            }
        }
    }
    for a in &manifest.artifacts {
        if !seen.contains(&a.name) {
            problems.push(format!(
                "artifact `{}` is listed but not in the pack",
                a.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(manifest)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    /// A pack holding one artifact `a` with one file `f.txt`; returns its manifest.
    fn write_pack(path: &Path, content: &[u8]) -> Manifest {
        let mut inner = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        inner.append_data(&mut h, "f.txt", content).expect("inner");
        let inner = inner.into_inner().expect("inner tar");
        let manifest = Manifest {
            format: FORMAT.into(),
            run: RunInfo {
                id: "r1".into(),
                workflow: "w".into(),
                workflow_path: "w.yml".into(),
                status: "success".into(),
                started_at: "2024-01-01T00:00:00Z".into(),
                finished_at: None,
            },
            source_commit: None,
            created_at: "2024-01-01T00:00:00Z".into(),
            artifacts: vec![PackedArtifact {
                name: "a".into(),
                job: "j".into(),
                sha256: sha(&inner),
                size: inner.len() as u64,
                files: vec![ArtifactFile {
                    path: "f.txt".into(),
                    size: content.len() as u64,
                    sha256: sha(content),
                }],
            }],
        };
        let json = serde_json::to_vec(&manifest).expect("json");
        let mut outer = tar::Builder::new(std::fs::File::create(path).expect("create"));
        for (name, bytes) in [
            ("manifest.json", &json[..]),
            ("artifacts/a.tar", &inner[..]),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            outer.append_data(&mut h, name, bytes).expect("append");
        }
        outer.finish().expect("finish");
        manifest
    }

    #[test]
    fn the_pack_digest_is_epacks_canonical_artifact_list() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("p.pack");
        let mut m = write_pack(&path, b"hello");
        let one = format!("artifacts/a.tar\tsha256:{}\n", m.artifacts[0].sha256);
        assert_eq!(pack_digest(&m), format!("sha256:{}", sha(one.as_bytes())));
        // Sorted by path whatever the manifest's order.
        let mut b = m.artifacts[0].clone();
        b.name = "B".into();
        b.sha256 = "0".repeat(64);
        m.artifacts.push(b);
        let two = format!("artifacts/B.tar\tsha256:{}\n{one}", "0".repeat(64));
        assert_eq!(pack_digest(&m), format!("sha256:{}", sha(two.as_bytes())));
        m.artifacts.reverse();
        assert_eq!(pack_digest(&m), format!("sha256:{}", sha(two.as_bytes())));
    }

    #[test]
    fn a_pack_file_is_checked_before_its_digest_is_given() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("p.pack");
        let m = write_pack(&path, b"hello");
        assert_eq!(file_pack_digest(&path), Ok(Some(pack_digest(&m))));
        let other = dir.path().join("other");
        std::fs::write(&other, b"not a tar at all").expect("write");
        assert_eq!(file_pack_digest(&other), Ok(None));
        // Flip a byte of the file inside the artifact: the digest is refused.
        let mut bytes = std::fs::read(&path).expect("read");
        let at = bytes
            .windows(5)
            .rposition(|w| w == b"hello")
            .expect("content in the pack");
        bytes[at] = b'j';
        std::fs::write(&path, bytes).expect("tamper");
        let err = file_pack_digest(&path).expect_err("damaged");
        assert!(err.contains("artifact `a`"), "{err}");
    }
}
