//! The supervisor process of one job (see `supervisor.rs` for the protocol): a child
//! subreaper that starts step processes on request, reports when each one's main
//! process ends, and when its stdin closes (the job ended, or gantry died) kills every
//! process below it, including those that detached with `setsid` or `env -i`.
//!
//! Two threads: the main one reads requests and spawns; a reaper waits for any child
//! (started steps, and orphans reparented to us) and reports the steps'. One lock orders
//! them, so a step's `exited` never precedes its `started`.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::process::resolve_program;
use crate::supervisor::{Reply, Request, SpawnRequest};

/// What both threads share.
struct Shared {
    /// Steps started and not yet ended (their main processes' pids).
    steps: Mutex<HashSet<i32>>,
    /// Woken when a process is started, so the reaper waits again.
    started: Condvar,
    out: Mutex<std::io::Stdout>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn reply(&self, reply: &Reply) {
        if let Ok(mut line) = serde_json::to_vec(reply) {
            line.push(b'\n');
            let mut out = locked(&self.out);
            let _ = out.write_all(&line);
            let _ = out.flush();
        }
    }
}

/// Runs the supervisor until its stdin closes. The gantry binary calls this when its
/// first argument is [`crate::SUPERVISOR_ARG`].
pub fn supervise() -> ExitCode {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("gantry supervisor: cannot become a child subreaper: {e}");
        return ExitCode::from(1);
    }
    let shared = Arc::new(Shared {
        steps: Mutex::new(HashSet::new()),
        started: Condvar::new(),
        out: Mutex::new(std::io::stdout()),
    });
    let reaper = shared.clone();
    std::thread::spawn(move || reap(&reaper));

    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Request>(&line) {
            Ok(Request::Spawn(req)) => spawn(&shared, req),
            Err(e) => shared.reply(&Reply::Failed {
                not_found: false,
                message: format!("unreadable request: {e}"),
            }),
        }
    }
    end_everything();
    ExitCode::SUCCESS
}

fn spawn(shared: &Shared, req: SpawnRequest) {
    let failed = |message: String, not_found: bool| Reply::Failed { not_found, message };
    let Some(program) = req.argv.first() else {
        shared.reply(&failed("empty argv: nothing to run".into(), false));
        return;
    };
    let open = |p: &std::path::Path| std::fs::OpenOptions::new().write(true).open(p);
    let (stdout, stderr) = match (open(&req.stdout), open(&req.stderr)) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            shared.reply(&failed(format!("opening the output pipes: {e}"), false));
            return;
        }
    };
    let path = req
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let resolved = resolve_program(program, path, &req.cwd);
    let mut cmd = Command::new(resolved.as_deref().unwrap_or(std::path::Path::new(program)));
    cmd.arg0(program)
        .args(&req.argv[1..])
        .env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&req.cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    // Held from spawn to reply: the reaper reports an end only after the start.
    let mut steps = locked(&shared.steps);
    match cmd.spawn() {
        Ok(child) => {
            let pid = child.id() as i32;
            steps.insert(pid);
            shared.reply(&Reply::Started { pid });
            shared.started.notify_all();
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            shared.reply(&failed(format!("`{program}` not found on PATH"), true));
        }
        Err(e) => shared.reply(&failed(format!("starting `{program}`: {e}"), false)),
    }
}

/// Waits for every child (steps and adopted orphans) and reports the steps' ends.
fn reap(shared: &Shared) {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(pid, code)) => report(shared, pid.as_raw(), Some(code), None),
            Ok(WaitStatus::Signaled(pid, signal, _)) => {
                report(shared, pid.as_raw(), None, Some(signal as i32))
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => {
                // No children: wait until one is started.
                let steps = locked(&shared.steps);
                let _ = shared
                    .started
                    .wait_timeout(steps, Duration::from_millis(200));
            }
        }
    }
}

fn report(shared: &Shared, pid: i32, code: Option<i32>, signal: Option<i32>) {
    let mut steps = locked(&shared.steps);
    if steps.remove(&pid) {
        shared.reply(&Reply::Exited { pid, code, signal });
    }
}

/// The pids of every process below `pid` (children first found through
/// `/proc/PID/task/*/children`).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Ok(children) = std::fs::read_to_string(task.path().join("children")) else {
                continue;
            };
            for c in children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                if !found.contains(&c) {
                    found.push(c);
                    queue.push(c);
                }
            }
        }
    }
    found
}

/// SIGKILLs everything below this process until nothing is left (a process may fork
/// while the tree is walked: walk again). The reaper thread collects them.
fn end_everything() {
    let me = std::process::id();
    for _ in 0..200 {
        let below = descendants(me);
        if below.is_empty() {
            return;
        }
        for pid in below {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
