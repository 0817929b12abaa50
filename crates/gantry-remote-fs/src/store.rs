//! The directory remote: its root, the release records, and the helpers every command
//! shares (safe path segments, digests, tokens, timestamps).

use std::io::Read;
use std::path::{Path, PathBuf};

use gantry_remote_protocol::{Failure, Handled, Identity, Release, Target, WhoAmI};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The remote root.
pub(crate) struct Store {
    pub(crate) root: PathBuf,
}

/// What `releases/<name>/<version>/release.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// What push.finalize answered.
    pub(crate) release: Release,
    pub(crate) name: String,
    pub(crate) version: String,
    /// `sha256:<hex>` of the pack file.
    pub(crate) file_digest: String,
    pub(crate) size_bytes: u64,
    #[serde(default)]
    pub(crate) labels: Vec<String>,
    #[serde(default)]
    pub(crate) notes: Option<String>,
    #[serde(default)]
    pub(crate) target: Target,
    /// Creation order (nanoseconds since the epoch): what `latest` means.
    pub(crate) created_nanos: u128,
}

impl Store {
    /// The store at `$GANTRY_REMOTE_FS_ROOT`, its directories created.
    pub(crate) fn open() -> Handled<Store> {
        let Some(root) = std::env::var_os("GANTRY_REMOTE_FS_ROOT").map(PathBuf::from) else {
            return Err(Failure::invalid(
                "GANTRY_REMOTE_FS_ROOT is not set (configure it in [remotes.NAME].env)",
            ));
        };
        if !root.is_absolute() {
            return Err(Failure::invalid(format!(
                "GANTRY_REMOTE_FS_ROOT `{}` is not absolute",
                root.display()
            )));
        }
        for dir in ["staging", "releases", "pulls", "runs"] {
            let d = root.join(dir);
            std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
        }
        Ok(Store { root })
    }

    pub(crate) fn release_dir(&self, name: &str, version: &str) -> PathBuf {
        self.root.join("releases").join(name).join(version)
    }

    /// Every release record, oldest first.
    pub(crate) fn records(&self) -> Handled<Vec<Record>> {
        let mut out = Vec::new();
        let releases = self.root.join("releases");
        for name in std::fs::read_dir(&releases)
            .map_err(|e| io(&releases, e))?
            .flatten()
        {
            let Ok(versions) = std::fs::read_dir(name.path()) else {
                continue;
            };
            for version in versions.flatten() {
                let path = version.path().join("release.json");
                if let Ok(text) = std::fs::read(&path) {
                    let record: Record = serde_json::from_slice(&text)
                        .map_err(|e| Failure::server(format!("{}: {e}", path.display())))?;
                    out.push(record);
                }
            }
        }
        out.sort_by_key(|r| r.created_nanos);
        Ok(out)
    }

    /// The versions of release `name`.
    pub(crate) fn versions(&self, name: &str) -> Vec<String> {
        std::fs::read_dir(self.root.join("releases").join(name))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn whoami(&self) -> WhoAmI {
        WhoAmI::new(Identity::authenticated(
            format!("local:{}", self.root.display()),
            Some("gantry-remote-fs".into()),
        ))
    }
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> Failure {
    Failure::server(format!("{}: {e}", path.display()))
}

/// Names, versions and ids become path segments: only `[A-Za-z0-9._-]`, no leading dot.
pub(crate) fn safe_segment(what: &str, s: &str) -> Handled<String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(Failure::invalid(format!(
            "{what} `{s}` must be 1-128 of [A-Za-z0-9._-] and not start with `.`"
        )))
    }
}

pub(crate) fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// `sha256:<hex>` and size of the file at `path`.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((format!("sha256:{}", hex(&hasher.finalize())), size))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Nanoseconds since the epoch.
pub(crate) fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Now as RFC 3339 UTC to the second.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A token nobody can guess from the outside: time, pid and a hash of both.
pub(crate) fn new_token() -> String {
    let seed = format!(
        "{}-{}-{:?}",
        now_nanos(),
        std::process::id(),
        std::thread::current().id()
    );
    hex(&Sha256::digest(seed.as_bytes())[..12])
}

/// Writes `value` as JSON to `path`.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Handled<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| Failure::server(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| io(path, e))
}

/// Reads JSON from `path`; `None` when the file does not exist.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Handled<Option<T>> {
    match std::fs::read(path) {
        Ok(text) => serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| Failure::server(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, e)),
    }
}
