//! A temp project with its own state dir, and helpers to run `gantry` in it.

use std::path::{Path, PathBuf};
use std::process::Output;

pub(crate) struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("state")).expect("state dir");
        Project { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes `wf.yml` (or another file) into the project.
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&p, text).expect("write file");
        p
    }

    /// A `gantry` command running in the project with its private state dir.
    pub(crate) fn gantry(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"));
        cmd.current_dir(self.dir.path())
            .env("GANTRY_STATE_DIR", self.state())
            .env("NO_COLOR", "1")
            .env_remove("GANTRY_CONFIG");
        cmd
    }

    /// Runs `gantry args...` to completion.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.gantry().args(args).output().expect("run gantry")
    }

    /// Runs `gantry run --json wf.yml` and parses the events.
    pub(crate) fn run_json(
        &self,
        workflow: &str,
        extra: &[&str],
    ) -> (Output, Vec<serde_json::Value>) {
        let mut args = vec!["run", "--json"];
        args.extend_from_slice(extra);
        args.push(workflow);
        let out = self.run(&args);
        let events = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (out, events)
    }
}

/// stdout and stderr as text, for assertion messages.
pub(crate) fn text(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The events of one kind.
pub(crate) fn of<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The finished event of job `key`.
pub(crate) fn job<'a>(events: &'a [serde_json::Value], key: &str) -> &'a serde_json::Value {
    of(events, "job_finished")
        .into_iter()
        .find(|e| e["job"] == key)
        .unwrap_or_else(|| panic!("no job_finished for `{key}` in {events:#?}"))
}

/// The finished event of step `name` in job `key`.
pub(crate) fn step<'a>(
    events: &'a [serde_json::Value],
    key: &str,
    name: &str,
) -> &'a serde_json::Value {
    of(events, "step_finished")
        .into_iter()
        .find(|e| e["job"] == key && e["name"] == name)
        .unwrap_or_else(|| panic!("no step_finished `{name}` of `{key}` in {events:#?}"))
}

/// All output of job `key` as text.
pub(crate) fn output(events: &[serde_json::Value], key: &str) -> String {
    of(events, "output")
        .into_iter()
        .filter(|e| e["job"] == key)
        .map(|e| e["data"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Whether process `pid` exists (and is not a zombie).
pub(crate) fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Whether Docker answers; under `CI=true` its absence fails the test instead.
pub(crate) fn docker_available() -> bool {
    let ok = std::process::Command::new("docker")
        .arg("version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    required(
        ok,
        "docker is not answering",
        "run scripts/setup-engines.sh",
    )
}

/// Whether a component a test needs is there: the one rule every suite follows.
pub(crate) use gantry_testkit::required;
