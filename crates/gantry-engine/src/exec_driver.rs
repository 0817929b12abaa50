//! Drives one exec: forwards its output through workflow commands and the secret masker
//! into events, and escalates stop requests (step timeout, job or run cancellation) from SIGTERM to
//! SIGKILL after the grace period.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gantry_backend::{
    BackendError, Container, ExecRequest, ExitStatus, OutputChunk, StopLevel, Stream,
};
use gantry_secret::{InterleavedMasker, Masker};
use indexmap::IndexMap;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

use crate::cancel::{CancelLevel, CancelReason, CancelSignal};
use crate::event::{Event, EventSender, Level};
use crate::workflow_command::{CommandScanner, Piece, WorkflowCommand};

/// Chunks in flight between a backend and the masker; bounded so floods back-pressure.
const OUTPUT_BUFFER: usize = 64;
/// How long a chunk that may end a secret waits for the other stream (see `pump`).
const REORDER_WINDOW: Duration = Duration::from_millis(25);

/// Why an exec was stopped before it ended on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// The step's `timeout-minutes` passed.
    Timeout(Duration),
    /// The job or run was cancelled.
    Cancelled(Option<CancelReason>),
}

/// Where a step's output goes.
#[derive(Clone)]
pub(crate) struct OutputRoute {
    pub events: EventSender,
    pub masker: Arc<Masker>,
    pub job: String,
    pub step: usize,
    /// Show `::debug::` lines (`ACTIONS_STEP_DEBUG` or `GANTRY_STEP_DEBUG` is `true`).
    pub step_debug: bool,
}

impl OutputRoute {
    /// Sends a finished chunk as an event (ignores a gone consumer).
    async fn emit(&self, stream: Stream, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        let _ = self
            .events
            .send(Event::Output {
                job: self.job.clone(),
                step: self.step,
                stream,
                data: Bytes::from(data),
            })
            .await;
    }

    /// Sends a message about this step (masked).
    async fn message(&self, level: Level, text: &str) {
        let _ = self
            .events
            .send(Event::Message {
                job: self.job.clone(),
                step: Some(self.step),
                level,
                message: self.masker.mask_str(text),
            })
            .await;
    }

    /// Writes an engine-made line into the step's output (masked).
    pub(crate) async fn line(&self, text: &str) {
        let masked = self.masker.mask_str(text);
        self.emit(Stream::Stdout, format!("{masked}\n").into_bytes())
            .await;
    }
}

/// How an exec ended.
pub(crate) struct Driven {
    pub result: Result<ExitStatus, BackendError>,
    /// Set when gantry stopped it.
    pub cause: Option<StopCause>,
    /// Outputs set with the deprecated `::set-output name=NAME::VALUE`, in order.
    pub command_outputs: IndexMap<String, String>,
}

/// Runs `req` on `target`, streaming masked output, stopping on timeout or cancellation.
pub(crate) async fn drive(
    target: &Arc<dyn Container>,
    req: ExecRequest,
    route: &OutputRoute,
    timeout: Option<Duration>,
    cancel: &CancelSignal,
    grace: Duration,
) -> Driven {
    let (out_tx, out_rx) = mpsc::channel::<OutputChunk>(OUTPUT_BUFFER);
    let pump = tokio::spawn(pump(out_rx, route.clone()));
    let (stop_tx, stop_rx) = watch::channel(StopLevel::Run);

    let exec = target.exec(req, out_tx, stop_rx);
    tokio::pin!(exec);

    let start_level = cancel.level();
    let mut cancel_rx = cancel.subscribe();
    let mut cancel_open = true;
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut kill_at: Option<Instant> = None;
    let mut cause: Option<StopCause> = None;
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);

    let result = loop {
        tokio::select! {
            res = &mut exec => break res,
            _ = sleep_until(deadline.unwrap_or(far)), if deadline.is_some() && cause.is_none() => {
                cause = Some(StopCause::Timeout(timeout.unwrap_or_default()));
                let _ = stop_tx.send(StopLevel::Terminate);
                kill_at = Some(Instant::now().checked_add(grace).unwrap_or(far));
            }
            _ = sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() => {
                let _ = stop_tx.send(StopLevel::Kill);
                kill_at = None;
            }
            changed = cancel_rx.changed(), if cancel_open => {
                if changed.is_err() {
                    cancel_open = false;
                    continue;
                }
                let (level, reason) = cancel_rx.borrow_and_update().clone();
                if level <= start_level {
                    continue;
                }
                if cause.is_none() {
                    cause = Some(StopCause::Cancelled(reason));
                }
                match level {
                    CancelLevel::Force => {
                        let _ = stop_tx.send(StopLevel::Kill);
                        kill_at = None;
                    }
                    CancelLevel::Graceful => {
                        if *stop_tx.borrow() == StopLevel::Run {
                            let _ = stop_tx.send(StopLevel::Terminate);
                            kill_at = Some(Instant::now().checked_add(grace).unwrap_or(far));
                        }
                    }
                    CancelLevel::None => {}
                }
            }
        }
    };
    // The backend dropped its sender when exec returned; give stragglers a moment, but
    // never hang a step on a backend that kept a sender alive.
    let mut pump = pump;
    let command_outputs = match tokio::time::timeout(Duration::from_secs(5), &mut pump).await {
        Ok(Ok(outputs)) => outputs,
        Ok(Err(_)) => IndexMap::new(),
        Err(_) => {
            pump.abort();
            IndexMap::new()
        }
    };
    Driven {
        result,
        cause,
        command_outputs,
    }
}

