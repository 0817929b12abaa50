//! `gantry push`, `gantry pull` and `gantry remote ...`: remotes driven by adapters
//! speaking the remote adapter protocol v1 (docs/remote-protocol.md).

use crate::console::outln;
use std::path::PathBuf;
use std::time::Duration;

use gantry_remote::conformance;
use gantry_remote::lock::{digest_file, AdapterPin};
use gantry_remote::protocol::{ReleaseInfo, Target};
use gantry_remote::{Adapter, AdapterConfig, AdapterSource, PushOptions, RemoteError};

use crate::args::{PullArgs, PushArgs, RemoteCommand, RemoteNameArgs, RemoteTestArgs};
use crate::config::{Config, RemoteSection};
use crate::exit::{CliError, Outcome};

/// Setup problems (config, pins) are usage errors; the remote failing is a plain failure.
fn cli_error(e: RemoteError) -> CliError {
    if e.is_setup() {
        CliError::Usage(e.to_string())
    } else {
        CliError::Other(e.to_string())
    }
}

fn section<'a>(config: &'a Config, name: &str) -> Result<&'a RemoteSection, CliError> {
    config.remotes.get(name).ok_or_else(|| {
        let known: Vec<&str> = config.remotes.keys().map(String::as_str).collect();
        CliError::Usage(format!(
            "no remote `{name}` in [remotes] of {} (known: {})",
            config
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "gantry.toml".into()),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// The adapter config of remote `name`, without its pin.
fn adapter_config(config: &Config, name: &str, frozen: bool) -> Result<AdapterConfig, CliError> {
    let s = section(config, name)?;
    let source = match (&s.command, &s.adapter) {
        (Some(command), None) => AdapterSource::Command(command.clone()),
        (None, Some(adapter)) => AdapterSource::Lookup(adapter.clone()),
        _ => {
            return Err(CliError::Usage(format!(
                "[remotes.{name}] needs exactly one of `command` (an absolute path) or `adapter` (with `path-lookup = true`)"
            )))
        }
    };
    let mut cfg = AdapterConfig::new(name, source);
    cfg.allow_path_lookup = s.path_lookup;
    cfg.frozen = frozen;
    cfg.env = s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(secs) = s.timeout {
        cfg.timeout = Duration::from_secs(secs.max(1));
    }
    if let Some(rate) = s.rate_per_second {
        cfg.rate_per_second = rate;
    }
    if let Some(burst) = s.rate_burst {
        cfg.rate_burst = burst;
    }
    Ok(cfg)
}

/// Opens remote `name`'s adapter with its pin from gantry.lock.
fn open(config: &Config, name: &str, frozen: bool) -> Result<Adapter, CliError> {
    let mut cfg = adapter_config(config, name, frozen)?;
    let pins = gantry_remote::lock::load(&config.lock_path()).map_err(cli_error)?;
    cfg.pin = pins.get(name).cloned();
    Adapter::open(cfg).map_err(cli_error)
}

fn target(config: &Config, name: &str, environment: Option<&String>) -> Target {
    Target {
        workspace: config.remotes.get(name).and_then(|s| s.workspace.clone()),
        environment: environment.cloned(),
    }
}

/// `gantry push PACK --remote NAME`.
pub(crate) async fn push(args: &PushArgs, config: &Config) -> Result<Outcome, CliError> {
    let adapter = open(config, &args.remote, args.flags.frozen)?;
    let options = PushOptions {
        target: target(config, &args.remote, args.environment.as_ref()),
        release: ReleaseInfo {
            name: args.name.clone(),
            version: args.release_version.clone(),
            ..ReleaseInfo::default()
        },
    };
    let release = gantry_remote::push(&adapter, &args.pack, &options)
        .await
        .map_err(cli_error)?;
    outln!(
        "pushed {} to `{}`: {} ({})",
        args.pack.display(),
        args.remote,
        release.canonical_ref,
        release.pack_digest
    );
    Ok(Outcome::Success)
}

/// `gantry pull REF --remote NAME`.
pub(crate) async fn pull(args: &PullArgs, config: &Config) -> Result<Outcome, CliError> {
    let adapter = open(config, &args.remote, args.flags.frozen)?;
    let output = args.output.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}.pack",
            args.reference.replace(['@', ':', '/'], "-")
        ))
    });
    let target = target(config, &args.remote, args.environment.as_ref());
    let pulled = gantry_remote::pull(&adapter, &args.reference, &target, &output)
        .await
        .map_err(cli_error)?;
    outln!(
        "pulled {} from `{}` to {} ({}, {} bytes, verified)",
        args.reference,
        args.remote,
        pulled.path.display(),
        pulled.digest,
        pulled.size_bytes
    );
    Ok(Outcome::Success)
}

/// `gantry remote ...`.
pub(crate) async fn remote(cmd: &RemoteCommand, config: &Config) -> Result<Outcome, CliError> {
    match cmd {
        RemoteCommand::List => list(config),
        RemoteCommand::Capabilities(a) => capabilities(a, config).await,
        RemoteCommand::Lock(a) => lock(a, config).await,
        RemoteCommand::Login(a) => login(a, config).await,
        RemoteCommand::Whoami(a) => whoami(a, config).await,
        RemoteCommand::Test(a) => test(a, config).await,
    }
}

