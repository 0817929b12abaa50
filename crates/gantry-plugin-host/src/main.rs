//! `gantry-plugin-host`: the reference backend plugin. It serves gantry's host backend
//! (each job in a private directory, each step in its own process group) over the
//! plugin protocol, so the tests and benchmarks exercise the protocol with a backend whose
//! in-process behaviour is known. With `--delegate-docker` its environments hand their
//! container layers to a Docker endpoint, which gantry then drives itself.

mod delegate;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use gantry_backend::{Backend, DockerEndpoint};
use gantry_host::{HostBackend, HostConfig};

/// The reference gantry backend plugin (host processes over gRPC).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where job directories live (default: $TMPDIR/gantry-plugin-host-UID).
    #[arg(long, env = "GANTRY_PLUGIN_HOST_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    /// Announce this Docker endpoint (`unix:///var/run/docker.sock`) in every
    /// environment, so gantry runs job, service and step containers there.
    #[arg(long, value_name = "ADDRESS")]
    delegate_docker: Option<String>,
    #[command(flatten)]
    serve: gantry_plugin_sdk::ServeArgs,
}

fn default_root() -> PathBuf {
    // The real uid from /proc (no libc dependency for one number).
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_else(|| "0".into());
    std::env::temp_dir().join(format!("gantry-plugin-host-{uid}"))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let root = args.root.unwrap_or_else(default_root);
    let runner_name = args.serve.runner_name.clone().unwrap_or_default();
    let host: Arc<dyn Backend> = Arc::new(HostBackend::new(HostConfig { root, runner_name }));
    let backend: Arc<dyn Backend> = match args.delegate_docker {
        Some(address) => {
            let mut endpoint = DockerEndpoint::default();
            endpoint.address = address;
            Arc::new(delegate::Delegating::new(host, endpoint))
        }
        None => host,
    };
    if let Err(e) = gantry_plugin_sdk::serve(backend, args.serve).await {
        eprintln!("gantry-plugin-host: {e}");
        std::process::exit(1);
    }
}
