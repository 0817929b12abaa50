//! `gantry.toml`: label mappings and backend settings. Documented in docs/config.md.
//!
//! ```toml
//! [labels]
//! ubuntu-latest = "docker://gantry-test/busybox:1?pull=never"   # string form
//! big = { backend = "docker", target = "img:1", options = { memory = "2g" } }  # map form
//!
//! [host]
//! root = "/var/tmp/gantry"          # where job workspaces live (default: <state>/work)
//! ```

use std::path::{Path, PathBuf};

use gantry_backend::LabelSpec;
use indexmap::IndexMap;
use serde::Deserialize;

use crate::exit::CliError;

/// A label's value in the config file: the spec string or its map form.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum LabelValue {
    Spec(String),
    Map {
        backend: String,
        #[serde(default)]
        target: String,
        #[serde(default)]
        options: IndexMap<String, toml::Value>,
    },
}

/// Host backend settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostSection {
    /// Where job workspaces are created.
    pub root: Option<PathBuf>,
    /// Which engine runs the container layers (`container:`, `services:`, `docker://`
    /// steps) of host jobs: `docker`, `podman` or `none`. Default: docker when it
    /// answers, else podman, else none.
    pub containers: Option<String>,
}

/// Where artifacts are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArtifactSection {
    /// `local` (default) or `s3`.
    pub store: Option<String>,
    /// The local store's directory (default: `<state>/artifacts`).
    pub root: Option<PathBuf>,
    /// The S3-compatible service, for `store = "s3"`.
    pub s3: Option<S3Section>,
}

/// An S3-compatible service; credentials come from `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` (or the variables named here), never from this file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct S3Section {
    /// `http://127.0.0.1:9000`; unset for AWS.
    pub endpoint: Option<String>,
    pub bucket: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// Key prefix inside the bucket.
    #[serde(default)]
    pub prefix: String,
    /// Variable holding the access key id (default `AWS_ACCESS_KEY_ID`).
    pub access_key_id_env: Option<String>,
    /// Variable holding the secret key (default `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key_env: Option<String>,
}

fn default_region() -> String {
    "us-east-1".into()
}

/// TLS material for a plugin reached over tcp.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PluginTls {
    /// CA certificate (PEM) that signed the plugin's certificate.
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub cert: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    pub key: Option<PathBuf>,
    /// Name the plugin's certificate must carry (default: the address's host).
    pub domain: Option<String>,
}

/// A backend plugin (docs/plugins.md): launched from `command`, or reached at `address`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PluginSection {
    /// The plugin binary gantry launches (pinned in gantry.lock).
    pub command: Option<PathBuf>,
    /// Arguments for `command`.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment for `command` (it gets no other variables but PATH, HOME, USER, LANG, TMPDIR).
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Where a plugin already serves: `unix:///PATH.sock` or `tcp://HOST:PORT`.
    pub address: Option<String>,
    /// TLS for a tcp address.
    pub tls: Option<PluginTls>,
    /// Allow plain tcp (no TLS) to `address`.
    #[serde(default)]
    pub insecure: bool,
    /// Deadline in seconds of quick calls (default 30).
    pub timeout: Option<u64>,
    /// Deadline in seconds of calls that create things (default 600).
    pub setup_timeout: Option<u64>,
}

