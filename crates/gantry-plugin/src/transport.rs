//! Reaching a plugin: a gRPC channel over a unix socket, or tcp with TLS or mutual TLS
//! (plain tcp only when explicitly allowed), and the health check that gates its use.

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// TLS material for a tcp plugin address (PEM files).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// CA certificate that signed the plugin's certificate.
    pub ca: Option<PathBuf>,
    /// Client certificate, for mutual TLS.
    pub cert: Option<PathBuf>,
    /// Client key, for mutual TLS.
    pub key: Option<PathBuf>,
    /// Name to verify the plugin's certificate against (default: the address's host).
    pub domain: Option<String>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 flow-control windows: large, so output and tar streams are not throttled by
/// round trips.
const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn tuned(e: Endpoint) -> Endpoint {
    e.connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
}

/// A connected channel to `address` (`unix:///x.sock` or `tcp://host:port`).
pub(crate) async fn connect(
    address: &str,
    tls: Option<&ClientTls>,
    insecure: bool,
) -> Result<Channel, String> {
    if let Some(path) = address.strip_prefix("unix://") {
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(format!("`{address}`: the socket path must be absolute"));
        }
        // The URI is required by the HTTP layer but never resolved.
        let endpoint = tuned(Endpoint::from_static("http://plugin.invalid"));
        return endpoint
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(&path).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|e| error_chain(&e));
    }
    let Some(hostport) = address.strip_prefix("tcp://") else {
        return Err(format!(
            "`{address}` is not an address gantry can reach: use unix:///PATH or tcp://HOST:PORT"
        ));
    };
    let endpoint = match tls.filter(|t| t.ca.is_some() || t.cert.is_some()) {
        Some(t) => {
            let host = hostport
                .rsplit_once(':')
                .map(|(h, _)| h.trim_matches(|c| c == '[' || c == ']'))
                .unwrap_or(hostport);
            let mut cfg = ClientTlsConfig::new()
                .domain_name(t.domain.clone().unwrap_or_else(|| host.to_string()));
            if let Some(ca) = &t.ca {
                cfg = cfg.ca_certificate(Certificate::from_pem(read(ca)?));
            }
            match (&t.cert, &t.key) {
                (Some(c), Some(k)) => cfg = cfg.identity(Identity::from_pem(read(c)?, read(k)?)),
                (None, None) => {}
                _ => return Err("mutual TLS needs both a client certificate and key".into()),
            }
            tuned(
                Endpoint::from_shared(format!("https://{hostport}"))
                    .map_err(|e| format!("`{address}`: {e}"))?,
            )
            .tls_config(cfg)
            .map_err(|e| error_chain(&e))?
        }
        None if insecure => tuned(
            Endpoint::from_shared(format!("http://{hostport}"))
                .map_err(|e| format!("`{address}`: {e}"))?,
        ),
        None => {
            return Err(format!(
                "`{address}` is plain tcp: configure tls (ca, and cert + key for mutual TLS), \
                 or set `insecure = true` for a trusted network"
            ))
        }
    };
    endpoint.connect().await.map_err(|e| error_chain(&e))
}

/// Waits (up to `wait`) for the plugin's grpc.health.v1 status "" to be SERVING.
pub(crate) async fn wait_serving(channel: Channel, wait: Duration) -> Result<(), String> {
    let mut client = HealthClient::new(channel);
    let start = tokio::time::Instant::now();
    // A plugin that answers NOT_SERVING is starting up: wait for it. One whose calls fail
    // (a refused TLS handshake, a different service) will not get better: give up soon.
    let failing_limit = wait.min(Duration::from_secs(1));
    loop {
        let mut req = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        req.set_timeout(Duration::from_secs(2));
        let (last, limit) = match client.check(req).await {
            Ok(r) if r.get_ref().status == ServingStatus::Serving as i32 => return Ok(()),
            Ok(r) => (
                format!(
                    "its health service reports {:?}",
                    ServingStatus::try_from(r.get_ref().status).unwrap_or(ServingStatus::Unknown)
                ),
                wait,
            ),
            Err(s) => (
                format!("health check failed: {}", s.message()),
                failing_limit,
            ),
        };
        if start.elapsed() >= limit {
            return Err(format!(
                "not SERVING after {:.1}s: {last}",
                limit.as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An error and its sources on one line (tonic's transport errors hide the cause).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
