//! The directory remote: staging, releases and run ledgers under one root.

use std::path::{Path, PathBuf};

use gantry_remote::protocol::{
    Download, ErrorCode, Identity, PullPrepare, PullPrepared, PushFinalize, PushFinalized,
    PushPrepare, PushPrepared, Release, RunSyncItem, RunsSync, RunsSynced, Upload, WhoAmI,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use gantry_remote::serve::Handled;

type Failure = (ErrorCode, String);

/// The remote root.
pub(crate) struct Store {
    root: PathBuf,
}

/// Runs `f` on the store at `$GANTRY_REMOTE_FS_ROOT`.
pub(crate) fn with_root(f: impl FnOnce(&Store) -> Handled) -> Handled {
    let Some(root) = std::env::var_os("GANTRY_REMOTE_FS_ROOT").map(PathBuf::from) else {
        return Err((
            ErrorCode::InvalidRequest,
            "GANTRY_REMOTE_FS_ROOT is not set (configure it in [remotes.NAME].env)".into(),
        ));
    };
    if !root.is_absolute() {
        return Err((
            ErrorCode::InvalidRequest,
            format!("GANTRY_REMOTE_FS_ROOT `{}` is not absolute", root.display()),
        ));
    }
    for dir in ["staging", "releases", "runs"] {
        std::fs::create_dir_all(root.join(dir)).map_err(|e| io(&root.join(dir), e))?;
    }
    f(&Store { root })
}

/// What push.prepare promised, kept until push.finalize.
#[derive(Serialize, Deserialize)]
struct Staged {
    name: String,
    version: String,
    digest: String,
    size_bytes: u64,
}

fn io(path: &Path, e: std::io::Error) -> Failure {
    (ErrorCode::ServerError, format!("{}: {e}", path.display()))
}

fn body<T: DeserializeOwned>(request: &serde_json::Value) -> Result<T, Failure> {
    serde_json::from_value(request.clone())
        .map_err(|e| (ErrorCode::InvalidRequest, format!("bad request: {e}")))
}

fn to_value<T: Serialize>(value: &T) -> Handled {
    serde_json::to_value(value).map_err(|e| (ErrorCode::ServerError, e.to_string()))
}

/// Names and versions become directory names: only `[A-Za-z0-9._-]`, no leading dot.
fn safe_segment(what: &str, s: &str) -> Result<String, Failure> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err((
            ErrorCode::InvalidRequest,
            format!("{what} `{s}` must be 1-128 of [A-Za-z0-9._-] and not start with `.`"),
        ))
    }
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn sha256_file(path: &Path) -> Result<(String, u64), Failure> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let size = file.metadata().map_err(|e| io(path, e))?.len();
    let hex = gantry_remote::lock::sha256_hex(file).map_err(|e| io(path, e))?;
    Ok((format!("sha256:{hex}"), size))
}

