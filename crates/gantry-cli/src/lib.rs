//! The `gantry` command line: parses arguments, wires the concrete backends into the
//! engine's registry, and renders and records what the engine reports. Thin on purpose:
//! the domain lives in the other crates.

use crate::console::errln;
mod args;
mod commands;
mod config;
mod console;
mod discover;
mod exit;
mod record;
mod render;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use config::Config;
pub use exit::{CliError, Outcome};

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // The host backend starts this binary again as each job's supervisor.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(gantry_host::SUPERVISOR_ARG))
    {
        return gantry_host::supervise();
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    init_tracing();
    match run(cli) {
        Ok(outcome) => outcome.code(),
        Err(e) => {
            errln!("error: {e}");
            e.code()
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GANTRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli) -> Result<Outcome, CliError> {
    let config = Config::load(cli.config.as_deref())?;
    if let Command::Schema = cli.command {
        return commands::schema::schema();
    }
    let state = wiring::state_dir(cli.state_dir.as_ref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(format!("starting the async runtime: {e}")))?;
    runtime.block_on(async {
        match &cli.command {
            Command::Run(a) => commands::run::run(a, &config, &state).await,
            Command::Validate(a) => commands::validate::validate(a, &config, &state).await,
            Command::Schema => commands::schema::schema(),
            Command::Runs(a) => commands::runs::runs(a, &state),
            Command::Logs(a) => commands::logs::logs(a, &state),
            Command::Probe(a) => commands::probe::probe(a, &state).await,
            Command::Plugin(a) => commands::plugin::plugin(a, &config, &state).await,
            Command::Push(a) => commands::push::push(a, &config, &state).await,
            Command::Pull(a) => commands::pull::pull(a, &config).await,
            Command::Remote(a) => commands::remote::remote(a, &config).await,
            Command::Pack(a) => commands::pack::pack(a, &config, &state).await,
            Command::Gc(a) => {
                let registry = wiring::registry(&config, &state, &[], None).await?;
                commands::gc::gc(a, &registry, &config, &state).await
            }
        }
    })
}
