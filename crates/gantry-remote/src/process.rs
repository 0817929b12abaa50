//! One adapter process per command: start it in its own process group with an allowlisted
//! environment, write the request, read at most `max_bytes` of response, forward stderr
//! to `tracing`, and kill the whole group on timeout.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::error::RemoteError;

/// Lines of adapter stderr kept to explain a failure.
const TAIL_LINES: usize = 5;

/// What to run.
pub(crate) struct Invocation<'a> {
    /// The remote's name, for messages.
    pub(crate) adapter: &'a str,
    /// The command, for messages.
    pub(crate) command: &'a str,
    /// What runs.
    pub(crate) program: &'a Path,
    /// Its arguments.
    pub(crate) args: &'a [&'a str],
    /// Its whole environment.
    pub(crate) env: &'a [(String, String)],
    /// The request; `None` gives the adapter an empty stdin (`--capabilities`).
    pub(crate) stdin: Option<&'a [u8]>,
    /// Write a newline after the request (gantry does, epack does not).
    pub(crate) trailing_newline: bool,
    /// The deadline.
    pub(crate) timeout: Duration,
    /// The largest response accepted.
    pub(crate) max_bytes: usize,
}

/// What came back.
pub(crate) struct Finished {
    /// Everything printed on stdout.
    pub(crate) stdout: Vec<u8>,
    /// How the process ended.
    pub(crate) status: std::process::ExitStatus,
    /// The last lines of stderr, for messages.
    pub(crate) stderr_tail: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the invocation to completion or kills it.
pub(crate) async fn run(inv: &Invocation<'_>) -> Result<Finished, RemoteError> {
    let fail = |reason: String| RemoteError::Process {
        adapter: inv.adapter.to_string(),
        command: inv.command.to_string(),
        reason,
    };
    let mut child =
        spawn(inv).map_err(|e| fail(format!("starting {}: {e}", inv.program.display())))?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
    let stderr_task = child.stderr.take().map(|stderr| {
        let (tail, adapter, command) = (tail.clone(), inv.adapter.to_string(), inv.command.to_string());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "gantry::remote", adapter = %adapter, command = %command, "{line}");
                let mut t = lock(&tail);
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        })
    });
    let exchange = exchange(&mut child, inv);
    let result = tokio::time::timeout(inv.timeout, exchange).await;
    // Whatever happened, nothing the adapter started outlives the command.
    kill_group(pid);
    let outcome = match result {
        Err(_) => {
            let _ = child.kill().await;
            Err(RemoteError::Timeout {
                adapter: inv.adapter.to_string(),
                command: inv.command.to_string(),
                seconds: inv.timeout.as_secs().max(1),
            })
        }
        Ok(Err(e)) => {
            let _ = child.kill().await;
            Err(e)
        }
        Ok(Ok((stdout, status))) => Ok((stdout, status)),
    };
    if let Some(task) = stderr_task {
        let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
    }
    let stderr_tail = lock(&tail).iter().cloned().collect::<Vec<_>>().join(" | ");
    let (stdout, status) = outcome?;
    Ok(Finished {
        stdout,
        status,
        stderr_tail,
    })
}

/// Starts the process, retrying briefly on ETXTBSY (a just-written binary whose write
/// descriptor a concurrently forked child still holds).
fn spawn(inv: &Invocation<'_>) -> std::io::Result<Child> {
    let mut attempts = 0;
    loop {
        let mut cmd = Command::new(inv.program);
        cmd.args(inv.args)
            .env_clear()
            .envs(inv.env.iter().map(|(k, v)| (k, v)))
            .stdin(if inv.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && attempts < 20 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

async fn exchange(
    child: &mut Child,
    inv: &Invocation<'_>,
) -> Result<(Vec<u8>, std::process::ExitStatus), RemoteError> {
    let fail = |reason: String| RemoteError::Process {
        adapter: inv.adapter.to_string(),
        command: inv.command.to_string(),
        reason,
    };
    if let (Some(mut stdin), Some(request)) = (child.stdin.take(), inv.stdin) {
        // An adapter may answer without reading its stdin (an unknown command): a broken
        // pipe here is not an error, the response decides.
        let _ = stdin.write_all(request).await;
        if inv.trailing_newline {
            let _ = stdin.write_all(b"\n").await;
        }
        drop(stdin);
    }
    let Some(stdout) = child.stdout.take() else {
        return Err(fail("no stdout pipe".into()));
    };
    let mut buf = Vec::new();
    let limit = u64::try_from(inv.max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    stdout
        .take(limit)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| fail(format!("reading stdout: {e}")))?;
    if buf.len() > inv.max_bytes {
        return Err(RemoteError::Protocol {
            adapter: inv.adapter.to_string(),
            command: inv.command.to_string(),
            reason: format!(
                "response is larger than the {} byte limit; the adapter was killed",
                inv.max_bytes
            ),
        });
    }
    let status = child
        .wait()
        .await
        .map_err(|e| fail(format!("waiting for the process: {e}")))?;
    Ok((buf, status))
}

fn kill_group(pid: i32) {
    if pid > 0 {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// `exited with code 3` / `was killed by signal 9`.
pub(crate) fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => "ended".into(),
    }
}