/// Now as RFC 3339 UTC to the second.
fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl Store {
    fn release_dir(&self, name: &str, version: &str) -> PathBuf {
        self.root.join("releases").join(name).join(version)
    }

    /// Versions of release `name`, oldest first (numeric versions in numeric order).
    fn versions(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.root.join("releases").join(name))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().join("release.json").is_file())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by_key(|s| (s.parse::<u64>().unwrap_or(u64::MAX), s.clone()));
        v
    }

    pub(crate) fn push_prepare(&self, request: &serde_json::Value) -> Handled {
        let req: PushPrepare = body(request)?;
        let hex = req.pack.digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err((
                ErrorCode::InvalidRequest,
                format!("pack digest `{}` is not sha256:<64 hex>", req.pack.digest),
            ));
        }
        let stem = Path::new(&req.pack.path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pack".into());
        let name = safe_segment("release name", req.release.name.as_deref().unwrap_or(&stem))?;
        let version = match &req.release.version {
            Some(v) => safe_segment("release version", v)?,
            None => {
                let next = self
                    .versions(&name)
                    .iter()
                    .filter_map(|v| v.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0)
                    + 1;
                next.to_string()
            }
        };
        if self.release_dir(&name, &version).exists() {
            return Err((
                ErrorCode::Conflict,
                format!("release {name}@{version} already exists"),
            ));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let token = format!("{nanos:x}-{}", std::process::id());
        let staging = self.root.join("staging");
        let meta = staging.join(format!("{token}.json"));
        let staged = Staged {
            name,
            version,
            digest: req.pack.digest,
            size_bytes: req.pack.size_bytes,
        };
        let text =
            serde_json::to_vec(&staged).map_err(|e| (ErrorCode::ServerError, e.to_string()))?;
        std::fs::write(&meta, text).map_err(|e| io(&meta, e))?;
        to_value(&PushPrepared {
            upload: Upload {
                method: "PUT".into(),
                url: file_url(&staging.join(format!("{token}.pack"))),
                headers: Default::default(),
                expires_at: None,
            },
            finalize_token: token,
        })
    }

    pub(crate) fn push_finalize(&self, request: &serde_json::Value) -> Handled {
        let req: PushFinalize = body(request)?;
        let token = safe_segment("finalize token", &req.finalize_token)?;
        let staging = self.root.join("staging");
        let meta = staging.join(format!("{token}.json"));
        let pack = staging.join(format!("{token}.pack"));
        let text = std::fs::read(&meta).map_err(|_| {
            (
                ErrorCode::NotFound,
                format!("no upload in progress for token `{token}`"),
            )
        })?;
        let staged: Staged = serde_json::from_slice(&text)
            .map_err(|e| (ErrorCode::ServerError, format!("{}: {e}", meta.display())))?;
        let (digest, size) = sha256_file(&pack).map_err(|_| {
            (
                ErrorCode::InvalidRequest,
                "the pack was not uploaded".to_string(),
            )
        })?;
        if digest != staged.digest || size != staged.size_bytes {
            return Err((
                ErrorCode::InvalidRequest,
                format!(
                    "the upload is {size} bytes {digest}, push.prepare announced {} bytes {}",
                    staged.size_bytes, staged.digest
                ),
            ));
        }
        let dir = self.release_dir(&staged.name, &staged.version);
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        // create_dir (not _all) is the lock: two finalizes of one version cannot both win.
        std::fs::create_dir(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => (
                ErrorCode::Conflict,
                format!("release {}@{} already exists", staged.name, staged.version),
            ),
            _ => io(&dir, e),
        })?;
        std::fs::rename(&pack, dir.join("pack")).map_err(|e| io(&pack, e))?;
        let release = Release {
            release_id: format!("{}/{}", staged.name, staged.version),
            pack_digest: digest,
            created_at: now_rfc3339(),
            canonical_ref: format!("{}@{}", staged.name, staged.version),
        };
        let record = serde_json::to_vec_pretty(&release)
            .map_err(|e| (ErrorCode::ServerError, e.to_string()))?;
        std::fs::write(dir.join("release.json"), record).map_err(|e| io(&dir, e))?;
        let _ = std::fs::remove_file(&meta);
        to_value(&PushFinalized {
            release,
            links: Default::default(),
        })
    }

    fn read_release(&self, name: &str, version: &str) -> Result<Option<Release>, Failure> {
        let path = self.release_dir(name, version).join("release.json");
        match std::fs::read(&path) {
            Ok(text) => serde_json::from_slice(&text)
                .map(Some)
                .map_err(|e| (ErrorCode::ServerError, format!("{}: {e}", path.display()))),
            Err(_) => Ok(None),
        }
    }

    pub(crate) fn pull_prepare(&self, request: &serde_json::Value) -> Handled {
        let req: PullPrepare = body(request)?;
        let r = &req.pack_ref;
        let release = if let Some(digest) = &r.digest {
            let mut found = None;
            let names =
                std::fs::read_dir(self.root.join("releases")).map_err(|e| io(&self.root, e))?;
            'outer: for entry in names.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                for version in self.versions(&name) {
                    if let Some(rel) = self.read_release(&name, &version)? {
                        if rel.pack_digest == *digest {
                            found = Some(rel);
                            break 'outer;
                        }
                    }
                }
            }
            found
        } else {
            let name = safe_segment("release name", r.name.as_deref().unwrap_or(""))?;
            let version = match &r.version {
                Some(v) => Some(safe_segment("release version", v)?),
                None => self.versions(&name).pop(),
            };
            match version {
                Some(v) => self.read_release(&name, &v)?,
                None => None,
            }
        };
        let Some(release) = release else {
            return Err((
                ErrorCode::NotFound,
                format!("no release matches `{}`", r.raw),
            ));
        };
        let (name, version) = release
            .release_id
            .split_once('/')
            .unwrap_or((&release.release_id, ""));
        let pack = self.release_dir(name, version).join("pack");
        let size = std::fs::metadata(&pack).map_err(|e| io(&pack, e))?.len();
        to_value(&PullPrepared {
            download: Download {
                url: file_url(&pack),
                headers: Default::default(),
                digest: release.pack_digest.clone(),
                size_bytes: size,
            },
            finalize_token: release.release_id.clone(),
            release: Some(release),
        })
    }

    pub(crate) fn pull_finalize(&self, request: &serde_json::Value) -> Handled {
        let _: gantry_remote::protocol::PullFinalize = body(request)?;
        Ok(serde_json::json!({}))
    }

    pub(crate) fn runs_sync(&self, request: &serde_json::Value) -> Handled {
        let req: RunsSync = body(request)?;
        let mut out = RunsSynced::default();
        for run in &req.runs {
            let status = match safe_segment("run id", &run.run_id) {
                Err(_) => "rejected",
                Ok(id) => {
                    let path = self.root.join("runs").join(format!("{id}.json"));
                    let text = serde_json::to_vec_pretty(&run.ledger)
                        .map_err(|e| (ErrorCode::ServerError, e.to_string()))?;
                    match std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                    {
                        Ok(mut f) => {
                            use std::io::Write;
                            f.write_all(&text).map_err(|e| io(&path, e))?;
                            "accepted"
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => "duplicate",
                        Err(e) => return Err(io(&path, e)),
                    }
                }
            };
            match status {
                "accepted" => out.accepted += 1,
                "rejected" => out.rejected += 1,
                _ => {}
            }
            out.items.push(RunSyncItem {
                run_id: run.run_id.clone(),
                status: status.into(),
            });
        }
        to_value(&out)
    }

    pub(crate) fn whoami(&self) -> Handled {
        to_value(&WhoAmI {
            identity: Identity {
                authenticated: true,
                subject: Some(format!("local:{}", self.root.display())),
                issuer: Some("gantry-remote-fs".into()),
                expires_at: None,
            },
        })
    }
}
