//! Finding processes by the gantry variables in their environment (`/proc/*/environ`),
//! and reaping what dead runs left: processes and job directories.

use std::path::Path;

use gantry_backend::ReapReport;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// Variable naming the run of every step process.
pub(crate) const RUN_VAR: &str = "GANTRY_RUN_ID";
/// Variable naming the backend instance (hash of its root).
pub(crate) const OWNER_VAR: &str = "GANTRY_OWNER";
/// Variable naming the environment (job directory) of every step process.
pub(crate) const ENV_VAR: &str = "GANTRY_ENV_ID";

/// A process and the gantry variables it carries.
pub(crate) struct Tagged {
    pub pid: i32,
    pub run: Option<String>,
    pub owner: Option<String>,
    pub env: Option<String>,
}

/// Every process on the machine that carries gantry variables (unreadable ones skipped).
pub(crate) fn tagged_processes() -> Vec<Tagged> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let mut t = Tagged {
            pid,
            run: None,
            owner: None,
            env: None,
        };
        for var in environ.split(|b| *b == 0) {
            let Ok(var) = std::str::from_utf8(var) else {
                continue;
            };
            if let Some((k, v)) = var.split_once('=') {
                match k {
                    RUN_VAR => t.run = Some(v.to_string()),
                    OWNER_VAR => t.owner = Some(v.to_string()),
                    ENV_VAR => t.env = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        if t.run.is_some() {
            out.push(t);
        }
    }
    out
}

/// SIGKILLs a process and its process group (best effort).
pub(crate) fn kill_hard(pid: i32) {
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Kills processes and removes directories of runs not in `live` that this owner made.
pub(crate) fn reap(root: &Path, owner: &str, live: &[String]) -> ReapReport {
    let mut report = ReapReport::default();
    for p in tagged_processes() {
        let (Some(run), Some(o)) = (&p.run, &p.owner) else {
            continue;
        };
        if o == owner && !live.contains(run) {
            kill_hard(p.pid);
            report
                .removed
                .push(format!("process {} (run {run})", p.pid));
        }
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return report;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !path.is_dir() || live.contains(&name) || !path.join(".gantry-run").exists() {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => report
                .removed
                .push(format!("directory {} (run {name})", path.display())),
            Err(e) => report
                .failed
                .push(format!("directory {}: {e}", path.display())),
        }
    }
    report
}
