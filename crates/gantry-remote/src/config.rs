//! How to run one remote's adapter: where the binary is, what it may see, whose
//! conventions to follow ([`Dialect`]), and the limits of every call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::RemoteError;
use crate::lock::AdapterPin;
use crate::protocol::VERSION_ENV;

/// Default deadline of one adapter command (epack's too).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Default cap on one response: 10 MiB, epack's `limits.JSONResponse`.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;
/// Variables every adapter gets from gantry's environment in the gantry dialect (nothing
/// else unless configured).
pub const BASE_ENV: [&str; 4] = ["PATH", "HOME", "LANG", "TMPDIR"];
/// The variables epack's executor passes through (its `execsafe.AllowedEnvVars`); PATH is
/// passed too, proxy variables without credentials.
pub const EPACK_ENV: [&str; 27] = [
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "TERM",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
    "PATH",
];
/// The prefix of PATH-discoverable adapters.
pub const BINARY_PREFIX: &str = "gantry-remote-";

/// Whose conventions gantry follows when it drives an adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// gantry's: epack's wire format plus gantry's optional fields, the request followed
    /// by a newline, either capability spelling, pulls verified against the file or the
    /// pack digest.
    #[default]
    Gantry,
    /// Exactly what epack's executor does: its environment allowlist, the request without
    /// a trailing newline, no gantry fields, `deploy_protocol_version` only, and a pull's
    /// `pack.digest` compared with the sha256 of the downloaded file. `gantry remote test
    /// --as-epack` uses it to prove an adapter works under epack.
    Epack,
}

impl Dialect {
    /// Whether gantry's optional request fields are sent.
    pub fn sends_gantry_fields(self) -> bool {
        self == Dialect::Gantry
    }
}

/// Where the adapter binary comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdapterSource {
    /// An absolute path (relative paths are refused: no PATH injection).
    Command(PathBuf),
    /// `gantry-remote-<name>` found on PATH; needs `allow_path_lookup`.
    Lookup(String),
}

/// Retries of errors the adapter marked retryable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Everything needed to run one remote's adapter.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AdapterConfig {
    /// The remote's name (messages, lock key, `remote` in requests).
    pub name: String,
    /// Where the binary is.
    pub source: AdapterSource,
    /// Explicit environment for the adapter (credentials, roots); epack's `secrets`.
    pub env: Vec<(String, String)>,
    /// Per-command deadline.
    pub timeout: Duration,
    /// Allow [`AdapterSource::Lookup`].
    pub allow_path_lookup: bool,
    /// Refuse adapters without a pin.
    pub frozen: bool,
    /// The pin from gantry.lock, if any.
    pub pin: Option<AdapterPin>,
    /// Retries of retryable errors.
    pub retry: RetryPolicy,
    /// Calls per second.
    pub rate_per_second: u32,
    /// Calls allowed at once before the rate applies.
    pub rate_burst: u32,
    /// Largest response accepted.
    pub max_response_bytes: usize,
    /// Where sealed copies go (default: the system temp dir).
    pub seal_dir: Option<PathBuf>,
    /// `file://` URLs the adapter hands out must be inside this directory (epack's
    /// `transport.file_root`); `None` allows any absolute path.
    pub file_root: Option<PathBuf>,
    /// Whose conventions to follow.
    pub dialect: Dialect,
}

impl AdapterConfig {
    /// A config with the defaults (5 min timeout, 3 attempts, 10/s burst 5, 10 MiB).
    pub fn new(name: impl Into<String>, source: AdapterSource) -> Self {
        AdapterConfig {
            name: name.into(),
            source,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            allow_path_lookup: false,
            frozen: false,
            pin: None,
            retry: RetryPolicy::default(),
            rate_per_second: 10,
            rate_burst: 5,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            seal_dir: None,
            file_root: None,
            dialect: Dialect::Gantry,
        }
    }

    /// The absolute path of the adapter binary this config names.
    pub fn resolve(&self) -> Result<PathBuf, RemoteError> {
        let fail = |reason: String| RemoteError::Resolve {
            adapter: self.name.clone(),
            reason,
        };
        match &self.source {
            AdapterSource::Command(path) => {
                if !path.is_absolute() {
                    return Err(fail(format!(
                        "command `{}` is not an absolute path; give the full path of the adapter binary",
                        path.display()
                    )));
                }
                if !path.is_file() {
                    return Err(fail(format!(
                        "{} does not exist or is not a file",
                        path.display()
                    )));
                }
                Ok(path.clone())
            }
            AdapterSource::Lookup(kind) => {
                if !self.allow_path_lookup {
                    return Err(fail(format!(
                        "finding `{BINARY_PREFIX}{kind}` on PATH needs `path-lookup = true`; \
                         or set `command` to its absolute path"
                    )));
                }
                if kind.is_empty() || kind.contains('/') {
                    return Err(fail(format!("`{kind}` is not an adapter name")));
                }
                let file = format!("{BINARY_PREFIX}{kind}");
                std::env::var_os("PATH")
                    .iter()
                    .flat_map(std::env::split_paths)
                    .filter(|dir| dir.is_absolute())
                    .map(|dir| dir.join(&file))
                    .find(|p| is_executable(p))
                    .ok_or_else(|| fail(format!("no executable `{file}` on PATH")))
            }
        }
    }

