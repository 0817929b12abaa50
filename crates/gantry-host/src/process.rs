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

use crate::supervisor::Supervisor;

/// The executable `program` names: itself when it has a `/` (relative to `cwd`), else the
/// first match on `path`.
pub(crate) fn resolve_program(
    program: &str,
    path: Option<&str>,
    cwd: &Path,
) -> Option<std::path::PathBuf> {
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

/// A started step process: its group, its output pipes, and its end.
struct Started {
    pgid: i32,
    stdout: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    stderr: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    exit: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<ExitStatus, BackendError>> + Send>,
    >,
}

/// Runs `req` with `extra` variables added, in `cwd`, as a new process group (under the
/// job's `supervisor` when there is one). Calls `started` with the group id as soon as
/// it exists.
pub(crate) async fn run(
    req: ExecRequest,
    extra: &IndexMap<String, String>,
    cwd: &Path,
    supervisor: Option<&Supervisor>,
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
    let program = program.clone();
    let child = match supervisor {
        Some(s) => {
            let env: Vec<(String, String)> = req
                .env
                .iter()
                .chain(extra.iter())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let spawned = s.spawn(&req.argv, env, cwd).await?;
            let exit = spawned.exit;
            let what = program.clone();
            Started {
                pgid: spawned.pid,
                stdout: Some(Box::new(spawned.stdout)),
                stderr: Some(Box::new(spawned.stderr)),
                exit: Box::pin(async move {
                    exit.await.map_err(|_| {
                        BackendError::Exec(format!(
                            "waiting for `{what}`: the job's supervisor is gone"
                        ))
                    })
                }),
            }
        }
        None => spawn_direct(&req, extra, cwd)?,
    };
    let Started {
        pgid,
        stdout,
        stderr,
        exit,
    } = child;
    started(pgid);
    let mut exit = exit;

    let activity = Arc::new(Activity::default());
    let mut readers = Vec::new();
    if let Some(out) = stdout {
        readers.push(tokio::spawn(read_stream(
            out,
            Stream::Stdout,
            output.clone(),
            activity.clone(),
        )));
    }
    if let Some(err) = stderr {
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
            status = &mut exit => break status,
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
    let status = status?;

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
    Ok(status)
}

/// Starts the step as gantry's own child (no supervisor).
fn spawn_direct(
    req: &ExecRequest,
    extra: &IndexMap<String, String>,
    cwd: &Path,
) -> Result<Started, BackendError> {
    let program = req.argv.first().cloned().unwrap_or_default();
    // Resolving the program ourselves lets std use posix_spawn (vfork) instead of fork,
    // which it must fall back to when the child's PATH differs from ours.
    let resolved = resolve_program(&program, req.env.get("PATH").map(String::as_str), cwd);
    let mut cmd = tokio::process::Command::new(resolved.as_deref().unwrap_or(Path::new(&program)));
    cmd.arg0(&program);
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
    let stdout = child
        .stdout
        .take()
        .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
    let stderr = child
        .stderr
        .take()
        .map(|e| Box::new(e) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
    Ok(Started {
        pgid,
        stdout,
        stderr,
        exit: Box::pin(async move {
            use std::os::unix::process::ExitStatusExt;
            let status = child
                .wait()
                .await
                .map_err(|e| BackendError::Exec(format!("waiting for `{program}`: {e}")))?;
            Ok(match (status.code(), status.signal()) {
                (Some(c), _) => ExitStatus::code(c),
                (None, Some(s)) => ExitStatus::signal(s),
                (None, None) => ExitStatus::code(-1),
            })
        }),
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
