//! Release packs: a run's artifacts and a manifest in one tar file, with the pack's own
//! sha256 beside it (`PACK.sha256`, `sha256sum` format). `verify` checks the pack digest,
//! every artifact's digest and every file's size and digest against the manifest.
//!
//! Layout: `manifest.json` first, then `artifacts/<name>.tar` for each artifact.

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
                .append_data(
                    &mut header,
                    format!("artifacts/{name}.tar"),
                    bridge.take(size),
                )
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

/// Checks every digest in the pack at `path`; returns its manifest, or every problem
/// found (each naming the artifact and file).
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
