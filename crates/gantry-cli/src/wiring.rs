//! Builds the backend registry from the config file and `-P` flags. The only place
//! that knows the concrete backends.

use std::path::PathBuf;
use std::sync::Arc;

use gantry_backend::{Backend, BackendRegistry, LabelSpec, WithContainers};
use gantry_docker::{DockerBackend, DockerConfig, DockerDriver};
use gantry_host::{HostBackend, HostConfig};
use gantry_plugin::{ClientTls, LaunchSpec, PluginBackend, PluginConfig, PluginSource};
use gantry_probe::{ProbeReport, Status};
use gantry_state::StateDir;

use crate::config::{Config, PluginSection};
use crate::exit::CliError;

/// Labels that map to the host backend unless configured otherwise.
pub(crate) const DEFAULT_HOST_LABELS: [&str; 2] = ["host", "self-hosted"];

/// Docker-compatible engines looked for: backend id and the sockets tried, in order.
const ENGINES: [(&str, &[&str]); 2] = [
    ("docker", &["/var/run/docker.sock"]),
    (
        "podman",
        &["/run/gantry-podman.sock", "/run/podman/podman.sock"],
    ),
];

/// A tag naming this gantry's state dir, put on everything its backends create so that
/// reaping never touches another gantry's objects.
pub(crate) fn owner(state: &StateDir) -> String {
    let path = state
        .root
        .canonicalize()
        .unwrap_or_else(|_| state.root.clone());
    let mut h: u64 = 0xcbf29ce484222325;
    for b in path.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The socket of engine `id`: `DOCKER_HOST` (unix:// or tcp://) for docker, else the first that exists.
fn engine_socket(id: &str, candidates: &[&str]) -> Option<String> {
    if id == "docker" {
        if let Some(h) = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.trim().is_empty())
        {
            return Some(h);
        }
    }
    if id == "podman" {
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
            let p = std::path::Path::new(&dir).join("podman/podman.sock");
            if p.exists() {
                return Some(format!("unix://{}", p.display()));
            }
        }
    }
    candidates
        .iter()
        .find(|c| std::path::Path::new(c).exists())
        .map(|c| format!("unix://{c}"))
}

/// What one job of a workflow needs before it runs: the backend its `runs-on` labels map
/// to, and whether it runs container layers (job container, services, `docker://` steps).
#[derive(Debug, Clone)]
pub(crate) struct JobNeeds {
    pub labels: Vec<String>,
    pub containers: bool,
}

