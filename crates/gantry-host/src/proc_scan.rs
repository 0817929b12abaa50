//! Finding processes by the gantry variables in their environment (`/proc/*/environ`),
//! and reaping what dead runs left: processes and job directories.

use std::path::Path;

use gantry_backend::ReapReport;

use crate::run_dir::{remove_tree, MARKER};
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

/// What [`owner_marker`] wrote into a run dir, if readable.
struct Owner {
    pid: u32,
    start: Option<String>,
}

/// The contents of a run dir's marker: the run and the process that owns it (pid and
/// start time, so a reused pid is not taken for the owner).
pub(crate) fn owner_marker(run_id: &str) -> String {
    let pid = std::process::id();
    let start = process_start(pid).unwrap_or_default();
    format!("run={run_id}\npid={pid}\nstart={start}\n")
}

fn read_owner(run_dir: &Path) -> Option<Owner> {
    let text = std::fs::read_to_string(run_dir.join(MARKER)).ok()?;
    let mut owner = Owner {
        pid: 0,
        start: None,
    };
    for line in text.lines() {
        match line.split_once('=') {
            Some(("pid", v)) => owner.pid = v.trim().parse().ok()?,
            Some(("start", v)) if !v.trim().is_empty() => owner.start = Some(v.trim().to_string()),
            _ => {}
        }
    }
    (owner.pid > 0).then_some(owner)
}

impl Owner {
    /// Whether the owner is another process that still runs.
    fn alive_elsewhere(&self) -> bool {
        self.pid != std::process::id() && self.alive()
    }

    /// Whether the owning process still runs. A marker without a start time (an older
    /// gantry wrote it) counts as alive while its pid exists.
    fn alive(&self) -> bool {
        match (&self.start, process_start(self.pid)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(want), Some(now)) => *want == now,
        }
    }
}

/// The start time of process `pid` (field 22 of /proc/PID/stat); `None` when it is
/// gone or a zombie.
pub(crate) fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    fields.get(19).map(|s| s.to_string())
}

/// Whether `name` has the shape of a run id gantry makes (a ULID).
fn looks_like_run_id(name: &str) -> bool {
    name.len() == 26
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
}

/// Whether `dir` holds no file at all (only, perhaps, empty directories).
fn holds_no_files(dir: &Path) -> bool {
    ignore::WalkBuilder::new(dir)
        .standard_filters(false)
        .build()
        .all(|e| e.is_ok_and(|e| e.file_type().is_some_and(|t| t.is_dir())))
}

/// Something a dead run left.
enum Leftover {
    Process {
        pid: i32,
        run: String,
    },
    Dir {
        path: std::path::PathBuf,
        run: String,
    },
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Leftover::Process { pid, run } => write!(f, "process {pid} (run {run})"),
            Leftover::Dir { path, run } => write!(f, "directory {} (run {run})", path.display()),
        }
    }
}

/// Whether the run's dir names another live process as its owner: then nothing of it is
/// touched, whatever the caller's list of live runs says (that list may come from another
/// state dir sharing this root). This process's own runs are the caller's to judge.
fn owned_by_live_process(root: &Path, run: &str) -> bool {
    read_owner(&root.join(run)).is_some_and(|o| o.alive_elsewhere())
}

/// What [`reap`] would remove: processes and directories of runs not in `live` that
/// this owner made and whose owning process is provably gone.
fn leftovers(root: &Path, owner: &str, live: &[String]) -> Vec<Leftover> {
    let mut found = Vec::new();
    for p in tagged_processes() {
        let (Some(run), Some(o)) = (&p.run, &p.owner) else {
            continue;
        };
        if o == owner && !live.contains(run) && !owned_by_live_process(root, run) {
            found.push(Leftover::Process {
                pid: p.pid,
                run: run.clone(),
            });
        }
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !path.is_dir() || live.contains(&name) {
            continue;
        }
        let leftover = match read_owner(&path) {
            Some(o) => !o.alive_elsewhere(),
            // No marker: only an empty dir shaped like a run's (what an interrupted
            // start or removal leaves) is provably a leftover.
            None => {
                !path.join(MARKER).exists() && looks_like_run_id(&name) && holds_no_files(&path)
            }
        };
        if leftover {
            found.push(Leftover::Dir { path, run: name });
        }
    }
    found
}

/// The names of what [`reap`] would remove now (for `gantry gc --dry-run`).
pub(crate) fn describe_leftovers(root: &Path, owner: &str, live: &[String]) -> Vec<String> {
    leftovers(root, owner, live)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Kills processes and removes directories of runs not in `live` that this owner made
/// and whose owner is gone.
pub(crate) fn reap(root: &Path, owner: &str, live: &[String]) -> ReapReport {
    let mut report = ReapReport::default();
    for item in leftovers(root, owner, live) {
        match &item {
            Leftover::Process { pid, .. } => {
                kill_hard(*pid);
                report.removed.push(item.to_string());
            }
            Leftover::Dir { path, .. } => match remove_tree(path) {
                Ok(()) => report.removed.push(item.to_string()),
                Err(e) => report.failed.push(format!("{item}: {e}")),
            },
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaps_only_what_a_dead_owner_left() {
        let root = tempfile::tempdir().unwrap();
        // A run of another live process (pid 1 and its real start time) not on the
        // caller's list: untouched.
        let live = root.path().join("01M8MH77MM2E4TD9C9D8SP9AV3");
        std::fs::create_dir_all(live.join("job-0")).unwrap();
        let init = process_start(1).unwrap();
        std::fs::write(live.join(MARKER), format!("run=x\npid=1\nstart={init}\n")).unwrap();
        // A dead owner's run: removed.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dead = root.path().join("01M8MH77MMB8RS2CDDBYT5S2VG");
        std::fs::create_dir_all(dead.join("job-0/workspace")).unwrap();
        std::fs::write(
            dead.join(MARKER),
            format!("run=x\npid={dead_pid}\nstart=1\n"),
        )
        .unwrap();
        // An empty leftover without a marker: removed. A non-empty one, or one not
        // shaped like a run: kept.
        let empty = root.path().join("01M8MH782BPHHM14Z9X7B50934");
        std::fs::create_dir_all(empty.join("b-0")).unwrap();
        let full = root.path().join("01M8MH782DMR6YQHPB6GF7ZDXC");
        std::fs::create_dir_all(&full).unwrap();
        std::fs::write(full.join("f"), "x").unwrap();
        std::fs::create_dir_all(root.path().join("tool-cache")).unwrap();

        let report = reap(root.path(), "owner", &[]);
        assert_eq!(report.removed.len(), 2, "{report:?}");
        assert!(live.exists() && full.exists() && root.path().join("tool-cache").exists());
        assert!(!dead.exists() && !empty.exists());
    }
}
