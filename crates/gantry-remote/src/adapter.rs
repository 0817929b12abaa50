//! A resolved, verified remote adapter and the typed calls gantry makes to it.
//!
//! Resolution: an absolute `command`, or `gantry-remote-<name>` on PATH when the caller
//! opted in. Trust: a pin from gantry.lock seals a private copy ([`SealedBinary`]) that is
//! what runs; `frozen` refuses unpinned adapters. Each call is one process (the private
//! `process` module), rate limited per adapter, retried only on errors the adapter marked
//! retryable, and its response checked (size, JSON, `ok`, type, request id, and an exit
//! status that must not contradict a success, as epack's executor checks it).

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{AdapterConfig, Dialect};
use crate::error::RemoteError;
use crate::process::{self, describe, Invocation};
use crate::protocol::{
    command, AuthRequest, Capabilities, Envelope, LoggedIn, PullFinalize, PullFinalized,
    PullPrepare, PullPrepared, PushFinalize, PushFinalized, PushPrepare, PushPrepared, RunsSync,
    RunsSynced, WhoAmI, CAPABILITIES, KIND, PROTOCOL_VERSION,
};
use crate::response::{self, Answer};
use crate::seal::SealedBinary;

/// A remote adapter ready to be called.
pub struct Adapter {
    config: AdapterConfig,
    original: std::path::PathBuf,
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
            .field("dialect", &self.config.dialect)
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

/// Checks the protocol version capabilities declare, as `dialect` reads them: epack reads
/// only `deploy_protocol_version` (a missing one is 0) and accepts 1 or more; gantry reads
/// either spelling.
pub fn check_version(dialect: Dialect, caps: &Capabilities) -> Result<u32, String> {
    let version = match dialect {
        Dialect::Epack => caps.deploy_protocol_version.unwrap_or(0),
        Dialect::Gantry => {
            if let (Some(a), Some(b)) = (caps.deploy_protocol_version, caps.protocol_version) {
                if a != b {
                    return Err(format!(
                        "the capabilities declare deploy_protocol_version {a} but protocol_version {b}"
                    ));
                }
            }
            caps.declared_version().ok_or_else(|| {
                "the capabilities carry neither `deploy_protocol_version` (epack's spelling) nor \
                 `protocol_version`; declare `\"deploy_protocol_version\": 1`"
                    .to_string()
            })?
        }
    };
    if version < PROTOCOL_VERSION {
        let why = if dialect == Dialect::Epack && caps.deploy_protocol_version.is_none() {
            " (no `deploy_protocol_version`: epack reads 0 and refuses the adapter)"
        } else {
            ""
        };
        return Err(format!(
            "the adapter declares remote protocol v{version}{why}; v{PROTOCOL_VERSION} or later is needed"
        ));
    }
    Ok(version)
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

    /// Whose conventions the calls follow.
    pub fn dialect(&self) -> Dialect {
        self.config.dialect
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

    /// `ADAPTER --capabilities`, checked for protocol v1 as the dialect reads it.
    pub async fn capabilities(&self) -> Result<Capabilities, RemoteError> {
        self.limiter.until_ready().await;
        let finished = process::run(&Invocation {
            adapter: &self.config.name,
            command: CAPABILITIES,
            program: self.exec_path(),
            args: &[CAPABILITIES],
            env: &self.env,
            stdin: None,
            trailing_newline: false,
            timeout: self.config.timeout,
            max_bytes: self.config.max_response_bytes,
        })
        .await?;
        let value = response::parse_object(&finished.stdout)
            .map_err(|r| self.protocol(CAPABILITIES, format!("{r}{}", after(&finished))))?;
        if !finished.status.success() {
            return Err(self.protocol(
                CAPABILITIES,
                format!(
                    "the adapter {}{}",
                    describe(finished.status),
                    stderr(&finished)
                ),
            ));
        }
        let caps: Capabilities = serde_json::from_value(value).map_err(|e| {
            self.protocol(
                CAPABILITIES,
                format!("capabilities do not match the protocol: {e}"),
            )
        })?;
        check_version(self.config.dialect, &caps).map_err(|r| self.protocol(CAPABILITIES, r))?;
        if let Some(kind) = caps.kind.as_deref().filter(|k| *k != KIND) {
            tracing::warn!(
                "remote adapter `{}` declares kind `{kind}`, not `{KIND}`",
                self.config.name
            );
        }
        Ok(caps)
    }

    /// `push.prepare`.
    pub async fn push_prepare(&self, req: &PushPrepare) -> Result<PushPrepared, RemoteError> {
        self.call(command::PUSH_PREPARE, req).await
    }

    /// `push.finalize`.
    pub async fn push_finalize(&self, req: &PushFinalize) -> Result<PushFinalized, RemoteError> {
        self.call(command::PUSH_FINALIZE, req).await
    }

    /// `pull.prepare`.
    pub async fn pull_prepare(&self, req: &PullPrepare) -> Result<PullPrepared, RemoteError> {
        self.call(command::PULL_PREPARE, req).await
    }

    /// `pull.finalize`.
    pub async fn pull_finalize(&self, req: &PullFinalize) -> Result<PullFinalized, RemoteError> {
        self.call(command::PULL_FINALIZE, req).await
    }

    /// `runs.sync`.
    pub async fn runs_sync(&self, req: &RunsSync) -> Result<RunsSynced, RemoteError> {
        self.call(command::RUNS_SYNC, req).await
    }

    /// `auth.login` (gantry names the remote; epack sends the envelope only).
    pub async fn auth_login(&self) -> Result<LoggedIn, RemoteError> {
        self.call(command::AUTH_LOGIN, &self.auth_request()).await
    }

    /// `auth.whoami`.
    pub async fn auth_whoami(&self) -> Result<WhoAmI, RemoteError> {
        self.call(command::AUTH_WHOAMI, &self.auth_request()).await
    }

    fn auth_request(&self) -> AuthRequest {
        AuthRequest::new(
            self.config
                .dialect
                .sends_gantry_fields()
                .then(|| self.config.name.clone()),
        )
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
            let result = self.exchange_checked(command, &request_id, &request).await;
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

    async fn exchange_checked<T: DeserializeOwned>(
        &self,
        command: &str,
        request_id: &str,
        request: &[u8],
    ) -> Result<T, RemoteError> {
        let finished = self.run(command, request).await?;
        let answer = response::decode::<T>(command, request_id, &finished.stdout)
            .map_err(|r| self.protocol(command, format!("{r}{}", after(&finished))))?;
        match answer {
            Answer::Error(error) => Err(RemoteError::Adapter {
                adapter: self.config.name.clone(),
                command: command.to_string(),
                code: error.code,
                message: error.message,
                retryable: error.retryable,
                action: error.action.map(Box::new),
            }),
            // epack's executor fails a command whose process failed, whatever it printed.
            Answer::Result(_) if !finished.status.success() => Err(self.protocol(
                command,
                format!(
                    "the adapter answered `ok: true` but {}{}",
                    describe(finished.status),
                    stderr(&finished)
                ),
            )),
            Answer::Result(value) => Ok(value),
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
        let finished = self.run(command, request).await?;
        response::parse_object(&finished.stdout)
            .map_err(|r| self.protocol(command, format!("{r}{}", after(&finished))))
    }

    async fn run(&self, command: &str, request: &[u8]) -> Result<process::Finished, RemoteError> {
        self.limiter.until_ready().await;
        process::run(&Invocation {
            adapter: &self.config.name,
            command,
            program: self.exec_path(),
            args: &[command],
            env: &self.env,
            stdin: Some(request),
            trailing_newline: self.config.dialect == Dialect::Gantry,
            timeout: self.config.timeout,
            max_bytes: self.config.max_response_bytes,
        })
        .await
    }

    pub(crate) fn protocol(&self, command: &str, reason: String) -> RemoteError {
        RemoteError::Protocol {
            adapter: self.config.name.clone(),
            command: command.to_string(),
            reason,
        }
    }
}

/// ` (the adapter exited with code 3); stderr: ...`, for messages about bad output.
fn after(finished: &process::Finished) -> String {
    format!(
        " (the adapter {}){}",
        describe(finished.status),
        stderr(finished)
    )
}

fn stderr(finished: &process::Finished) -> String {
    if finished.stderr_tail.is_empty() {
        String::new()
    } else {
        format!("; stderr: {}", finished.stderr_tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AdapterSource;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

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

    fn caps(json: &str) -> Capabilities {
        serde_json::from_str(json).expect("capabilities")
    }

    #[test]
    fn both_version_spellings_are_read_and_epack_reads_only_its_own() {
        let epack = caps(r#"{"name":"x","kind":"remote_adapter","deploy_protocol_version":1}"#);
        let gantry_only = caps(r#"{"name":"x","protocol_version":1}"#);
        assert_eq!(check_version(Dialect::Gantry, &epack), Ok(1));
        assert_eq!(check_version(Dialect::Epack, &epack), Ok(1));
        assert_eq!(check_version(Dialect::Gantry, &gantry_only), Ok(1));
        let err = check_version(Dialect::Epack, &gantry_only).expect_err("epack reads 0");
        assert!(err.contains("epack reads 0"), "{err}");
        let err = check_version(Dialect::Gantry, &caps(r#"{"name":"x"}"#)).expect_err("none");
        assert!(err.contains("deploy_protocol_version"), "{err}");
        let newer = caps(r#"{"name":"x","deploy_protocol_version":2}"#);
        assert_eq!(
            check_version(Dialect::Epack, &newer),
            Ok(2),
            "epack accepts >= 1"
        );
        let torn = caps(r#"{"name":"x","deploy_protocol_version":1,"protocol_version":2}"#);
        assert!(check_version(Dialect::Gantry, &torn).is_err());
    }
}
