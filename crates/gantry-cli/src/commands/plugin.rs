//! `gantry plugin test`: the conformance suite (contract cases and wire checks) against
//! any plugin; `gantry plugin pin`: record a plugin binary's digest in gantry.lock.

use crate::console::outln;
use std::sync::Arc;
use std::time::Duration;

use gantry_backend::{Backend, LabelSpec};
use gantry_plugin::lock::{digest_file, Pin};
use gantry_plugin::{ClientTls, LaunchSpec, PluginBackend, PluginConfig, PluginSource};
use gantry_state::StateDir;

use crate::args::{PluginCommand, PluginPinArgs, PluginTestArgs};
use crate::config::Config;
use crate::exit::{CliError, Outcome};

pub(crate) async fn plugin(
    cmd: &PluginCommand,
    config: &Config,
    state: &StateDir,
) -> Result<Outcome, CliError> {
    match cmd {
        PluginCommand::Test(a) => test(a, state).await,
        PluginCommand::Pin(a) => pin(a, config),
    }
}

async fn test(args: &PluginTestArgs, state: &StateDir) -> Result<Outcome, CliError> {
    let source = match (&args.address, &args.command) {
        (Some(address), _) => PluginSource::Connect {
            address: address.clone(),
            tls: Some(ClientTls {
                ca: args.tls_ca.clone(),
                cert: args.tls_cert.clone(),
                key: args.tls_key.clone(),
                domain: None,
            }),
            insecure: args.insecure,
        },
        (None, Some(command)) => {
            let sha256 = digest_file(command).map_err(|e| CliError::Usage(e.to_string()))?;
            outln!("plugin binary {} sha256 {sha256}", command.display());
            PluginSource::Launch(LaunchSpec {
                name: "under-test".into(),
                command: command.clone(),
                args: args.args.clone(),
                env: Vec::new(),
                sha256: Some(sha256),
            })
        }
        (None, None) => return Err(CliError::Usage("give --address or --command".into())),
    };
    let mut cfg = PluginConfig::new("under-test", source);
    cfg.call_timeout = Duration::from_secs(30);
    let backend = PluginBackend::start(cfg)
        .await
        .map_err(|e| CliError::Other(e.to_string()))?;
    let caps = backend.wire_capabilities().clone();
    outln!(
        "plugin `{}`: protocol v{} revision {}, {} {}, job containers {}, services {}, step containers {}",
        caps.backend_name,
        caps.protocol_version,
        caps.protocol_revision,
        caps.os,
        caps.arch,
        caps.job_container,
        caps.services,
        caps.step_containers
    );
    let workspace = tempfile::tempdir().map_err(|e| CliError::io("temp dir", e))?;
    std::fs::write(workspace.path().join("README"), "conformance workspace\n")
        .map_err(|e| CliError::io(workspace.path().display(), e))?;
    let mut label = LabelSpec::new("conformance", backend.id());
    label.target = args.target.clone();
    let mut options = gantry_conformance::Options::new(label, workspace.path());
    options.filter = args.filter.clone();
    options.run_id_prefix = format!("plugin-test-{}-", crate::wiring::owner(state));
    let results = gantry_conformance::run(backend.clone() as Arc<dyn Backend>, options).await;
    let mut failed = 0usize;
    let mut total = 0usize;
    for r in &results {
        total += 1;
        failed += usize::from(!r.passed);
        print_line(r.passed, r.name, r.duration, &r.detail);
    }
    for r in gantry_plugin::checks::run(&backend).await {
        if args.filter.as_deref().is_some_and(|f| !r.name.contains(f)) {
            continue;
        }
        total += 1;
        failed += usize::from(!r.passed);
        print_line(r.passed, r.name, r.duration, &r.detail);
    }
    backend.shutdown().await;
    outln!("{} passed, {failed} failed", total - failed);
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn print_line(passed: bool, name: &str, duration: Duration, detail: &str) {
    let detail = detail.lines().next().unwrap_or("");
    outln!(
        "{} {name} ({} ms){}{detail}",
        if passed { "PASS" } else { "FAIL" },
        duration.as_millis(),
        if detail.is_empty() { "" } else { ": " }
    );
}

fn pin(args: &PluginPinArgs, config: &Config) -> Result<Outcome, CliError> {
    let Some(section) = config.plugins.get(&args.name) else {
        let known: Vec<&str> = config.plugins.keys().map(String::as_str).collect();
        return Err(CliError::Usage(format!(
            "no plugin `{}` in [plugins] (known: {})",
            args.name,
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )));
    };
    let Some(command) = &section.command else {
        return Err(CliError::Usage(format!(
            "plugin `{}` is reached at an address; only launched plugins (`command`) are pinned",
            args.name
        )));
    };
    let base = config
        .source
        .as_ref()
        .and_then(|p| p.parent())
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let command = base.join(command);
    let sha256 = digest_file(&command).map_err(|e| CliError::Usage(e.to_string()))?;
    let path = config.lock_path();
    let previous = gantry_plugin::lock::pin(
        &path,
        &args.name,
        Pin {
            command: command.clone(),
            sha256: sha256.clone(),
        },
    )
    .map_err(|e| CliError::Other(e.to_string()))?;
    match previous {
        Some(p) if p.sha256 == sha256 => outln!("{}: unchanged, sha256 {sha256}", args.name),
        Some(p) => outln!(
            "{}: sha256 {} -> {sha256} in {}",
            args.name,
            p.sha256,
            path.display()
        ),
        None => outln!(
            "{}: pinned sha256 {sha256} in {}",
            args.name,
            path.display()
        ),
    }
    Ok(Outcome::Success)
}
