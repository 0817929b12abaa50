//! A resolved, verified remote adapter and the typed calls gantry makes to it.
//!
//! Resolution: an absolute `command`, or `gantry-remote-<name>` on PATH when the caller
//! opted in. Trust: a pin from gantry.lock seals a private copy ([`SealedBinary`]) that is
//! what runs; `frozen` refuses unpinned adapters. Each call is one process
//! (the private `process` module), rate limited per adapter, retried only on errors the adapter
//! marked retryable, and its response checked (type, request id, size, JSON).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::RemoteError;
use crate::lock::AdapterPin;
use crate::process::{self, describe, Invocation};
use crate::protocol::{
    command, result_type, AuthRequest, Capabilities, Envelope, ErrorReply, LoggedIn, PullFinalize,
    PullFinalized, PullPrepare, PullPrepared, PushFinalize, PushFinalized, PushPrepare,
    PushPrepared, RunsSync, RunsSynced, WhoAmI, CAPABILITIES, PROTOCOL_VERSION,
};
use crate::seal::SealedBinary;

/// Default deadline of one adapter command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Default cap on one response.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Variables every adapter gets from gantry's environment (nothing else unless configured).
pub const BASE_ENV: [&str; 4] = ["PATH", "HOME", "LANG", "TMPDIR"];
/// The prefix of PATH-discoverable adapters.
pub const BINARY_PREFIX: &str = "gantry-remote-";

/// Where the adapter binary comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterSource {
    /// An absolute path (relative paths are refused: no PATH injection).
    Command(PathBuf),
    /// `gantry-remote-<name>` found on PATH; needs `allow_path_lookup`.
    Lookup(String),
}

/// Retries of errors the adapter marked retryable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Everything needed to run one remote's adapter.
#[derive(Debug, Clone)]
pub struct AdapterConfig {
    /// The remote's name (messages, lock key, `remote` in requests).
    pub name: String,
    pub source: AdapterSource,
    /// Explicit environment for the adapter (credentials, roots).
    pub env: Vec<(String, String)>,
    /// Per-command deadline.
    pub timeout: Duration,
    /// Allow [`AdapterSource::Lookup`].
    pub allow_path_lookup: bool,
    /// Refuse adapters without a pin.
    pub frozen: bool,
    /// The pin from gantry.lock, if any.
    pub pin: Option<AdapterPin>,
    pub retry: RetryPolicy,
    /// Calls per second, and burst.
    pub rate_per_second: u32,
    pub rate_burst: u32,
    pub max_response_bytes: usize,
    /// Where sealed copies go (default: the system temp dir).
    pub seal_dir: Option<PathBuf>,
}

impl AdapterConfig {
    /// A config with the defaults (5 min timeout, 3 attempts, 10/s burst 5, 1 MiB).
    pub fn new(name: impl Into<String>, source: AdapterSource) -> Self {
        AdapterConfig {
            name: name.into(),
            source,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            allow_path_lookup: false,
            frozen: false,
            pin: None,
            retry: RetryPolicy::default(),
            rate_per_second: 10,
            rate_burst: 5,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            seal_dir: None,
        }
    }

    /// The absolute path of the adapter binary this config names.
    pub fn resolve(&self) -> Result<PathBuf, RemoteError> {
        let fail = |reason: String| RemoteError::Resolve {
            adapter: self.name.clone(),
            reason,
        };
        match &self.source {
            AdapterSource::Command(path) => {
                if !path.is_absolute() {
                    return Err(fail(format!(
                        "command `{}` is not an absolute path; give the full path of the adapter binary",
                        path.display()
                    )));
                }
                if !path.is_file() {
                    return Err(fail(format!(
                        "{} does not exist or is not a file",
                        path.display()
                    )));
                }
                Ok(path.clone())
            }
            AdapterSource::Lookup(kind) => {
                if !self.allow_path_lookup {
                    return Err(fail(format!(
                        "finding `{BINARY_PREFIX}{kind}` on PATH needs `path-lookup = true`; \
                         or set `command` to its absolute path"
                    )));
                }
                if kind.is_empty() || kind.contains('/') {
                    return Err(fail(format!("`{kind}` is not an adapter name")));
                }
                let file = format!("{BINARY_PREFIX}{kind}");
                std::env::var_os("PATH")
                    .iter()
                    .flat_map(std::env::split_paths)
                    .filter(|dir| dir.is_absolute())
                    .map(|dir| dir.join(&file))
                    .find(|p| is_executable(p))
                    .ok_or_else(|| fail(format!("no executable `{file}` on PATH")))
            }
        }
    }

