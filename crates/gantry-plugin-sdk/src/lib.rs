//! The plugin SDK: turn a backend into a gantry backend plugin.
//!
//! A plugin author implements the backend contract (`gantry_backend::Backend`, with its
//! environment and container types) and calls [`serve`]. The SDK speaks the gRPC
//! protocol of `proto/gantry/backend/v1/backend.proto` over either transport gantry
//! uses: it is launched by gantry (magic cookie, a unix socket, one handshake line on
//! stdout) or listens where it is told (`--listen unix:///x.sock`, `--listen
//! tcp://0.0.0.0:7000` with TLS or mutual TLS). It serves `grpc.health.v1`, turns
//! panics into INTERNAL errors, and on SIGTERM reports NOT_SERVING, removes every
//! environment it still holds, and stops within two seconds.
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn gantry_backend::Backend>) {
//! let args = gantry_plugin_sdk::ServeArgs::default();
//! if let Err(e) = gantry_plugin_sdk::serve(backend, args).await {
//!     eprintln!("{e}");
//!     std::process::exit(1);
//! }
//! # }
//! ```

mod exec;
mod listen;
mod service;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gantry_backend::Backend;
use gantry_plugin_proto::v1::backend_server::BackendServer;
use gantry_plugin_proto::MAX_MESSAGE_BYTES;
use tonic_health::ServingStatus;

pub use listen::Listener;
pub use service::PluginService;

/// How long in-flight calls get after the shutdown signal before the plugin exits.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Transport options every plugin binary accepts (flatten them into its own clap args).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Serve on this address instead of waiting to be launched by gantry:
    /// `unix:///path/plugin.sock` or `tcp://HOST:PORT`.
    #[arg(long, env = "GANTRY_PLUGIN_LISTEN", value_name = "ADDRESS")]
    pub listen: Option<String>,
    /// PEM certificate for TLS on a tcp address.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on a tcp address.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate; when given, clients must present a certificate it signed
    /// (mutual TLS).
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Allow plain (unencrypted, unauthenticated) tcp. Only for a trusted network.
    #[arg(long)]
    pub insecure: bool,
    /// `runner.name` announced for jobs on this plugin (default: gantry's own).
    #[arg(long, value_name = "NAME")]
    pub runner_name: Option<String>,
}

/// Why a plugin could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Started by hand without `--listen`.
    #[error(
        "this is a gantry backend plugin: gantry launches it (configure it in gantry.toml, \
         see docs/plugins.md), or start it yourself with --listen unix:///PATH.sock"
    )]
    NotLaunched,
    /// The listen address or TLS options are unusable.
    #[error("{0}")]
    Config(String),
    /// Binding, reading certificates, writing the handshake.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("serving: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `backend` as a plugin until SIGTERM/SIGINT (or, when launched by gantry,
/// until gantry closes the plugin's stdin). Returns after cleanup.
pub async fn serve(backend: Arc<dyn Backend>, args: ServeArgs) -> Result<(), ServeError> {
    let listener = Listener::from_args(&args).await?;
    let service = PluginService::new(backend, args.runner_name.clone().unwrap_or_default());
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    reporter
        .set_service_status("gantry.backend.v1.Backend", ServingStatus::Serving)
        .await;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let launched = listener.launched();
    let cleanup = service.clone();
    let stopper = tokio::spawn(async move {
        listen::shutdown_signal(launched).await;
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        reporter
            .set_service_status("gantry.backend.v1.Backend", ServingStatus::NotServing)
            .await;
        cleanup.remove_all().await;
        let _ = stop_tx.send(());
    });

    let server = BackendServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let mut builder = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .initial_stream_window_size(4 * 1024 * 1024)
        .initial_connection_window_size(8 * 1024 * 1024);
    if let Some(tls) = listener.tls()? {
        builder = builder.tls_config(tls)?;
    }
    let router = builder.add_service(health).add_service(server);
    let shutdown = async {
        let _ = stop_rx.await;
    };
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = listener.serve(router, async move {
        shutdown.await;
        let _ = stopped_tx.send(());
    });
    tokio::pin!(serving);
    let result = tokio::select! {
        r = &mut serving => r,
        _ = async { let _ = stopped_rx.await; tokio::time::sleep(STOP_GRACE).await } => Ok(()),
    };
    stopper.abort();
    result
}
