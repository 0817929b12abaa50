//! gantry's side of a job's supervisor: a small process (gantry's own binary, started as
//! `gantry __gantry-host-supervisor`) that is a *child subreaper* (`PR_SET_CHILD_SUBREAPER`)
//! and starts the job's step processes. Whatever a step starts, however it detaches
//! (`setsid env -i sleep 300 &` leaves the step's process group and drops every gantry
//! variable), becomes the supervisor's child when its parent dies, so when the job ends —
//! or gantry dies, which closes the supervisor's stdin — the supervisor kills everything
//! below it. See `subreaper.rs` for the process itself.
//!
//! The protocol is JSON lines on the supervisor's stdin (requests) and stdout (replies).
//! A step's stdout and stderr reach gantry through two FIFOs gantry makes in the job's
//! directory: gantry opens their read ends, the supervisor their write ends for the step.
//!
//! ```text
//!   gantry ──{"spawn": {argv, env, cwd, stdout, stderr}}──> supervisor ──fork/exec──> step
//!          <──{"started": {pid}} | {"failed": {...}}────────
//!          <──{"exited": {pid, code | signal}}──────────────  (when the step's main process ends)
//!   stdin closed ──> supervisor SIGKILLs every descendant, reaps them, exits
//! ```

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gantry_backend::{BackendError, ExitStatus};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::oneshot;

/// The first argument that makes gantry's binary a supervisor.
pub const SUPERVISOR_ARG: &str = "__gantry-host-supervisor";

/// How long a supervisor may take to end its job's processes and exit.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// A request to the supervisor.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Request {
    /// Start a step process in its own process group.
    Spawn(SpawnRequest),
}

