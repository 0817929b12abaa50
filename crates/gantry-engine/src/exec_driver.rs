//! Drives one exec: forwards its output through the secret masker into events, and
//! escalates stop requests (step timeout, job or run cancellation) from SIGTERM to
//! SIGKILL after the grace period.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gantry_backend::{
    BackendError, Container, ExecRequest, ExitStatus, OutputChunk, StopLevel, Stream,
};
use gantry_secret::Masker;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

use crate::cancel::{CancelLevel, CancelReason, CancelSignal};
use crate::event::{Event, EventSender};

/// Chunks in flight between a backend and the masker; bounded so floods back-pressure.
const OUTPUT_BUFFER: usize = 64;

/// Why an exec was stopped before it ended on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopCause {
    /// The step's `timeout-minutes` passed.
    Timeout(Duration),
    /// The job or run was cancelled.
    Cancelled(Option<CancelReason>),
}

/// Where a step's output goes.
#[derive(Clone)]
pub struct OutputRoute {
    pub events: EventSender,
    pub masker: Arc<Masker>,
    pub job: String,
    pub step: usize,
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

    /// Writes an engine-made line into the step's output (masked).
    pub async fn line(&self, text: &str) {
        let masked = self.masker.mask_str(text);
        self.emit(Stream::Stdout, format!("{masked}\n").into_bytes())
            .await;
    }
}

/// Runs `req` on `target`, streaming masked output, stopping on timeout or cancellation.
pub async fn drive(
    target: &Arc<dyn Container>,
    req: ExecRequest,
    route: &OutputRoute,
    timeout: Option<Duration>,
    cancel: &CancelSignal,
    grace: Duration,
) -> (Result<ExitStatus, BackendError>, Option<StopCause>) {
    let (out_tx, out_rx) = mpsc::channel::<OutputChunk>(OUTPUT_BUFFER);
    let pump = tokio::spawn(pump(out_rx, route.clone()));
    let (stop_tx, stop_rx) = watch::channel(StopLevel::Run);

    let exec = target.exec(req, out_tx, stop_rx);
    tokio::pin!(exec);

    let start_level = cancel.level();
    let mut cancel_rx = cancel.subscribe();
    let mut cancel_open = true;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut kill_at: Option<Instant> = None;
    let mut cause: Option<StopCause> = None;
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);

    let result = loop {
        tokio::select! {
            res = &mut exec => break res,
            _ = sleep_until(deadline.unwrap_or(far)), if deadline.is_some() && cause.is_none() => {
                cause = Some(StopCause::Timeout(timeout.unwrap_or_default()));
                let _ = stop_tx.send(StopLevel::Terminate);
                kill_at = Some(Instant::now() + grace);
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
                            kill_at = Some(Instant::now() + grace);
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
    if tokio::time::timeout(Duration::from_secs(5), &mut pump)
        .await
        .is_err()
    {
        pump.abort();
    }
    (result, cause)
}

/// Moves chunks from the backend through one masker per stream into events.
async fn pump(mut rx: mpsc::Receiver<OutputChunk>, route: OutputRoute) {
    let mut stdout = route.masker.stream();
    let mut stderr = route.masker.stream();
    while let Some(chunk) = rx.recv().await {
        let masked = match chunk.stream {
            Stream::Stdout => stdout.push(&chunk.data),
            Stream::Stderr => stderr.push(&chunk.data),
        };
        route.emit(chunk.stream, masked).await;
    }
    route.emit(Stream::Stdout, stdout.finish()).await;
    route.emit(Stream::Stderr, stderr.finish()).await;
}