    /// The adapter kind (`fs` for `gantry-remote-fs`), which names its credential
    /// variables `GANTRY_REMOTE_<KIND>_*`.
    pub fn kind(&self) -> String {
        match &self.source {
            AdapterSource::Lookup(kind) => kind.clone(),
            AdapterSource::Command(path) => {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                stem.strip_prefix(BINARY_PREFIX)
                    .or_else(|| stem.strip_prefix("gantry_remote_"))
                    .map(str::to_string)
                    .unwrap_or_else(|| self.name.clone())
            }
        }
    }

    /// The environment the adapter gets. Gantry dialect: [`BASE_ENV`] and gantry's
    /// `GANTRY_REMOTE_<KIND>_*` variables; epack dialect: [`EPACK_ENV`] with proxy
    /// credentials removed. Then, in both, the configured `env` (which wins) and
    /// `EPACK_REMOTE_PROTOCOL_VERSION=1`.
    pub fn environment(&self) -> Vec<(String, String)> {
        self.environment_from(std::env::vars())
    }

    fn environment_from(
        &self,
        vars: impl Iterator<Item = (String, String)>,
    ) -> Vec<(String, String)> {
        let prefix = format!(
            "GANTRY_REMOTE_{}_",
            self.kind().to_ascii_uppercase().replace(['-', '.'], "_")
        );
        let mut env: Vec<(String, String)> = match self.dialect {
            Dialect::Gantry => vars
                .filter(|(k, _)| BASE_ENV.contains(&k.as_str()) || k.starts_with(&prefix))
                .collect(),
            Dialect::Epack => vars
                .filter(|(k, _)| EPACK_ENV.contains(&k.as_str()))
                .map(|(k, v)| {
                    let v = if k.to_ascii_lowercase().ends_with("_proxy")
                        && k != "no_proxy"
                        && k != "NO_PROXY"
                    {
                        without_credentials(&v)
                    } else {
                        v
                    };
                    (k, v)
                })
                .collect(),
        };
        for (k, v) in self.env.iter().cloned().chain([(
            VERSION_ENV.to_string(),
            crate::protocol::PROTOCOL_VERSION.to_string(),
        )]) {
            env.retain(|(old, _)| *old != k);
            env.push((k, v));
        }
        env
    }
}

/// A proxy URL without `user:password@`.
fn without_credentials(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => value.to_string(),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> impl Iterator<Item = (String, String)> {
        [
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("USER", "me"),
            ("TZ", "UTC"),
            ("HTTPS_PROXY", "http://u:secret@proxy:3128"),
            ("GANTRY_REMOTE_FS_ROOT", "/srv"),
            ("AWS_SECRET_ACCESS_KEY", "nope"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
    }

    #[test]
    fn each_dialect_has_its_allowlist_and_both_set_the_protocol_version() {
        let mut cfg = AdapterConfig::new(
            "origin",
            AdapterSource::Command("/usr/local/bin/gantry-remote-fs".into()),
        );
        cfg.env = vec![("TOKEN".into(), "t".into())];
        let get = |env: &[(String, String)], k: &str| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        };
        let gantry = cfg.environment_from(vars());
        assert_eq!(
            get(&gantry, "GANTRY_REMOTE_FS_ROOT").as_deref(),
            Some("/srv")
        );
        assert_eq!(get(&gantry, "USER"), None);
        assert_eq!(
            get(&gantry, "EPACK_REMOTE_PROTOCOL_VERSION").as_deref(),
            Some("1")
        );
        assert_eq!(get(&gantry, "TOKEN").as_deref(), Some("t"));

        cfg.dialect = Dialect::Epack;
        let epack = cfg.environment_from(vars());
        assert_eq!(get(&epack, "GANTRY_REMOTE_FS_ROOT"), None);
        assert_eq!(get(&epack, "USER").as_deref(), Some("me"));
        assert_eq!(get(&epack, "TZ").as_deref(), Some("UTC"));
        assert_eq!(
            get(&epack, "HTTPS_PROXY").as_deref(),
            Some("http://proxy:3128/")
        );
        assert_eq!(get(&epack, "AWS_SECRET_ACCESS_KEY"), None);
        assert_eq!(
            get(&epack, "EPACK_REMOTE_PROTOCOL_VERSION").as_deref(),
            Some("1")
        );
        assert_eq!(get(&epack, "TOKEN").as_deref(), Some("t"));
    }
}
