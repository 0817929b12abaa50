//! The command line. This surface is stable: scripts and later tools rely on it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// gantry: run GitHub Actions-style workflows on the host, in containers, or on any
/// backend plugin.
#[derive(Debug, Parser)]
#[command(name = "gantry", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Configuration file (default: ./gantry.toml, then $XDG_CONFIG_HOME/gantry/config.toml).
    #[arg(long, global = true, env = "GANTRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// State directory (default: $GANTRY_STATE_DIR, $XDG_STATE_HOME/gantry, ~/.local/state/gantry).
    #[arg(long, global = true)]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a workflow (default: the workflows in .gantry/workflows, .github/workflows, .forgejo/workflows).
    Run(RunArgs),
    /// Check a workflow and report every problem with its place.
    Validate(ValidateArgs),
    /// Print the JSON Schema of workflow files, for editors.
    Schema,
    /// List recorded runs, newest first.
    Runs(RunsArgs),
    /// Print the logs of a run, a job, or a step.
    Logs(LogsArgs),
    /// Remove what killed runs left behind (processes, temp dirs, containers, networks).
    Gc(GcArgs),
    /// Probe the Docker-compatible runtimes on this machine (Docker, Podman, nerdctl).
    Probe(ProbeArgs),
    /// Work with backend plugins: run the conformance suite, pin binaries.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Push a pack to a remote through its adapter (docs/remote-protocol.md).
    Push(PushArgs),
    /// Pull a pack from a remote, verified against the digest the remote announces.
    Pull(PullArgs),
    /// Work with remotes: list, capabilities, lock, login, whoami, test.
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Bundle a run's artifacts into a release pack, or check one.
    #[command(subcommand)]
    Pack(PackCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum PackCommand {
    /// Bundle the artifacts of RUN with a manifest (per-file sha256 and size, run
    /// metadata, source commit) into one file, its digest written to FILE.sha256.
    Create(PackCreateArgs),
    /// Check every digest in a pack: the pack's own, each artifact's, each file's.
    Verify(PackVerifyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PackCreateArgs {
    /// The run (an id or a unique prefix, see `gantry runs`).
    #[arg(long)]
    pub run: String,
    /// Where to write the pack (default: gantry-<run>.pack).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct PackVerifyArgs {
    /// The pack file.
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Run the conformance suite against a plugin and print a pass/fail line per case.
    /// Use a plugin instance dedicated to testing: the suite reaps everything it finds.
    Test(PluginTestArgs),
    /// Record the sha256 of a configured plugin's binary in gantry.lock.
    Pin(PluginPinArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PluginTestArgs {
    /// A plugin already serving: `unix:///PATH.sock` or `tcp://HOST:PORT`.
    #[arg(long, conflicts_with = "command", required_unless_present = "command")]
    pub address: Option<String>,
    /// A plugin binary to launch (trusted because you name it here; its digest is printed).
    #[arg(long, value_name = "PATH")]
    pub command: Option<PathBuf>,
    /// Arguments for --command (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
    /// Allow plain tcp to --address.
    #[arg(long)]
    pub insecure: bool,
    /// CA certificate (PEM) for a TLS --address.
    #[arg(long, value_name = "PATH")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Label target environments are created with (plugin-specific, e.g. an image).
    #[arg(long, default_value = "")]
    pub target: String,
    /// Only cases whose name contains this.
    #[arg(long)]
    pub filter: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PluginPinArgs {
    /// The plugin's name in gantry.toml's [plugins] table.
    pub name: String,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Workflow file or directory.
    pub path: Option<PathBuf>,
    /// Run only this job (and the jobs it needs). Repeatable.
    #[arg(long = "job", short = 'j', value_name = "ID")]
    pub jobs: Vec<String>,
    /// Map a runs-on label to a backend: `LABEL=SPEC`, e.g. `ubuntu-latest=host` or
    /// `ubuntu-latest=docker://IMAGE`. Repeatable; overrides the config file.
    #[arg(short = 'P', long = "platform", value_name = "LABEL=SPEC")]
    pub platforms: Vec<String>,
    /// Make secret NAME available as `secrets.NAME`, its value read from the environment
    /// variable of the same name. Repeatable.
    #[arg(long = "secret", short = 's', value_name = "NAME")]
    pub secrets: Vec<String>,
    /// Read secrets from a file of `NAME=value` lines.
    #[arg(long = "secret-file", value_name = "FILE")]
    pub secret_files: Vec<PathBuf>,
    /// Set `vars.NAME`: `NAME=VALUE`. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Emit one JSON event per line on stdout instead of human output.
    #[arg(long)]
    pub json: bool,
    /// Most jobs running at once (default: the number of CPUs).
    #[arg(long = "jobs", value_name = "N")]
    pub max_jobs: Option<usize>,
    /// Seconds between SIGTERM and SIGKILL when a step is stopped.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub grace: f64,
    /// Run in the working directory itself instead of a private copy per job.
    #[arg(long)]
    pub bind: bool,
    /// Only print job results and errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// The event name in `github.event_name`.
    #[arg(long, default_value = "push")]
    pub event: String,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Workflow file or directory.
    pub path: Option<PathBuf>,
    /// Map a runs-on label to a backend, as for `run`.
    #[arg(short = 'P', long = "platform", value_name = "LABEL=SPEC")]
    pub platforms: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RunsArgs {
    /// How many runs to show.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Run id (or a unique prefix; `last` for the newest run).
    pub run: String,
    /// Job key (as `gantry runs`/the run printed it).
    pub job: Option<String>,
    /// Step number (from 1) or step id.
    pub step: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// Print the report as JSON (`gantry.probe/v1`, docs/probe-report.md).
    #[arg(long)]
    pub json: bool,
    /// Local image the conformance container runs (needs a POSIX `sh`).
    #[arg(long, default_value = "gantry-test/busybox:1")]
    pub image: String,
}

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Print what would be removed without removing it.
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of every command that runs a remote adapter.
#[derive(Debug, Args)]
pub(crate) struct AdapterFlags {
    /// Refuse remote adapters that are not pinned in gantry.lock (use in CI).
    #[arg(long)]
    pub frozen: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// The pack file to push.
    pub pack: PathBuf,
    /// The remote's name in gantry.toml's [remotes] table.
    #[arg(long)]
    pub remote: String,
    /// Deployment environment on the remote (the request's `target.environment`).
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    /// Release name (default: the adapter's choice, usually the pack's file stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Release version (default: the adapter's choice).
    #[arg(long = "release-version", value_name = "VERSION")]
    pub release_version: Option<String>,
    /// A release label (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Release notes.
    #[arg(long)]
    pub notes: Option<String>,
    /// After the push, send the results of the runs the pack was made from (`runs.sync`);
    /// `sync-runs = true` in [remotes.NAME] does it on every push.
    #[arg(long)]
    pub sync_runs: bool,
    #[command(flatten)]
    pub flags: AdapterFlags,
}

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// What to pull: `sha256:HEX` (a pack digest), a canonical ref (`LOCATION@sha256:HEX`),
    /// `NAME@VERSION`, or `NAME` (its latest release). Without it: the latest release, or
    /// what the flags below select.
    #[arg(value_name = "REF")]
    pub reference: Option<String>,
    /// The remote's name in gantry.toml's [remotes] table.
    #[arg(long)]
    pub remote: String,
    /// Pull the pack with this pack digest (`sha256:HEX`).
    #[arg(long, value_name = "DIGEST", conflicts_with_all = ["reference", "release_id", "release_version", "latest"])]
    pub digest: Option<String>,
    /// Pull the release with this id.
    #[arg(long = "release-id", value_name = "ID", conflicts_with_all = ["reference", "release_version", "latest"])]
    pub release_id: Option<String>,
    /// Pull the release with this version.
    #[arg(long = "release-version", value_name = "VERSION", conflicts_with_all = ["reference", "latest"])]
    pub release_version: Option<String>,
    /// Pull the latest release (the default without REF).
    #[arg(long, conflicts_with = "reference")]
    pub latest: bool,
    /// Only a release with this name (with --release-version or --latest; needs an
    /// adapter that reports names).
    #[arg(long, conflicts_with = "reference")]
    pub name: Option<String>,
    /// Where to write the pack (default: REF with `@`, `:` and `/` as `-`, plus `.pack`).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Deployment environment on the remote.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    #[command(flatten)]
    pub flags: AdapterFlags,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RemoteCommand {
    /// List the configured remotes, their adapters and pin status.
    List,
    /// Print a remote adapter's capabilities (JSON).
    Capabilities(RemoteNameArgs),
    /// Record the sha256 of a remote's adapter binary in gantry.lock.
    Lock(RemoteNameArgs),
    /// Authenticate with a remote (the adapter keeps the credentials); waits for a
    /// device-code or browser sign-in to complete.
    Login(RemoteLoginArgs),
    /// Show who the adapter is authenticated as.
    Whoami(RemoteNameArgs),
    /// Run the adapter conformance suite against a remote (use a remote meant for testing).
    Test(RemoteTestArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RemoteNameArgs {
    /// The remote's name in gantry.toml's [remotes] table.
    pub name: String,
    #[command(flatten)]
    pub flags: AdapterFlags,
}

#[derive(Debug, Args)]
pub(crate) struct RemoteLoginArgs {
    /// The remote's name in gantry.toml's [remotes] table.
    pub name: String,
    /// Longest wait, in seconds, for a sign-in the adapter handed instructions for
    /// (default: as long as the code is valid, at most 900).
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// Print the sign-in instructions and return without waiting.
    #[arg(long, conflicts_with = "wait")]
    pub no_wait: bool,
    #[command(flatten)]
    pub flags: AdapterFlags,
}

#[derive(Debug, Args)]
pub(crate) struct RemoteTestArgs {
    /// The remote's name in gantry.toml's [remotes] table.
    pub name: String,
    /// Only cases whose name contains this.
    #[arg(long)]
    pub filter: Option<String>,
    /// Drive the adapter exactly as epack's executor does (its environment, request
    /// shapes and checks): proves the adapter works under epack.
    #[arg(long)]
    pub as_epack: bool,
    #[command(flatten)]
    pub flags: AdapterFlags,
}
