//! Where a plugin listens: a socket it was told to use (`--listen`), or, when gantry
//! launched it, a unix socket in gantry's private directory announced by the handshake
//! line. Also the signals that end serving.

use std::io::Write;
use std::path::PathBuf;

use gantry_plugin_proto::{
    HANDSHAKE_CORE_VERSION, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, PROTOCOL_VERSION, SOCKET_DIR_KEY,
};
use tokio::net::{TcpListener, UnixListener};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::server::Router;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::{ServeArgs, ServeError};

/// A bound socket, ready to serve.
pub enum Listener {
    /// A unix socket; the file is removed when serving ends.
    Unix {
        path: PathBuf,
        listener: UnixListener,
        launched: bool,
    },
    /// A tcp socket with its TLS material (PEM), if any.
    Tcp {
        listener: TcpListener,
        tls: Option<TlsFiles>,
    },
}

/// TLS material read from the `--tls-*` files.
pub struct TlsFiles {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

fn read(path: &PathBuf) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::Io {
        what: format!("reading {}", path.display()),
        source,
    })
}

fn bind_unix(path: PathBuf, launched: bool) -> Result<Listener, ServeError> {
    // A socket left by a killed predecessor would make bind fail.
    if std::fs::symlink_metadata(&path).is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_socket()
    }) {
        let _ = std::fs::remove_file(&path);
    }
    let listener = UnixListener::bind(&path).map_err(|source| ServeError::Io {
        what: format!("binding {}", path.display()),
        source,
    })?;
    Ok(Listener::Unix {
        path,
        listener,
        launched,
    })
}

impl Listener {
    /// Binds what `args` ask for, or the launch-mode socket when gantry started us.
    pub async fn from_args(args: &ServeArgs) -> Result<Listener, ServeError> {
        let Some(address) = args.listen.as_deref() else {
            if std::env::var(MAGIC_COOKIE_KEY).as_deref() != Ok(MAGIC_COOKIE_VALUE) {
                return Err(ServeError::NotLaunched);
            }
            let dir = std::env::var_os(SOCKET_DIR_KEY)
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            let path = dir.join(format!("plugin-{}.sock", std::process::id()));
            let listener = bind_unix(path.clone(), true)?;
            // The handshake: CORE|PROTOCOL|NETWORK|ADDRESS|PROTOCOL-NAME, one line.
            let line = format!(
                "{HANDSHAKE_CORE_VERSION}|{PROTOCOL_VERSION}|unix|{}|grpc\n",
                path.display()
            );
            let mut out = std::io::stdout().lock();
            out.write_all(line.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|source| ServeError::Io {
                    what: "writing the handshake to stdout".into(),
                    source,
                })?;
            return Ok(listener);
        };
        if let Some(path) = address.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(ServeError::Config(format!(
                    "--listen {address}: the socket path must be absolute (unix:///run/x.sock)"
                )));
            }
            if args.tls_cert.is_some() {
                return Err(ServeError::Config(
                    "--tls-cert applies to tcp:// addresses; a unix socket is protected by its file mode".into(),
                ));
            }
            let listener = bind_unix(PathBuf::from(path), false)?;
            eprintln!("gantry plugin listening on {address}");
            return Ok(listener);
        }
        let Some(hostport) = address.strip_prefix("tcp://") else {
            return Err(ServeError::Config(format!(
                "--listen {address}: expected unix:///PATH or tcp://HOST:PORT"
            )));
        };
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: read(cert)?,
                key: read(key)?,
                client_ca: args.tls_client_ca.as_ref().map(read).transpose()?,
            }),
            _ if args.insecure => None,
            _ => {
                return Err(ServeError::Config(format!(
                    "--listen {address}: tcp needs --tls-cert and --tls-key (add --tls-client-ca \
                     for mutual TLS), or --insecure on a trusted network"
                )))
            }
        };
        let listener = TcpListener::bind(hostport)
            .await
            .map_err(|source| ServeError::Io {
                what: format!("binding {hostport}"),
                source,
            })?;
        let bound = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| hostport.to_string());
        eprintln!(
            "gantry plugin listening on tcp://{bound}{}",
            if tls.is_some() {
                " (TLS)"
            } else {
                " (plain, --insecure)"
            }
        );
        Ok(Listener::Tcp { listener, tls })
    }

    /// True when gantry launched this process (stdin closing then means gantry is gone).
    pub fn launched(&self) -> bool {
        matches!(self, Listener::Unix { launched: true, .. })
    }

    /// The server TLS configuration, for tcp with certificates.
    pub fn tls(&self) -> Result<Option<ServerTlsConfig>, ServeError> {
        let Listener::Tcp { tls: Some(t), .. } = self else {
            return Ok(None);
        };
        let mut cfg = ServerTlsConfig::new().identity(Identity::from_pem(&t.cert, &t.key));
        if let Some(ca) = &t.client_ca {
            cfg = cfg.client_ca_root(Certificate::from_pem(ca));
        }
        Ok(Some(cfg))
    }

    /// Serves `router` until `shutdown` resolves.
    pub async fn serve(
        self,
        router: Router,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        match self {
            Listener::Unix { path, listener, .. } => {
                let r = router
                    .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
                    .await;
                let _ = std::fs::remove_file(&path);
                Ok(r?)
            }
            Listener::Tcp { listener, .. } => Ok(router
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
                .await?),
        }
    }
}

/// Resolves on SIGTERM or SIGINT, or when a launched plugin's stdin closes (gantry
/// exited or was killed).
pub(crate) async fn shutdown_signal(launched: bool) {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    let (Ok(mut term), Ok(mut int)) = (term, int) else {
        // Without signal handlers the plugin can still be stopped by gantry's SIGKILL.
        std::future::pending::<()>().await;
        return;
    };
    let stdin_closed = async {
        if !launched {
            return std::future::pending::<()>().await;
        }
        use tokio::io::AsyncReadExt;
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        () = stdin_closed => {}
    }
}
