//! The little language scripted steps are written in, one command a line:
//!
//! | command | effect |
//! |---|---|
//! | `echo TEXT` / `echo TEXT >&2` | a line on stdout / stderr |
//! | `exit N` | ends with code N |
//! | `sleep SECONDS` | waits (SIGTERM-like stop: exit 143) |
//! | `hang` | waits until stopped (terminate: 143, kill: signal 9) |
//! | `hang-hard` | ignores terminate; only kill ends it (signal 9) |
//! | `output NAME=VALUE` | appends to the file `$GANTRY_OUTPUT` names |
//! | `setenv NAME=VALUE` | appends to the file `$GANTRY_ENV` names |
//! | `fail-until N KEY` | fails (exit 1) until it has run N times for KEY in this backend |
//!
//! Blank lines and `#` comments are skipped; anything else ends with 127, as a shell
//! would for an unknown command.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use gantry_backend::{ExitStatus, OutputChunk, OutputSender, StopLevel, StopReceiver, Stream};
use indexmap::IndexMap;

/// Files of one environment, by path.
pub(crate) type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// Counters of `fail-until`, shared by the whole backend.
pub(crate) type Counters = Arc<Mutex<HashMap<String, u32>>>;

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a script needs around it.
pub(crate) struct Context<'a> {
    pub env: &'a IndexMap<String, String>,
    pub files: &'a Files,
    pub counters: &'a Counters,
    pub output: &'a OutputSender,
}

/// Runs `script` to its end or until `stop` ends it.
pub(crate) async fn run(script: &str, ctx: Context<'_>, mut stop: StopReceiver) -> ExitStatus {
    for line in script.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        match command {
            "echo" => {
                let (text, stream) = match rest.strip_suffix(">&2") {
                    Some(t) => (t.trim_end(), Stream::Stderr),
                    None => (rest, Stream::Stdout),
                };
                let data = Bytes::from(format!("{text}\n"));
                let _ = ctx.output.send(OutputChunk { stream, data }).await;
            }
            "exit" => return ExitStatus::code(rest.parse().unwrap_or(2)),
            "sleep" => {
                let secs: f64 = rest.parse().unwrap_or(0.0);
                let pause = Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO);
                if let Some(status) = wait(&mut stop, Some(pause), false).await {
                    return status;
                }
            }
            "hang" => {
                if let Some(status) = wait(&mut stop, None, false).await {
                    return status;
                }
            }
            "hang-hard" => {
                if let Some(status) = wait(&mut stop, None, true).await {
                    return status;
                }
            }
            "output" | "setenv" => {
                let var = if command == "output" {
                    "GANTRY_OUTPUT"
                } else {
                    "GANTRY_ENV"
                };
                let Some(path) = ctx.env.get(var) else {
                    return ExitStatus::code(1);
                };
                let mut files = locked(ctx.files);
                let file = files.entry(path.clone()).or_default();
                file.extend_from_slice(rest.as_bytes());
                file.push(b'\n');
            }
            "fail-until" => {
                let (n, key) = rest.split_once(' ').unwrap_or((rest, ""));
                let n: u32 = n.parse().unwrap_or(1);
                let mut counters = locked(ctx.counters);
                let seen = counters.entry(key.to_string()).or_default();
                *seen += 1;
                if *seen < n {
                    return ExitStatus::code(1);
                }
            }
            _ => {
                let data = Bytes::from(format!("scripted: {command}: command not found\n"));
                let _ = ctx
                    .output
                    .send(OutputChunk {
                        stream: Stream::Stderr,
                        data,
                    })
                    .await;
                return ExitStatus::code(127);
            }
        }
    }
    ExitStatus::code(0)
}

/// Waits for `pause` (forever when `None`); a stop ends the wait with the status a
/// stopped shell gives. `hard` ignores terminate.
async fn wait(stop: &mut StopReceiver, pause: Option<Duration>, hard: bool) -> Option<ExitStatus> {
    let sleep = async {
        match pause {
            Some(p) => tokio::time::sleep(p).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    loop {
        let level = *stop.borrow_and_update();
        match level {
            StopLevel::Kill => return Some(ExitStatus::signal(9)),
            StopLevel::Terminate if !hard => return Some(ExitStatus::code(143)),
            _ => {}
        }
        tokio::select! {
            _ = &mut sleep => return None,
            changed = stop.changed() => {
                if changed.is_err() {
                    // Nobody can stop it any more: finish the pause.
                    (&mut sleep).await;
                    return None;
                }
            }
        }
    }
}
