//! Launching a plugin binary: verify its digest, start it with the magic cookie and a
//! private socket directory, read its handshake line, keep its stderr, stop it at the end.
//!
//! The digest is taken from an open file descriptor and the process is started from that
//! same descriptor (`/proc/self/fd/N`), so the bytes that run are the bytes that were
//! checked, even if someone replaces the file in between.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_plugin_proto::{
    HANDSHAKE_CORE_VERSION, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, PROTOCOL_VERSION, SOCKET_DIR_KEY,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::error::PluginError;
use crate::lock::sha256_hex;

/// How long a plugin gets to print its handshake line.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a plugin gets between SIGTERM and SIGKILL when gantry stops it.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Lines of stderr kept to explain a plugin's death.
const TAIL_LINES: usize = 20;

/// What to launch.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The plugin's name (for messages and logs).
    pub name: String,
    /// The binary.
    pub command: PathBuf,
    pub args: Vec<String>,
    /// Extra environment; the plugin otherwise gets only PATH, HOME, USER, LANG, TMPDIR
    /// (never gantry's secrets).
    pub env: Vec<(String, String)>,
    /// The pinned sha256 (`None`: refuse to launch).
    pub sha256: Option<String>,
}

/// A running plugin process.
pub(crate) struct Launched {
    name: String,
    child: Mutex<Child>,
    pid: i32,
    stdin: Mutex<Option<ChildStdin>>,
    socket_dir: PathBuf,
    address: String,
    tail: Arc<Mutex<VecDeque<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn private_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gantry-plugin-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => "ended".into(),
    }
}

impl Launched {
    /// Verifies and starts the plugin, and waits for its handshake.
    pub(crate) async fn start(spec: &LaunchSpec) -> Result<Launched, PluginError> {
        let fail = |reason: String| PluginError::Launch {
            plugin: spec.name.clone(),
            reason,
        };
        let Some(pin) = spec.sha256.as_deref() else {
            return Err(PluginError::NotPinned {
                plugin: spec.name.clone(),
                path: spec.command.clone(),
            });
        };
        let mut file = std::fs::File::open(&spec.command)
            .map_err(|e| fail(format!("opening {}: {e}", spec.command.display())))?;
        let actual = sha256_hex(&mut file)
            .map_err(|e| fail(format!("reading {}: {e}", spec.command.display())))?;
        if !actual.eq_ignore_ascii_case(pin) {
            return Err(PluginError::PinMismatch {
                plugin: spec.name.clone(),
                path: spec.command.clone(),
                expected: pin.to_string(),
                actual,
            });
        }
        let socket_dir =
            private_dir().map_err(|e| fail(format!("creating a socket directory: {e}")))?;
        let fd = file.as_raw_fd();
        let mut cmd = Command::new(format!("/proc/self/fd/{fd}"));
        cmd.arg0(&spec.command)
            .args(&spec.args)
            .env_clear()
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for key in [
            "PATH",
            "HOME",
            "USER",
            "LANG",
            "TMPDIR",
            "GANTRY_LOG",
            "RUST_BACKTRACE",
        ] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
            .env(SOCKET_DIR_KEY, &socket_dir);
        // SAFETY: between fork and exec the child only clears FD_CLOEXEC on the verified
        // binary's descriptor (fcntl is async-signal-safe), so exec runs those bytes.
        unsafe {
            cmd.pre_exec(move || {
                nix::fcntl::fcntl(
                    fd,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                )
                .map(|_| ())
                .map_err(std::io::Error::from)
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("starting {}: {e}", spec.command.display())))?;
        drop(file);
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            let (tail, name) = (tail.clone(), spec.name.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::info!(target: "gantry::plugin", plugin = %name, "{line}");
                    let mut t = lock(&tail);
                    if t.len() == TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
        }
        let stdout = child.stdout.take();
        let stdin = child.stdin.take();
        let mut launched = Launched {
            name: spec.name.clone(),
            child: Mutex::new(child),
            pid,
            stdin: Mutex::new(stdin),
            socket_dir,
            address: String::new(),
            tail,
        };
        let Some(stdout) = stdout else {
            return Err(fail("no stdout to read the handshake from".into()));
        };
        let mut lines = BufReader::new(stdout).lines();
        let line = match tokio::time::timeout(HANDSHAKE_TIMEOUT, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) | Ok(Err(_)) => {
                // Give the process a moment to finish dying so its status can be told.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(fail(format!(
                    "{} {} before printing its handshake line{}",
                    spec.command.display(),
                    launched
                        .exit_description()
                        .unwrap_or_else(|| "closed stdout".into()),
                    launched.stderr_hint()
                )));
            }
            Err(_) => {
                return Err(fail(format!(
                    "{} printed no handshake line within {}s (is it a gantry plugin?){}",
                    spec.command.display(),
                    HANDSHAKE_TIMEOUT.as_secs(),
                    launched.stderr_hint()
                )))
            }
        };
        launched.address = parse_handshake(&line, &launched.socket_dir).map_err(fail)?;
        // Anything else the plugin prints on stdout is logged, never left to block it.
        let name = spec.name.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "gantry::plugin", plugin = %name, "stdout: {line}");
            }
        });
        Ok(launched)
    }

    /// The address from the handshake (`unix:///…`).
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The process id.
    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// How the process ended, if it has.
    pub(crate) fn exit_description(&self) -> Option<String> {
        lock(&self.child).try_wait().ok().flatten().map(describe)
    }

    /// True while the process runs.
    pub(crate) fn is_running(&self) -> bool {
        matches!(lock(&self.child).try_wait(), Ok(None))
    }

    /// `: last stderr line` when the plugin said anything, for error messages.
    pub(crate) fn stderr_hint(&self) -> String {
        let tail = lock(&self.tail);
        match tail.back() {
            Some(l) => format!("; its stderr ended with: {l}"),
            None => String::new(),
        }
    }

    /// Stops the plugin: closes its stdin, sends SIGTERM, and after the grace period
    /// SIGKILLs its process group.
    pub(crate) async fn stop(&self) {
        lock(&self.stdin).take();
        let pid = nix::unistd::Pid::from_raw(self.pid);
        if self.pid > 0 && self.is_running() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = tokio::time::Instant::now() + STOP_GRACE;
            while self.is_running() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if self.is_running() {
                tracing::warn!(
                    "plugin `{}` ignored SIGTERM for {STOP_GRACE:?}; killing it",
                    self.name
                );
            }
        }
        self.kill();
    }

    fn kill(&self) {
        if self.pid > 0 {
            // The whole group: what the plugin started dies with it.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = lock(&self.child).try_wait();
        }
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if self.is_running() {
            self.kill();
        } else {
            let _ = std::fs::remove_dir_all(&self.socket_dir);
        }
    }
}