fn list(config: &Config) -> Result<Outcome, CliError> {
    if config.remotes.is_empty() {
        outln!("no remotes configured (add [remotes.NAME] to gantry.toml)");
        return Ok(Outcome::Success);
    }
    let pins = gantry_remote::lock::load(&config.lock_path()).map_err(cli_error)?;
    for name in config.remotes.keys() {
        let cfg = adapter_config(config, name, false)?;
        let (adapter, status) = match cfg.resolve() {
            Err(e) => ("-".to_string(), format!("unusable: {e}")),
            Ok(path) => {
                let status = match pins.get(name) {
                    None => "unpinned".to_string(),
                    Some(pin) if pin.command != path => {
                        format!("pinned for another path ({})", pin.command.display())
                    }
                    Some(pin) => match digest_file(&path) {
                        Ok(d) if gantry_remote::seal::digests_equal(&d, &pin.sha256) => {
                            "pinned".to_string()
                        }
                        Ok(d) => format!("MISMATCH (sha256 {d}, pinned {})", pin.sha256),
                        Err(e) => format!("unreadable: {e}"),
                    },
                };
                (path.display().to_string(), status)
            }
        };
        outln!("{name}\t{adapter}\t{status}");
    }
    Ok(Outcome::Success)
}

async fn capabilities(args: &RemoteNameArgs, config: &Config) -> Result<Outcome, CliError> {
    let adapter = open(config, &args.name, args.flags.frozen)?;
    let caps = adapter.capabilities().await.map_err(cli_error)?;
    let text = serde_json::to_string_pretty(&caps)
        .map_err(|e| CliError::Other(format!("encoding capabilities: {e}")))?;
    outln!("{text}");
    Ok(Outcome::Success)
}

async fn lock(args: &RemoteNameArgs, config: &Config) -> Result<Outcome, CliError> {
    let mut cfg = adapter_config(config, &args.name, false)?;
    let command = cfg.resolve().map_err(cli_error)?;
    let sha256 = digest_file(&command).map_err(cli_error)?;
    let pin = AdapterPin {
        command: command.clone(),
        sha256: sha256.clone(),
    };
    // Check it speaks the protocol, from a sealed copy of exactly the bytes being pinned.
    cfg.pin = Some(pin.clone());
    let adapter = Adapter::open(cfg).map_err(cli_error)?;
    let caps = adapter.capabilities().await.map_err(cli_error)?;
    let path = config.lock_path();
    let previous = gantry_remote::lock::pin(&path, &args.name, pin).map_err(cli_error)?;
    match previous {
        Some(p) if p.sha256 == sha256 && p.command == command => {
            outln!("{}: unchanged, sha256 {sha256}", args.name)
        }
        Some(p) => outln!(
            "{}: sha256 {} -> {sha256} ({}, adapter `{}`) in {}",
            args.name,
            p.sha256,
            command.display(),
            caps.name,
            path.display()
        ),
        None => outln!(
            "{}: pinned sha256 {sha256} ({}, adapter `{}`) in {}",
            args.name,
            command.display(),
            caps.name,
            path.display()
        ),
    }
    Ok(Outcome::Success)
}

async fn login(args: &RemoteNameArgs, config: &Config) -> Result<Outcome, CliError> {
    let adapter = open(config, &args.name, args.flags.frozen)?;
    let caps = adapter.capabilities().await.map_err(cli_error)?;
    if !caps.features.auth_login {
        return Err(cli_error(RemoteError::Unsupported {
            adapter: args.name.clone(),
            feature: "auth.login".into(),
        }));
    }
    let out = adapter.auth_login().await.map_err(cli_error)?;
    if let Some(i) = &out.instructions {
        outln!(
            "open {} and enter the code {} (valid {}s)",
            i.verification_uri,
            i.user_code,
            i.expires_in_seconds
        );
    }
    print_identity(&args.name, &out.identity);
    Ok(Outcome::Success)
}

async fn whoami(args: &RemoteNameArgs, config: &Config) -> Result<Outcome, CliError> {
    let adapter = open(config, &args.name, args.flags.frozen)?;
    let caps = adapter.capabilities().await.map_err(cli_error)?;
    if !caps.features.whoami {
        return Err(cli_error(RemoteError::Unsupported {
            adapter: args.name.clone(),
            feature: "auth.whoami".into(),
        }));
    }
    let out = adapter.auth_whoami().await.map_err(cli_error)?;
    print_identity(&args.name, &out.identity);
    Ok(Outcome::Success)
}

fn print_identity(remote: &str, id: &gantry_remote::protocol::Identity) {
    if id.authenticated {
        outln!(
            "{remote}: authenticated as {}{}{}",
            id.subject.as_deref().unwrap_or("(unknown subject)"),
            id.issuer
                .as_deref()
                .map(|i| format!(" (issuer {i})"))
                .unwrap_or_default(),
            id.expires_at
                .as_deref()
                .map(|e| format!(", expires {e}"))
                .unwrap_or_default()
        );
    } else {
        outln!("{remote}: not authenticated (try `gantry remote login {remote}`)");
    }
}

async fn test(args: &RemoteTestArgs, config: &Config) -> Result<Outcome, CliError> {
    let adapter = open(config, &args.name, args.flags.frozen)?;
    outln!(
        "remote `{}`: adapter {}{}",
        args.name,
        adapter.original_path().display(),
        if adapter.is_sealed() {
            " (pinned, running a verified copy)"
        } else {
            " (unpinned)"
        }
    );
    let scratch = tempfile::tempdir().map_err(|e| CliError::io("temp dir", e))?;
    let mut options = conformance::Options::new(scratch.path());
    options.target = target(config, &args.name, None);
    options.filter = args.filter.clone();
    let results = conformance::run(&adapter, &options).await;
    let failed = results.iter().filter(|r| !r.passed).count();
    for r in &results {
        let detail = r.detail.lines().next().unwrap_or("");
        outln!(
            "{} {} ({} ms){}{detail}",
            if r.passed { "PASS" } else { "FAIL" },
            r.name,
            r.duration.as_millis(),
            if detail.is_empty() { "" } else { ": " }
        );
    }
    outln!("{} passed, {failed} failed", results.len() - failed);
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