/// A remote (docs/remote-protocol.md): its adapter by absolute `command`, or
/// `gantry-remote-<adapter>` found on PATH when `path-lookup = true`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RemoteSection {
    /// Absolute path of the adapter binary (pinned with `gantry remote lock`).
    pub command: Option<PathBuf>,
    /// Adapter name, for `gantry-remote-<adapter>` on PATH.
    pub adapter: Option<String>,
    /// Allow finding `adapter` on PATH (off by default: PATH is not trusted).
    #[serde(default)]
    pub path_lookup: bool,
    /// Environment for the adapter (it otherwise gets only PATH, HOME, LANG, TMPDIR and
    /// gantry's `GANTRY_REMOTE_<ADAPTER>_*` variables).
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Seconds one adapter command may take (default 300).
    pub timeout: Option<u64>,
    /// Adapter commands per second, sustained (default 10; 0 is read as 1).
    pub rate_per_second: Option<u32>,
    /// Adapter commands allowed at once before the rate applies (default 5).
    pub rate_burst: Option<u32>,
    /// Workspace on the remote (the requests' `target.workspace`).
    pub workspace: Option<String>,
    /// Send the results of the pack's runs after every push (`runs.sync`, epack's
    /// `runs.sync: true`); `gantry push --sync-runs` does it for one push.
    #[serde(default)]
    pub sync_runs: bool,
    /// `file://` URLs the adapter hands out must be inside this directory (epack's
    /// `transport.file_root`); default: any absolute path.
    pub file_root: Option<PathBuf>,
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub labels: IndexMap<String, LabelValue>,
    #[serde(default)]
    pub host: HostSection,
    /// Where artifacts are kept.
    #[serde(default)]
    pub artifacts: ArtifactSection,
    /// Backend plugins by name; labels map to them by that name (`NAME://TARGET`).
    #[serde(default)]
    pub plugins: IndexMap<String, PluginSection>,
    /// Remotes for `gantry push`/`pull`, each driven by an adapter (docs/remote-protocol.md).
    #[serde(default)]
    pub remotes: IndexMap<String, RemoteSection>,
    /// Where the file came from, for messages.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Config {
    /// Loads `explicit`, or the first default location that exists, or nothing.
    pub(crate) fn load(explicit: Option<&Path>) -> Result<Config, CliError> {
        let candidates: Vec<PathBuf> = match explicit {
            Some(p) => vec![p.to_path_buf()],
            None => {
                let mut v = vec![PathBuf::from("gantry.toml")];
                if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                {
                    v.push(dir.join("gantry").join("config.toml"));
                }
                v
            }
        };
        for path in candidates {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let mut cfg: Config = toml::from_str(&text).map_err(|e| {
                        CliError::Usage(format!("{}: {}", path.display(), e.to_string().trim_end()))
                    })?;
                    cfg.source = Some(path);
                    return Ok(cfg);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                    continue
                }
                Err(e) => return Err(CliError::io(path.display(), e)),
            }
        }
        Ok(Config::default())
    }

    /// Where `gantry.lock` lives: next to the config file, else in the current directory.
    pub(crate) fn lock_path(&self) -> PathBuf {
        self.source
            .as_ref()
            .and_then(|p| p.parent())
            .filter(|d| !d.as_os_str().is_empty())
            .map(|d| d.join("gantry.lock"))
            .unwrap_or_else(|| PathBuf::from("gantry.lock"))
    }

    /// The label mappings as specs.
    pub(crate) fn label_specs(&self) -> Result<Vec<LabelSpec>, CliError> {
        let place = || {
            self.source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "gantry.toml".into())
        };
        let mut out = Vec::new();
        for (label, value) in &self.labels {
            let spec = match value {
                LabelValue::Spec(s) => LabelSpec::parse(label, s)
                    .map_err(|e| CliError::Usage(format!("{}: [labels] {label}: {e}", place())))?,
                LabelValue::Map {
                    backend,
                    target,
                    options,
                } => {
                    let mut spec = LabelSpec::new(label.clone(), backend.clone());
                    spec.target = target.clone();
                    for (k, v) in options {
                        let v = match v {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        spec.options.insert(k.clone(), v);
                    }
                    spec
                }
            };
            out.push(spec);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_label_forms() {
        let cfg: Config = toml::from_str(
            "[labels]\na = \"docker://img:1?pull=never\"\nb = { backend = \"docker\", target = \"x\", options = { memory = \"1g\", cpus = 2 } }\n",
        )
        .unwrap();
        let specs = cfg.label_specs().unwrap();
        assert_eq!(specs[0].option("pull"), Some("never"));
        assert_eq!(specs[1].option("cpus"), Some("2"));
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("[lables]\n").is_err());
    }
}
