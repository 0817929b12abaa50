//! Running one step process in its own process group, streaming its output and
//! stopping the whole group on request.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gantry_backend::{
    BackendError, ExecRequest, ExitStatus, OutputChunk, OutputSender, StopLevel, StopReceiver,
    Stream,
};
use indexmap::IndexMap;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

/// The executable `program` names: itself when it has a `/` (relative to `cwd`), else the
/// first match on `path`.
fn resolve_program(program: &str, path: Option<&str>, cwd: &Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = cwd.join(program);
        return executable(&p).then_some(p);
    }
    path?
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| cwd.join(d).join(program))
        .find(|p| executable(p))
}

/// How long output may stay silent after the step's main process exited before we stop
/// waiting for EOF (a background child may hold the pipes open for the rest of the job).
const DRAIN_IDLE: Duration = Duration::from_millis(200);
const READ_BUFFER: usize = 64 * 1024;

/// Progress of the output readers, to tell a live flood from a silent background child.
#[derive(Default)]
struct Activity {
    bytes: AtomicU64,
    sending: AtomicBool,
}

/// Runs `req` with `extra` variables added, in `cwd`, as a new process group. Calls
/// `started` with the group id as soon as it exists.
pub(crate) async fn run(
    req: ExecRequest,
    extra: &IndexMap<String, String>,
    cwd: &Path,
    output: OutputSender,
    mut stop: StopReceiver,
    started: impl FnOnce(i32),
) -> Result<ExitStatus, BackendError> {
    let Some(program) = req.argv.first() else {
        return Err(BackendError::InvalidRequest(
            "empty argv: nothing to run".into(),
        ));
    };
    if !cwd.is_dir() {
        return Err(BackendError::Exec(format!(
            "working directory `{}` does not exist",
            cwd.display()
        )));
    }
    // Resolving the program ourselves lets std use posix_spawn (vfork) instead of fork,
    // which it must fall back to when the child's PATH differs from ours.
    let resolved = resolve_program(program, req.env.get("PATH").map(String::as_str), cwd);
    let mut cmd = tokio::process::Command::new(resolved.as_deref().unwrap_or(Path::new(program)));
    cmd.arg0(program);
    cmd.args(&req.argv[1..])
        .env_clear()
        .envs(&req.env)
        .envs(extra)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            BackendError::Exec(format!("`{program}` not found on PATH"))
        }
        _ => BackendError::Exec(format!("starting `{program}`: {e}")),
    })?;
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    started(pgid);

    let activity = Arc::new(Activity::default());
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(read_stream(
            out,
            Stream::Stdout,
            output.clone(),
            activity.clone(),
        )));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(read_stream(
            err,
            Stream::Stderr,
            output.clone(),
            activity.clone(),
        )));
    }
    drop(output);

    let mut stop_open = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            changed = stop.changed(), if stop_open => {
                if changed.is_err() {
                    stop_open = false;
                    continue;
                }
                let signal = match *stop.borrow_and_update() {
                    StopLevel::Run => continue,
                    StopLevel::Terminate => Signal::SIGTERM,
                    StopLevel::Kill => Signal::SIGKILL,
                };
                if pgid > 0 {
                    let _ = killpg(Pid::from_raw(pgid), signal);
                }
            }
        }
    };
    let status = status.map_err(|e| BackendError::Exec(format!("waiting for `{program}`: {e}")))?;

    // Drain what the process wrote; give up only when output has gone silent.
    let mut last = activity.bytes.load(Ordering::Relaxed);
    for mut reader in readers {
        loop {
            match tokio::time::timeout(DRAIN_IDLE, &mut reader).await {
                Ok(_) => break,
                Err(_) => {
                    let now = activity.bytes.load(Ordering::Relaxed);
                    if now == last && !activity.sending.load(Ordering::Relaxed) {
                        reader.abort();
                        break;
                    }
                    last = now;
                }
            }
        }
    }

    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => ExitStatus::code(c),
        (None, Some(s)) => ExitStatus::signal(s),
        (None, None) => ExitStatus::code(-1),
    })
}

async fn read_stream(
    mut pipe: impl tokio::io::AsyncRead + Unpin,
    stream: Stream,
    output: OutputSender,
    activity: Arc<Activity>,
) {
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                activity.bytes.fetch_add(n as u64, Ordering::Relaxed);
                activity.sending.store(true, Ordering::Relaxed);
                let sent = output
                    .send(OutputChunk {
                        stream,
                        data: Bytes::copy_from_slice(&buf[..n]),
                    })
                    .await;
                activity.sending.store(false, Ordering::Relaxed);
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}