    /// The adapter kind (`fs` for `gantry-remote-fs`), which names its credential
    /// variables `GANTRY_REMOTE_<KIND>_*`.
    pub fn kind(&self) -> String {
        match &self.source {
            AdapterSource::Lookup(kind) => kind.clone(),
            AdapterSource::Command(path) => {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                stem.strip_prefix(BINARY_PREFIX)
                    .or_else(|| stem.strip_prefix("gantry_remote_"))
                    .map(str::to_string)
                    .unwrap_or_else(|| self.name.clone())
            }
        }
    }

    /// The environment the adapter gets: [`BASE_ENV`], gantry's `GANTRY_REMOTE_<KIND>_*`
    /// variables, then the configured `env` (which wins).
    pub fn environment(&self) -> Vec<(String, String)> {
        let prefix = format!(
            "GANTRY_REMOTE_{}_",
            self.kind().to_ascii_uppercase().replace(['-', '.'], "_")
        );
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| BASE_ENV.contains(&k.as_str()) || k.starts_with(&prefix))
            .collect();
        for (k, v) in &self.env {
            env.retain(|(old, _)| old != k);
            env.push((k.clone(), v.clone()));
        }
        env
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A remote adapter ready to be called.
pub struct Adapter {
    config: AdapterConfig,
    original: PathBuf,
    sealed: Option<SealedBinary>,
    env: Vec<(String, String)>,
    limiter: DefaultDirectRateLimiter,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("name", &self.config.name)
            .field("original", &self.original)
            .field("sealed", &self.sealed)
            .finish_non_exhaustive()
    }
}

/// The adapter's rate limit: `rate_per_second` sustained, `rate_burst` at once. Zero is read
/// as one, so a misconfigured limit slows an adapter down rather than stopping it.
fn quota(config: &AdapterConfig) -> Quota {
    let per_second = NonZeroU32::new(config.rate_per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(config.rate_burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(0);

/// A request id unique within this machine and time.
pub fn new_request_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "req-{:x}-{:x}-{}",
        std::process::id(),
        nanos,
        NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)
    )
}

impl Adapter {
    /// Resolves the binary and applies the pin policy: pinned adapters are sealed (and
    /// refused when their bytes differ), unpinned ones are refused when `frozen`.
    pub fn open(config: AdapterConfig) -> Result<Adapter, RemoteError> {
        let original = config.resolve()?;
        let sealed = match &config.pin {
            Some(pin) if pin.command != original => {
                return Err(RemoteError::Resolve {
                    adapter: config.name.clone(),
                    reason: format!(
                        "gantry.lock pins {} but the configured adapter is {}; run `gantry remote lock {}`",
                        pin.command.display(),
                        original.display(),
                        config.name
                    ),
                })
            }
            Some(pin) => Some(SealedBinary::seal(
                &config.name,
                &original,
                &pin.sha256,
                config.seal_dir.as_deref(),
            )?),
            None if config.frozen => {
                return Err(RemoteError::NotPinned {
                    adapter: config.name.clone(),
                    path: original,
                })
            }
            None => {
                tracing::warn!(
                    "remote adapter `{}` ({}) is not pinned in gantry.lock; running it unverified \
                     (`gantry remote lock {}` pins it)",
                    config.name,
                    original.display(),
                    config.name
                );
                None
            }
        };
        let limiter = RateLimiter::direct(quota(&config));
        Ok(Adapter {
            env: config.environment(),
            config,
            original,
            sealed,
            limiter,
        })
    }