/// The registry for a command: every available backend and every label mapping. Engines
/// and plugins cost a connection or a process, so only those some job needs are
/// connected or started: `jobs` holds what each job needs, or is `None` (some label is
/// only known at run time, or the command serves every backend, like `gc`) for all.
pub(crate) async fn registry(
    config: &Config,
    state: &StateDir,
    platforms: &[String],
    jobs: Option<&[JobNeeds]>,
) -> Result<BackendRegistry, CliError> {
    let mut registry = BackendRegistry::new();
    for label in DEFAULT_HOST_LABELS {
        registry.map(LabelSpec::new(label, "host"));
    }
    for spec in config.label_specs()? {
        registry.map(spec);
    }
    for p in platforms {
        let spec =
            LabelSpec::parse_mapping(p).map_err(|e| CliError::Usage(format!("-P {p}: {e}")))?;
        registry.map(spec);
    }
    let runs_on = |id: &str| {
        jobs.is_none_or(|jobs| {
            jobs.iter()
                .any(|j| registry.mapped_backend(&j.labels).as_deref() == Some(id))
        })
    };
    // Host jobs with container layers run them on an engine, as GitHub's runner does.
    let host_containers = jobs.is_none_or(|jobs| {
        jobs.iter()
            .any(|j| j.containers && registry.mapped_backend(&j.labels).as_deref() == Some("host"))
    });
    if let Some(c) = config.host.containers.as_deref() {
        if c != "none" && !ENGINES.iter().any(|(id, _)| *id == c) {
            return Err(CliError::Usage(format!(
                "[host] containers = \"{c}\" in gantry.toml: not an engine gantry knows (docker, podman, none)"
            )));
        }
    }
    let wanted_engines: Vec<bool> = ENGINES.iter().map(|(id, _)| runs_on(id)).collect();
    let wanted_plugins: Vec<bool> = config.plugins.keys().map(|n| runs_on(n)).collect();

    let owner = owner(state);
    let mut engines: Vec<Arc<dyn Backend>> = Vec::new();
    let probed = last_probe(state);
    for ((id, candidates), wanted) in ENGINES.into_iter().zip(wanted_engines) {
        // For the host's container layers: the configured engine, else the first that
        // answers.
        let for_host = host_containers
            && match config.host.containers.as_deref() {
                None => engines.is_empty(),
                Some(c) => c == id,
            };
        if !wanted && !for_host {
            registry.mark_unavailable(id, "not connected: no job of this workflow runs on it");
            continue;
        }
        // Only runtimes the last probe found supported are offered (none probed: all).
        if let Some(r) = probed
            .as_ref()
            .and_then(|p| p.runtime(id))
            .filter(|r| r.status == Status::Degraded)
        {
            registry.mark_unavailable(
                id,
                format!("the last `gantry probe` found {id} degraded ({}); fix it and run `gantry probe` again", r.reasons.join("; ")),
            );
            continue;
        }
        let Some(endpoint) = engine_socket(id, candidates) else {
            registry.mark_unavailable(
                id,
                format!("no {id} socket found ({})", candidates.join(", ")),
            );
            continue;
        };
        let tls = (id == "docker" && !endpoint.starts_with("unix://"))
            .then(docker_tls)
            .flatten();
        let cfg = DockerConfig {
            id: id.into(),
            endpoint,
            tls,
            owner: owner.clone(),
            runner_name: runner_name(),
        };
        match DockerBackend::connect(cfg).await {
            Ok(b) => {
                engines.push(b.clone());
                registry.register(b);
            }
            Err(e) => registry.mark_unavailable(id, e.to_string()),
        }
    }
    let root = config
        .host
        .root
        .clone()
        .unwrap_or_else(|| state.root.join("work"));
    let mut host = HostBackend::new(HostConfig {
        root,
        runner_name: runner_name(),
    })
    // A state dir inside the project is never copied into a job's workspace.
    .keep_out_of_workspaces(state.root.clone());
    // Each job's steps run under a supervisor (this binary again): what they start ends
    // with the job, however it detaches.
    match std::env::current_exe() {
        Ok(exe) => host = host.with_supervisor(exe),
        Err(e) => tracing::warn!("no job supervisor (cannot find gantry's own binary: {e})"),
    }
    let host: Arc<dyn Backend> = Arc::new(host);
    let containers = match config.host.containers.as_deref() {
        _ if !host_containers => None,
        None => engines.first().cloned(),
        Some("none") => None,
        Some(id) => match engines.iter().find(|e| e.id() == id) {
            Some(e) => Some(e.clone()),
            None => {
                return Err(CliError::Usage(format!(
                    "[host] containers = \"{id}\" in gantry.toml: that engine is not available here (see `gantry probe`), or set it to \"none\""
                )))
            }
        },
    };
    match containers {
        Some(engine) => registry.register(Arc::new(WithContainers::new(host, engine))),
        None => registry.register(host),
    }
    for ((name, section), wanted) in config.plugins.iter().zip(wanted_plugins) {
        let cfg = plugin_config(config, state, &owner, name, section)?;
        if !wanted {
            registry.mark_unavailable(
                name.clone(),
                "not started: no job of this workflow runs on it",
            );
            continue;
        }
        match PluginBackend::start(cfg).await {
            Ok(b) => registry.register(b),
            Err(e) => registry.mark_unavailable(name.clone(), e.to_string()),
        }
    }
    Ok(registry)
}

/// The artifact store the config names: local (default) or S3.
pub(crate) fn artifact_store(
    config: &Config,
    state: &StateDir,
    ledger: &gantry_state::Ledger,
) -> Result<Arc<dyn gantry_artifact::ArtifactStore>, CliError> {
    let section = &config.artifacts;
    match section.store.as_deref().unwrap_or("local") {
        "local" => Ok(Arc::new(gantry_artifact::LocalStore::new(
            section
                .root
                .clone()
                .unwrap_or_else(|| state.root.join("artifacts")),
            ledger.clone(),
        ))),
        "s3" => {
            let Some(s3) = &section.s3 else {
                return Err(CliError::Usage(
                    "[artifacts] store = \"s3\" needs an [artifacts.s3] table (bucket, endpoint)"
                        .into(),
                ));
            };
            let var = |name: &Option<String>, default: &str| {
                let key = name.clone().unwrap_or_else(|| default.to_string());
                std::env::var(&key).map_err(|_| {
                    CliError::Usage(format!(
                        "[artifacts.s3]: the environment variable {key} (S3 credentials) is not set"
                    ))
                })
            };
            let cfg = gantry_artifact::S3Config {
                endpoint: s3.endpoint.clone(),
                bucket: s3.bucket.clone(),
                region: s3.region.clone(),
                access_key_id: var(&s3.access_key_id_env, "AWS_ACCESS_KEY_ID")?,
                secret_access_key: var(&s3.secret_access_key_env, "AWS_SECRET_ACCESS_KEY")?,
                prefix: s3.prefix.clone(),
            };
            Ok(Arc::new(
                gantry_artifact::S3Store::new(&cfg).map_err(|e| CliError::Usage(e.to_string()))?,
            ))
        }
        other => Err(CliError::Usage(format!(
            "[artifacts] store = \"{other}\": expected \"local\" or \"s3\""
        ))),
    }
}