/// What to start, and the FIFOs its output goes to.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SpawnRequest {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// A reply or report from the supervisor.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reply {
    /// The last spawn request started this process (also its process group).
    Started { pid: i32 },
    /// The last spawn request failed.
    Failed { not_found: bool, message: String },
    /// A started process ended.
    Exited {
        pid: i32,
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// A step process the supervisor started.
pub(crate) struct Spawned {
    /// Its pid, which is also its process group id.
    pub pid: i32,
    pub stdout: tokio::net::unix::pipe::Receiver,
    pub stderr: tokio::net::unix::pipe::Receiver,
    /// Resolves when its main process ended.
    pub exit: oneshot::Receiver<ExitStatus>,
}

type StartReply = Result<i32, (bool, String)>;

#[derive(Default)]
struct Waiters {
    /// Spawn requests sent and not yet answered, in order.
    starts: VecDeque<(oneshot::Sender<StartReply>, oneshot::Sender<ExitStatus>)>,
    /// Started processes not yet ended.
    exits: HashMap<i32, oneshot::Sender<ExitStatus>>,
}

/// A running supervisor of one job.
pub(crate) struct Supervisor {
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    waiters: Arc<Mutex<Waiters>>,
    child: tokio::sync::Mutex<Option<Child>>,
    /// Where the output FIFOs are made (the job's directory).
    fifo_dir: PathBuf,
    next: AtomicU64,
}

impl Supervisor {
    /// Starts `exe SUPERVISOR_ARG` for a job whose directory is `fifo_dir`.
    pub(crate) fn launch(exe: &Path, fifo_dir: PathBuf) -> Result<Supervisor, BackendError> {
        let mut child = tokio::process::Command::new(exe)
            .arg(SUPERVISOR_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C meant for gantry must not kill it and leave
            // the job's processes to init.
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| BackendError::Setup {
                what: format!("starting the job's supervisor `{}`", exe.display()),
                reason: e.to_string(),
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(BackendError::Setup {
                what: "starting the job's supervisor".into(),
                reason: "its stdin or stdout is missing".into(),
            });
        };
        let waiters = Arc::new(Mutex::new(Waiters::default()));
        tokio::spawn(dispatch(BufReader::new(stdout), waiters.clone()));
        Ok(Supervisor {
            stdin: tokio::sync::Mutex::new(Some(stdin)),
            waiters,
            child: tokio::sync::Mutex::new(Some(child)),
            fifo_dir,
            next: AtomicU64::new(0),
        })
    }

    /// Starts `argv` with exactly `env`, in `cwd`, under the supervisor.
    pub(crate) async fn spawn(
        &self,
        argv: &[String],
        env: Vec<(String, String)>,
        cwd: &Path,
    ) -> Result<Spawned, BackendError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let out_path = self.fifo_dir.join(format!(".out-{n}"));
        let err_path = self.fifo_dir.join(format!(".err-{n}"));
        let fifos = Fifos(vec![out_path.clone(), err_path.clone()]);
        let stdout = open_fifo(&out_path)?;
        let stderr = open_fifo(&err_path)?;
        let request = Request::Spawn(SpawnRequest {
            argv: argv.to_vec(),
            env,
            cwd: cwd.to_path_buf(),
            stdout: out_path,
            stderr: err_path,
        });
        let mut line = serde_json::to_vec(&request)
            .map_err(|e| BackendError::Exec(format!("encoding a spawn request: {e}")))?;
        line.push(b'\n');
        let (start_tx, start_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = oneshot::channel();
        {
            let mut stdin = self.stdin.lock().await;
            let Some(pipe) = stdin.as_mut() else {
                return Err(BackendError::Exec(
                    "the job's supervisor was shut down".into(),
                ));
            };
            lock(&self.waiters).starts.push_back((start_tx, exit_tx));
            pipe.write_all(&line)
                .await
                .map_err(|e| gone(&e.to_string()))?;
            pipe.flush().await.map_err(|e| gone(&e.to_string()))?;
        }
        let pid = match start_rx.await {
            Ok(Ok(pid)) => pid,
            Ok(Err((true, _))) => {
                return Err(BackendError::Exec(format!(
                    "`{}` not found on PATH",
                    argv.first().map(String::as_str).unwrap_or("")
                )))
            }
            Ok(Err((false, message))) => return Err(BackendError::Exec(message)),
            Err(_) => return Err(gone("it exited")),
        };
        // Both ends are open now; the names are no longer needed.
        drop(fifos);
        Ok(Spawned {
            pid,
            stdout,
            stderr,
            exit: exit_rx,
        })
    }

    /// Closes the supervisor's stdin (it then kills every process of the job) and waits
    /// for it to exit; kills it if it does not.
    pub(crate) async fn shutdown(&self) {
        self.stdin.lock().await.take();
        let Some(mut child) = self.child.lock().await.take() else {
            return;
        };
        if tokio::time::timeout(SHUTDOWN_WAIT, child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

fn gone(why: &str) -> BackendError {
    BackendError::Exec(format!("the job's supervisor is gone ({why})"))
}

fn lock(w: &Mutex<Waiters>) -> std::sync::MutexGuard<'_, Waiters> {
    w.lock().unwrap_or_else(PoisonError::into_inner)
}

/// FIFO paths removed when dropped.
struct Fifos(Vec<PathBuf>);

impl Drop for Fifos {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Makes a FIFO at `path` and opens its read end (without waiting for a writer).
fn open_fifo(path: &Path) -> Result<tokio::net::unix::pipe::Receiver, BackendError> {
    use std::os::unix::fs::OpenOptionsExt;
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| BackendError::io(path.display(), std::io::Error::from(e)))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| BackendError::io(path.display(), e))?;
    tokio::net::unix::pipe::Receiver::from_file_unchecked(file)
        .map_err(|e| BackendError::io(path.display(), e))
}

/// Routes the supervisor's replies to the requests and steps waiting for them.
async fn dispatch(
    mut stdout: BufReader<tokio::process::ChildStdout>,
    waiters: Arc<Mutex<Waiters>>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match stdout.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(reply) = serde_json::from_str::<Reply>(line.trim_end()) else {
            tracing::warn!("the job's supervisor said something unreadable: {line}");
            continue;
        };
        let mut w = lock(&waiters);
        match reply {
            Reply::Started { pid } => {
                if let Some((start, exit)) = w.starts.pop_front() {
                    w.exits.insert(pid, exit);
                    let _ = start.send(Ok(pid));
                }
            }
            Reply::Failed { not_found, message } => {
                if let Some((start, _)) = w.starts.pop_front() {
                    let _ = start.send(Err((not_found, message)));
                }
            }
            Reply::Exited { pid, code, signal } => {
                if let Some(exit) = w.exits.remove(&pid) {
                    let status = match (code, signal) {
                        (Some(c), _) => ExitStatus::code(c),
                        (None, Some(s)) => ExitStatus::signal(s),
                        (None, None) => ExitStatus::code(-1),
                    };
                    let _ = exit.send(status);
                }
            }
        }
    }
    // The supervisor is gone: every waiter learns it from its dropped sender.
    let mut w = lock(&waiters);
    w.starts.clear();
    w.exits.clear();
}