/// Moves chunks from the backend through a workflow-command scanner per stream, then
/// through one masker over both streams as they interleave (a secret split between stdout
/// and stderr would show whole on a terminal), into events; returns the outputs
/// `::set-output` set.
async fn pump(mut rx: mpsc::Receiver<OutputChunk>, route: OutputRoute) -> IndexMap<String, String> {
    let mut streams = [Stream::Stdout, Stream::Stderr].map(|stream| StreamState {
        stream,
        scanner: CommandScanner::default(),
    });
    let mut both = InterleavedMasker::new(&route.masker);
    let mut effects = Effects::default();
    // Two pipes read by two tasks: bytes written to stdout just before stderr may still
    // arrive after them. A chunk that switches streams and begins with the rest of a
    // secret waits briefly for the other stream, so a secret split across both is put
    // back together (and masked) whatever order the pipes were read in.
    let mut deferred: Option<OutputChunk> = None;
    let mut last_stream: Option<Stream> = None;
    loop {
        let next = match &deferred {
            None => rx.recv().await,
            Some(_) => tokio::select! {
                next = rx.recv() => next,
                _ = tokio::time::sleep(REORDER_WINDOW) => {
                    if let Some(d) = deferred.take() {
                        feed(&mut streams, d, &route, &mut effects, &mut both).await;
                    }
                    continue;
                }
            },
        };
        let Some(chunk) = next else { break };
        if let Some(d) = deferred.take() {
            if d.stream != chunk.stream {
                // The other stream spoke: its bytes go first.
                last_stream = Some(chunk.stream);
                feed(&mut streams, chunk, &route, &mut effects, &mut both).await;
                feed(&mut streams, d, &route, &mut effects, &mut both).await;
                continue;
            }
            feed(&mut streams, d, &route, &mut effects, &mut both).await;
        }
        let switched = last_stream != Some(chunk.stream);
        last_stream = Some(chunk.stream);
        if switched && route.masker.starts_with_secret_tail(&chunk.data) {
            deferred = Some(chunk);
            continue;
        }
        feed(&mut streams, chunk, &route, &mut effects, &mut both).await;
    }
    if let Some(d) = deferred.take() {
        feed(&mut streams, d, &route, &mut effects, &mut both).await;
    }
    for s in &mut streams {
        let pieces = s.scanner.finish();
        s.apply(pieces, &route, &mut effects, &mut both).await;
    }
    emit_both(&route, both.finish()).await;
    effects.outputs
}

/// One chunk through its stream's command scanner and the interleaved masker.
async fn feed(
    streams: &mut [StreamState; 2],
    chunk: OutputChunk,
    route: &OutputRoute,
    effects: &mut Effects,
    both: &mut InterleavedMasker<Stream>,
) {
    let s = &mut streams[usize::from(chunk.stream == Stream::Stderr)];
    let pieces = s.scanner.push(&chunk.data);
    s.apply(pieces, route, effects, both).await;
}

/// Sends what the interleaved masker released, each piece on its stream.
async fn emit_both(route: &OutputRoute, pieces: Vec<(Stream, Vec<u8>)>) {
    for (stream, data) in pieces {
        route.emit(stream, data).await;
    }
}

/// What commands in a step's output changed.
#[derive(Default)]
struct Effects {
    outputs: IndexMap<String, String>,
    warned_set_output: bool,
}

struct StreamState {
    stream: Stream,
    scanner: CommandScanner,
}

impl StreamState {
    async fn apply(
        &mut self,
        pieces: Vec<Piece>,
        route: &OutputRoute,
        effects: &mut Effects,
        both: &mut InterleavedMasker<Stream>,
    ) {
        for piece in pieces {
            let shown = match piece {
                Piece::Text(text) => text,
                Piece::Command(command) => self.command(command, route, effects).await,
            };
            emit_both(route, both.push(self.stream, &shown)).await;
        }
    }

    async fn command(
        &mut self,
        command: WorkflowCommand,
        route: &OutputRoute,
        effects: &mut Effects,
    ) -> Vec<u8> {
        match command {
            // Before anything after it is masked: the value never reaches an event.
            WorkflowCommand::AddMask(value) => route.masker.add(&value),
            WorkflowCommand::Annotation { level, message } => {
                route.message(level, &message).await;
            }
            WorkflowCommand::Debug(message) => {
                if route.step_debug {
                    return format!("debug: {message}\n").into_bytes();
                }
            }
            WorkflowCommand::Group(title) => {
                return format!("> {title}\n").into_bytes();
            }
            WorkflowCommand::EndGroup => {}
            WorkflowCommand::SetOutput { name, value } => {
                if !effects.warned_set_output {
                    effects.warned_set_output = true;
                    route
                        .message(
                            Level::Warning,
                            "`::set-output` is deprecated: write `NAME=VALUE` to $GITHUB_OUTPUT instead",
                        )
                        .await;
                }
                effects.outputs.insert(name, value);
            }
        }
        Vec::new()
    }
}
