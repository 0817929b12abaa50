//! Builds the backend registry from the config file and `-P` flags. The only place
//! that knows the concrete backends.

use std::path::PathBuf;
use std::sync::Arc;

use gantry_backend::{BackendRegistry, LabelSpec};
use gantry_host::{HostBackend, HostConfig};
use gantry_state::StateDir;

use crate::config::Config;
use crate::exit::CliError;

/// Labels that map to the host backend unless configured otherwise.
pub const DEFAULT_HOST_LABELS: [&str; 2] = ["host", "self-hosted"];

/// The registry for a command: every available backend and every label mapping.
pub fn registry(
    config: &Config,
    state: &StateDir,
    platforms: &[String],
) -> Result<BackendRegistry, CliError> {
    let mut registry = BackendRegistry::new();
    let root = config
        .host
        .root
        .clone()
        .unwrap_or_else(|| state.root.join("work"));
    registry.register(Arc::new(HostBackend::new(HostConfig {
        root,
        runner_name: runner_name(),
    })));
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
    Ok(registry)
}

/// `runner.name`: `gantry@<hostname>`.
pub fn runner_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("gantry@{host}")
}

/// The state dir from `--state-dir` or the documented defaults.
pub fn state_dir(explicit: Option<&PathBuf>) -> Result<StateDir, CliError> {
    match explicit {
        Some(p) => Ok(StateDir::at(p)),
        None => Ok(StateDir::resolve()?),
    }
}
