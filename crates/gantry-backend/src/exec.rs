//! Running a command inside a container: the request, its streamed output, how it is
//! stopped, and how it ended.

use bytes::Bytes;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One command to run in a container.
///
/// Secrets travel in `env` only, never in `argv`: backends must not log `env` values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecRequest {
    /// Program and arguments; `argv[0]` is looked up on the container's PATH.
    pub argv: Vec<String>,
    /// The complete environment of the process (backends add nothing but what they
    /// document, such as `PATH` when absent).
    pub env: IndexMap<String, String>,
    /// Working directory as seen inside the container; the workspace when `None`.
    pub working_dir: Option<String>,
    /// User to run as inside the container (`uid[:gid]` or a name); the container's
    /// default when `None`.
    pub user: Option<String>,
}

impl ExecRequest {
    /// A request for `argv` with an empty environment.
    pub fn new(argv: Vec<String>) -> Self {
        ExecRequest {
            argv,
            ..Default::default()
        }
    }

    /// Sets the environment.
    pub fn env(mut self, env: IndexMap<String, String>) -> Self {
        self.env = env;
        self
    }

    /// Sets the working directory.
    pub fn working_dir(mut self, dir: Option<String>) -> Self {
        self.working_dir = dir;
        self
    }
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A piece of output as the process wrote it (not split on lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    /// The stream it came from.
    pub stream: Stream,
    /// The bytes, as written (not split at lines).
    pub data: Bytes,
}

/// Where a backend sends output. Bounded, so a flooding step is slowed rather than
/// buffered whole in memory.
pub type OutputSender = tokio::sync::mpsc::Sender<OutputChunk>;

/// How hard the engine currently wants a running exec to stop.
///
/// The engine owns escalation (grace period, second Ctrl-C); a backend only maps each
/// level to its mechanism, e.g. SIGTERM then SIGKILL to the step's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopLevel {
    /// Keep running.
    Run,
    /// Ask the whole process tree to stop (SIGTERM).
    Terminate,
    /// Stop the whole process tree now (SIGKILL).
    Kill,
}

/// The receiving side a backend watches during an exec. Levels only ever rise.
pub type StopReceiver = tokio::sync::watch::Receiver<StopLevel>;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExitStatus {
    /// Exit code when the process exited normally.
    pub code: Option<i32>,
    /// Signal number when the process was killed by a signal.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// A normal exit with `code`.
    pub fn code(code: i32) -> Self {
        ExitStatus {
            code: Some(code),
            signal: None,
        }
    }

    /// Death by `signal`.
    pub fn signal(signal: i32) -> Self {
        ExitStatus {
            code: None,
            signal: Some(signal),
        }
    }

    /// True for a normal exit with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The shell-style code: the exit code, or 128 + signal.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => -1,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by signal {s}"),
            (None, None) => write!(f, "unknown exit status"),
        }
    }
}