/// Reads `CORE|PROTOCOL|NETWORK|ADDRESS|grpc`; the socket must be in `dir`.
fn parse_handshake(line: &str, dir: &Path) -> Result<String, String> {
    let bad = |why: &str| {
        format!(
            "bad handshake line `{}`: {why} (expected `{HANDSHAKE_CORE_VERSION}|{PROTOCOL_VERSION}|unix|/path.sock|grpc`)",
            line.chars().take(200).collect::<String>()
        )
    };
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    let [core, proto, network, address, kind] = parts.as_slice() else {
        return Err(bad("it needs five `|`-separated fields"));
    };
    if *core != HANDSHAKE_CORE_VERSION.to_string() {
        return Err(bad(&format!(
            "core version {core} is not {HANDSHAKE_CORE_VERSION}"
        )));
    }
    if *proto != PROTOCOL_VERSION.to_string() {
        return Err(format!(
            "the plugin speaks backend protocol v{proto}, this gantry speaks v{PROTOCOL_VERSION}; \
             use a plugin release for protocol v{PROTOCOL_VERSION}"
        ));
    }
    if *kind != "grpc" {
        return Err(bad(&format!("protocol `{kind}` is not grpc")));
    }
    match *network {
        "unix" => {
            let path = Path::new(address);
            if !path.is_absolute() {
                return Err(bad("the socket path is not absolute"));
            }
            if !path.starts_with(dir) {
                return Err(bad(&format!(
                    "the socket is outside the directory gantry gave it ({})",
                    dir.display()
                )));
            }
            Ok(format!("unix://{address}"))
        }
        "tcp" => {
            let ok = address.rsplit_once(':').is_some_and(|(h, p)| {
                (h == "127.0.0.1" || h == "[::1]") && p.parse::<u16>().is_ok()
            });
            if !ok {
                return Err(bad(
                    "a launched plugin may only listen on 127.0.0.1 or [::1]",
                ));
            }
            Ok(format!("tcp://{address}"))
        }
        other => Err(bad(&format!("network `{other}` is neither unix nor tcp"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_lines() {
        let dir = Path::new("/tmp/gp");
        assert_eq!(
            parse_handshake("1|1|unix|/tmp/gp/p.sock|grpc\n", dir).expect("ok"),
            "unix:///tmp/gp/p.sock"
        );
        assert_eq!(
            parse_handshake("1|1|tcp|127.0.0.1:7000|grpc", dir).expect("ok"),
            "tcp://127.0.0.1:7000"
        );
        for bad in [
            "",
            "hello",
            "2|1|unix|/tmp/gp/p.sock|grpc",
            "1|1|unix|relative.sock|grpc",
            "1|1|unix|/etc/p.sock|grpc",
            "1|1|tcp|10.0.0.1:7000|grpc",
            "1|1|unix|/tmp/gp/p.sock|netrpc",
        ] {
            assert!(parse_handshake(bad, dir).is_err(), "{bad}");
        }
        let newer = parse_handshake("1|2|unix|/tmp/gp/p.sock|grpc", dir).expect_err("v2");
        assert!(newer.contains("protocol v2"), "{newer}");
    }

    #[test]
    fn garbage_handshakes_are_errors_not_panics() {
        let dir = Path::new("/tmp/gp");
        let mut seed: u32 = 7;
        let alphabet = b"1|unix/tcp:.grpc\\\n\0\xff ";
        for _ in 0..5_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = (seed >> 16) as usize % 48;
            let line: String = (0..len)
                .map(|i| {
                    let b = alphabet[(seed as usize + i * 7) % alphabet.len()];
                    char::from(b)
                })
                .collect();
            let _ = parse_handshake(&line, dir);
        }
    }
}