/// The built-in steps of a run: checkout, and the artifact steps on the configured store.
pub(crate) fn builtins(
    config: &Config,
    state: &StateDir,
) -> Result<gantry_engine::Builtins, CliError> {
    let ledger = gantry_state::Ledger::open(state)?;
    let store = artifact_store(config, state, &ledger)?;
    let mut b = gantry_engine::Builtins::standard();
    b.add(Arc::new(gantry_artifact::UploadArtifact {
        store: store.clone(),
        ledger: ledger.clone(),
    }));
    b.add(Arc::new(gantry_artifact::DownloadArtifact {
        store,
        ledger,
    }));
    Ok(b)
}

/// How to reach plugin `name` as configured: launched from its pinned `command`, or at
/// its `address`.
pub(crate) fn plugin_config(
    config: &Config,
    state: &StateDir,
    owner: &str,
    name: &str,
    section: &PluginSection,
) -> Result<PluginConfig, CliError> {
    let place = || {
        format!(
            "{}: [plugins.{name}]",
            config
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "gantry.toml".into())
        )
    };
    let base = config
        .source
        .as_ref()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let source = match (&section.command, &section.address) {
        (Some(command), None) => {
            let command = base.join(command);
            let pins = gantry_plugin::lock::load(&config.lock_path())
                .map_err(|e| CliError::Usage(e.to_string()))?;
            PluginSource::Launch(LaunchSpec {
                name: name.into(),
                command,
                args: section.args.clone(),
                env: section.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                sha256: pins.get(name).map(|p| p.sha256.clone()),
            })
        }
        (None, Some(address)) => PluginSource::Connect {
            address: address.clone(),
            tls: section.tls.as_ref().map(|t| ClientTls {
                ca: t.ca.as_ref().map(|p| base.join(p)),
                cert: t.cert.as_ref().map(|p| base.join(p)),
                key: t.key.as_ref().map(|p| base.join(p)),
                domain: t.domain.clone(),
            }),
            insecure: section.insecure,
        },
        _ => {
            return Err(CliError::Usage(format!(
                "{}: set exactly one of `command` (gantry launches the plugin) or `address` (it already serves)",
                place()
            )))
        }
    };
    let mut cfg = PluginConfig::new(name, source);
    if let Some(t) = section.timeout {
        cfg.call_timeout = std::time::Duration::from_secs(t.max(1));
    }
    if let Some(t) = section.setup_timeout {
        cfg.setup_timeout = std::time::Duration::from_secs(t.max(1));
    }
    let ledger_dir = state.clone();
    cfg.live_runs = Some(Arc::new(move || {
        gantry_state::Ledger::open(&ledger_dir)
            .and_then(|l| l.live_run_ids())
            .unwrap_or_default()
    }));
    cfg.driver = Some(Arc::new(DockerDriver::new(owner, runner_name())));
    Ok(cfg)
}

/// TLS for a tcp `DOCKER_HOST`, as the docker CLI does it: when `DOCKER_TLS_VERIFY` is
/// set, certificates from `DOCKER_CERT_PATH` (default `~/.docker`).
fn docker_tls() -> Option<PathBuf> {
    std::env::var("DOCKER_TLS_VERIFY")
        .ok()
        .filter(|v| !v.is_empty() && v != "0")?;
    std::env::var_os("DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
}

/// The report `gantry probe` saved in the state dir, if any and readable.
fn last_probe(state: &StateDir) -> Option<ProbeReport> {
    let text =
        std::fs::read_to_string(state.root.join(crate::commands::probe::REPORT_FILE)).ok()?;
    ProbeReport::from_json(&text).ok()
}

/// `runner.name`: `gantry@<hostname>`.
pub(crate) fn runner_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("gantry@{host}")
}

/// The state dir from `--state-dir` or the documented defaults.
pub(crate) fn state_dir(explicit: Option<&PathBuf>) -> Result<StateDir, CliError> {
    match explicit {
        Some(p) => Ok(StateDir::at(p)),
        None => Ok(StateDir::resolve()?),
    }
}
