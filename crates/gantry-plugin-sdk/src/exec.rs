//! One Exec call: runs the contract's exec in its own task and turns its output into the
//! `started`, `output`..., `exit` event stream, coalescing small chunks.

use std::sync::Arc;

use bytes::BytesMut;
use gantry_backend::{Container, ExecRequest, OutputChunk, StopLevel, StopReceiver};
use gantry_plugin_proto::convert;
use gantry_plugin_proto::v1::{self, exec_event::Event};
use gantry_plugin_proto::CHUNK_BYTES;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// Runs `on_drop` when dropped, whatever path the task took.
struct Defer<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for Defer<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

fn event(e: Event) -> Result<v1::ExecEvent, Status> {
    Ok(v1::ExecEvent { event: Some(e) })
}

fn output(chunk: &OutputChunk, data: bytes::Bytes) -> Result<v1::ExecEvent, Status> {
    event(Event::Output(v1::Output {
        stream: convert::stream_to_wire(chunk.stream),
        data,
    }))
}

/// The event stream of one exec. If the client goes away (gantry cancelled the call or
/// died), the process is killed: nothing runs on without someone reading it.
pub(crate) fn stream_exec(
    container: Arc<dyn Container>,
    req: ExecRequest,
    stop_tx: watch::Sender<StopLevel>,
    stop_rx: StopReceiver,
    on_done: impl FnOnce() + Send + 'static,
) -> ReceiverStream<Result<v1::ExecEvent, Status>> {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        let _done = Defer(Some(on_done));
        let mut client_gone = tx
            .send(event(Event::Started(v1::Started {})))
            .await
            .is_err();
        let (otx, mut orx) = mpsc::channel::<OutputChunk>(64);
        let exec = tokio::spawn(async move { container.exec(req, otx, stop_rx).await });
        if client_gone {
            stop_tx.send_replace(StopLevel::Kill);
        }
        let mut carry: Option<OutputChunk> = None;
        loop {
            let first = match carry.take() {
                Some(c) => c,
                None => tokio::select! {
                    c = orx.recv() => match c {
                        Some(c) => c,
                        None => break,
                    },
                    _ = tx.closed(), if !client_gone => {
                        client_gone = true;
                        stop_tx.send_replace(StopLevel::Kill);
                        continue;
                    }
                },
            };
            if client_gone {
                continue;
            }
            // Coalesce what is already queued from the same stream, up to one chunk.
            let data = if first.data.len() >= CHUNK_BYTES {
                first.data.clone()
            } else {
                let mut buf: Option<BytesMut> = None;
                while buf.as_ref().map_or(first.data.len(), BytesMut::len) < CHUNK_BYTES {
                    match orx.try_recv() {
                        Ok(next) if next.stream == first.stream => {
                            let b = buf.get_or_insert_with(|| BytesMut::from(&first.data[..]));
                            b.extend_from_slice(&next.data);
                        }
                        Ok(next) => {
                            carry = Some(next);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                buf.map(BytesMut::freeze)
                    .unwrap_or_else(|| first.data.clone())
            };
            if tx.send(output(&first, data)).await.is_err() {
                client_gone = true;
                stop_tx.send_replace(StopLevel::Kill);
            }
        }
        let last = match exec.await {
            Ok(Ok(status)) => event(Event::Exit(convert::exit_to_wire(status))),
            Ok(Err(e)) => Err(convert::error_to_status(&e)),
            Err(join) => Err(Status::internal(format!(
                "the plugin panicked in Exec: {join}"
            ))),
        };
        let _ = tx.send(last).await;
    });
    ReceiverStream::new(rx)
}