    /// The remote's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &AdapterConfig {
        &self.config
    }

    /// The configured binary.
    pub fn original_path(&self) -> &Path {
        &self.original
    }

    /// What actually runs: the sealed copy when pinned, else the configured binary.
    pub fn exec_path(&self) -> &Path {
        self.sealed
            .as_ref()
            .map(SealedBinary::path)
            .unwrap_or(&self.original)
    }

    /// Whether the adapter runs from a verified sealed copy.
    pub fn is_sealed(&self) -> bool {
        self.sealed.is_some()
    }

    /// The environment the adapter process gets.
    pub fn environment(&self) -> &[(String, String)] {
        &self.env
    }

    /// `ADAPTER --capabilities`, checked for protocol v1.
    pub async fn capabilities(&self) -> Result<Capabilities, RemoteError> {
        self.limiter.until_ready().await;
        let finished = process::run(&Invocation {
            adapter: &self.config.name,
            command: CAPABILITIES,
            program: self.exec_path(),
            args: &[CAPABILITIES],
            env: &self.env,
            stdin: None,
            timeout: self.config.timeout,
            max_bytes: self.config.max_response_bytes,
        })
        .await?;
        let value = self.parse_json(CAPABILITIES, &finished)?;
        let caps: Capabilities = serde_json::from_value(value).map_err(|e| {
            self.protocol(
                CAPABILITIES,
                format!("capabilities do not match the protocol: {e}"),
            )
        })?;
        if caps.protocol_version != PROTOCOL_VERSION {
            return Err(self.protocol(
                CAPABILITIES,
                format!(
                    "the adapter speaks remote protocol v{}, this gantry speaks v{PROTOCOL_VERSION}",
                    caps.protocol_version
                ),
            ));
        }
        Ok(caps)
    }

    pub async fn push_prepare(&self, req: &PushPrepare) -> Result<PushPrepared, RemoteError> {
        self.call(command::PUSH_PREPARE, req).await
    }

    pub async fn push_finalize(&self, req: &PushFinalize) -> Result<PushFinalized, RemoteError> {
        self.call(command::PUSH_FINALIZE, req).await
    }

    pub async fn pull_prepare(&self, req: &PullPrepare) -> Result<PullPrepared, RemoteError> {
        self.call(command::PULL_PREPARE, req).await
    }

    pub async fn pull_finalize(&self, req: &PullFinalize) -> Result<PullFinalized, RemoteError> {
        self.call(command::PULL_FINALIZE, req).await
    }

    pub async fn runs_sync(&self, req: &RunsSync) -> Result<RunsSynced, RemoteError> {
        self.call(command::RUNS_SYNC, req).await
    }

    pub async fn auth_login(&self) -> Result<LoggedIn, RemoteError> {
        let req = AuthRequest {
            remote: self.config.name.clone(),
        };
        self.call(command::AUTH_LOGIN, &req).await
    }

    pub async fn auth_whoami(&self) -> Result<WhoAmI, RemoteError> {
        let req = AuthRequest {
            remote: self.config.name.clone(),
        };
        self.call(command::AUTH_WHOAMI, &req).await
    }

    /// Sends `command` with `body` and decodes the checked response, retrying errors the
    /// adapter marked retryable with exponential backoff (same request id each time).
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        command: &str,
        body: &B,
    ) -> Result<T, RemoteError> {
        let request_id = new_request_id();
        let request = serde_json::to_vec(&Envelope {
            kind: command,
            protocol_version: PROTOCOL_VERSION,
            request_id: &request_id,
            body,
        })
        .map_err(|e| self.protocol(command, format!("encoding the request: {e}")))?;
        let mut attempt = 1;
        loop {
            let result = self
                .exchange(command, &request)
                .await
                .and_then(|value| self.check(command, &request_id, value));
            match result {
                Err(e) if e.is_retryable() && attempt < self.config.retry.attempts => {
                    let delay = self
                        .config
                        .retry
                        .base_delay
                        .saturating_mul(1 << (attempt - 1).min(16))
                        .min(self.config.retry.max_delay);
                    tracing::warn!(
                        "{e}; retrying in {delay:?} (attempt {} of {})",
                        attempt + 1,
                        self.config.retry.attempts
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Sends raw request bytes as `command` and returns the response object unchecked
    /// except for size, timeout and JSON (the conformance suite uses it to send bad
    /// requests).
    pub async fn exchange(
        &self,
        command: &str,
        request: &[u8],
    ) -> Result<serde_json::Value, RemoteError> {
        self.limiter.until_ready().await;
        let finished = process::run(&Invocation {
            adapter: &self.config.name,
            command,
            program: self.exec_path(),
            args: &[command],
            env: &self.env,
            stdin: Some(request),
            timeout: self.config.timeout,
            max_bytes: self.config.max_response_bytes,
        })
        .await?;
        self.parse_json(command, &finished)
    }

    /// Checks a response to request `request_id` of `command` and decodes its body: an
    /// error object becomes [`RemoteError::Adapter`], a wrong `type` or `request_id` a
    /// protocol error.
    pub fn check<T: DeserializeOwned>(
        &self,
        command: &str,
        request_id: &str,
        value: serde_json::Value,
    ) -> Result<T, RemoteError> {
        let kind = value.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let echoed = value
            .get("request_id")
            .and_then(|t| t.as_str())
            .unwrap_or("");
        if kind == "error" {
            let reply: ErrorReply = serde_json::from_value(value.clone())
                .map_err(|e| self.protocol(command, format!("malformed error response: {e}")))?;
            if echoed != request_id {
                return Err(self.protocol(
                    command,
                    format!(
                        "error response carries request_id `{echoed}`, expected `{request_id}` (the error was: {})",
                        reply.error.message
                    ),
                ));
            }
            return Err(RemoteError::Adapter {
                adapter: self.config.name.clone(),
                command: command.to_string(),
                code: reply.error.code,
                message: reply.error.message,
                retryable: reply.error.retryable,
                action: reply.error.action.map(Box::new),
            });
        }
        let expected = result_type(command);
        if kind != expected {
            return Err(self.protocol(
                command,
                format!("response type is `{kind}`, expected `{expected}`"),
            ));
        }
        if echoed != request_id {
            return Err(self.protocol(
                command,
                format!("response carries request_id `{echoed}`, expected `{request_id}`"),
            ));
        }
        if value.get("ok").and_then(|v| v.as_bool()) != Some(true) {
            return Err(self.protocol(command, "a result response must carry `ok: true`".into()));
        }
        serde_json::from_value(value).map_err(|e| {
            self.protocol(
                command,
                format!("response does not match the protocol: {e}"),
            )
        })
    }

    fn parse_json(
        &self,
        command: &str,
        finished: &process::Finished,
    ) -> Result<serde_json::Value, RemoteError> {
        let stderr = if finished.stderr_tail.is_empty() {
            String::new()
        } else {
            format!("; stderr: {}", finished.stderr_tail)
        };
        let text = String::from_utf8_lossy(&finished.stdout);
        let text = text.trim();
        if text.is_empty() {
            return Err(self.protocol(
                command,
                format!(
                    "no response on stdout (the adapter {}){stderr}",
                    describe(finished.status)
                ),
            ));
        }
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            let what = if e.is_eof() {
                "the response is incomplete JSON (truncated output?)"
            } else {
                "the response is not a JSON object"
            };
            let shown: String = text.chars().take(120).collect();
            self.protocol(
                command,
                format!(
                    "{what}: {e}; output began with `{shown}` (the adapter {}){stderr}",
                    describe(finished.status)
                ),
            )
        })?;
        if !value.is_object() {
            return Err(self.protocol(command, "the response is not a JSON object".into()));
        }
        Ok(value)
    }

    fn protocol(&self, command: &str, reason: String) -> RemoteError {
        RemoteError::Protocol {
            adapter: self.config.name.clone(),
            command: command.to_string(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    /// Admits calls on a fake clock until one would wait; returns how many got through and
    /// how long the next has to wait.
    fn admitted(config: &AdapterConfig, clock: &FakeRelativeClock) -> (u32, Duration) {
        let limiter = RateLimiter::direct_with_clock(quota(config), clock);
        let mut n = 0;
        loop {
            match limiter.check() {
                Ok(()) => n += 1,
                Err(not_until) => {
                    return (
                        n,
                        not_until.wait_time_from(governor::clock::Clock::now(clock)),
                    )
                }
            }
        }
    }

    #[test]
    fn default_limit_is_a_burst_of_five_then_ten_per_second() {
        let config = AdapterConfig::new("r", AdapterSource::Command("/bin/true".into()));
        let clock = FakeRelativeClock::default();
        let (burst, wait) = admitted(&config, &clock);
        assert_eq!(burst, 5);
        assert_eq!(wait, Duration::from_millis(100));
    }

    #[test]
    fn configured_limit_and_zero_read_as_one() {
        let mut config = AdapterConfig::new("r", AdapterSource::Command("/bin/true".into()));
        config.rate_per_second = 2;
        config.rate_burst = 1;
        let clock = FakeRelativeClock::default();
        assert_eq!(admitted(&config, &clock), (1, Duration::from_millis(500)));

        config.rate_per_second = 0;
        config.rate_burst = 0;
        assert_eq!(admitted(&config, &clock), (1, Duration::from_secs(1)));
    }
}
