//! `gantry remote ...`, and what `push`, `pull` and `remote login` share: opening a
//! remote's adapter (epack's Remote Adapter Protocol v1 with gantry's additions,
//! docs/remote-protocol.md) and reading gantry packs for their pack digest.

use crate::console::outln;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gantry_remote::conformance;
use gantry_remote::lock::{digest_file, AdapterPin};
use gantry_remote::protocol::{Identity, Target};
use gantry_remote::{Adapter, AdapterConfig, AdapterSource, Dialect, PackFormat, RemoteError};

use crate::args::{RemoteCommand, RemoteNameArgs, RemoteTestArgs};
use crate::config::{Config, RemoteSection};
use crate::exit::{CliError, Outcome};

/// gantry's packs, as the remote layer reads them (gantry-artifact's `pack` module).
pub(crate) struct GantryPacks;

impl PackFormat for GantryPacks {
    fn pack_digest(&self, path: &Path) -> Result<Option<String>, String> {
        gantry_artifact::pack::file_pack_digest(path)
    }
}

/// Setup problems (config, pins) are usage errors; the remote failing is a plain failure.
pub(crate) fn cli_error(e: RemoteError) -> CliError {
    if e.is_setup() {
        CliError::Usage(e.to_string())
    } else {
        CliError::Other(e.to_string())
    }
}

pub(crate) fn section<'a>(config: &'a Config, name: &str) -> Result<&'a RemoteSection, CliError> {
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
    if let Some(root) = &s.file_root {
        if !root.is_absolute() {
            return Err(CliError::Usage(format!(
                "[remotes.{name}] file-root `{}` is not an absolute path",
                root.display()
            )));
        }
        cfg.file_root = Some(root.clone());
    }
    Ok(cfg)
}

/// Opens remote `name`'s adapter with its pin from gantry.lock, in `dialect`.
pub(crate) fn open(
    config: &Config,
    name: &str,
    frozen: bool,
    dialect: Dialect,
) -> Result<Adapter, CliError> {
    let mut cfg = adapter_config(config, name, frozen)?;
    cfg.dialect = dialect;
    let pins = gantry_remote::lock::load(&config.lock_path()).map_err(cli_error)?;
    cfg.pin = pins.get(name).cloned();
    Adapter::open(cfg).map_err(cli_error)
}

pub(crate) fn target(config: &Config, name: &str, environment: Option<&String>) -> Target {
    Target::new(
        config.remotes.get(name).and_then(|s| s.workspace.clone()),
        environment.cloned(),
    )
}

pub(crate) fn print_identity(remote: &str, id: &Identity) {
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

/// `gantry remote ...`.
pub(crate) async fn remote(cmd: &RemoteCommand, config: &Config) -> Result<Outcome, CliError> {
    match cmd {
        RemoteCommand::List => list(config),
        RemoteCommand::Capabilities(a) => capabilities(a, config).await,
        RemoteCommand::Lock(a) => lock(a, config).await,
        RemoteCommand::Login(a) => super::remote_login::login(a, config).await,
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
    let adapter = open(config, &args.name, args.flags.frozen, Dialect::Gantry)?;
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

async fn whoami(args: &RemoteNameArgs, config: &Config) -> Result<Outcome, CliError> {
    let adapter = open(config, &args.name, args.flags.frozen, Dialect::Gantry)?;
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

async fn test(args: &RemoteTestArgs, config: &Config) -> Result<Outcome, CliError> {
    if !conformance::selects_any(args.filter.as_deref()) {
        return Err(CliError::Usage(format!(
            "no conformance case matches --filter {:?} (cases: {})",
            args.filter.as_deref().unwrap_or_default(),
            conformance::CASES.join(", ")
        )));
    }
    let dialect = if args.as_epack {
        Dialect::Epack
    } else {
        Dialect::Gantry
    };
    let adapter = open(config, &args.name, args.flags.frozen, dialect)?;
    outln!(
        "remote `{}`: adapter {}{}{}",
        args.name,
        adapter.original_path().display(),
        if adapter.is_sealed() {
            " (pinned, running a verified copy)"
        } else {
            " (unpinned)"
        },
        if args.as_epack {
            ", driven as epack's executor drives it"
        } else {
            ""
        }
    );
    let scratch = tempfile::tempdir().map_err(|e| CliError::io("temp dir", e))?;
    let mut options = conformance::Options::new(PathBuf::from(scratch.path()));
    options.target = target(config, &args.name, None);
    options.filter = args.filter.clone();
    options.format = Arc::new(GantryPacks);
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
    Ok(if failed == 0 && !results.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
