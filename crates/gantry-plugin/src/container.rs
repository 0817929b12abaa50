//! A container inside a plugin: exec with streamed output and stop signals, tar streams
//! in and out, small files, health, removal. Every response is checked for order and
//! shape; a misbehaving plugin gets a clear error, never a panic.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use gantry_backend::{
    BackendError, BoxedReader, Container, ContainerKind, ContainerPaths, ExecRequest, ExitStatus,
    Health, OutputChunk, OutputSender, StopLevel, StopReceiver,
};
use gantry_plugin_proto::v1::exec_event::Event;
use gantry_plugin_proto::{convert, v1, CHUNK_BYTES};
use indexmap::IndexMap;

use crate::backend::{Inner, Session};

/// A container the plugin created (or an environment's primary target).
pub(crate) struct PluginContainer {
    inner: Arc<Inner>,
    session: Arc<Session>,
    id: String,
    kind: Option<ContainerKind>,
    paths: ContainerPaths,
    inherited: IndexMap<String, String>,
}

impl PluginContainer {
    pub(crate) fn new(
        inner: Arc<Inner>,
        session: Arc<Session>,
        id: String,
        kind: Option<ContainerKind>,
        paths: ContainerPaths,
        inherited: IndexMap<String, String>,
    ) -> Self {
        PluginContainer {
            inner,
            session,
            id,
            kind,
            paths,
            inherited,
        }
    }

    fn reference(&self) -> v1::ContainerRef {
        v1::ContainerRef {
            container_id: self.id.clone(),
        }
    }

    fn protocol_error(&self, call: &str, what: impl std::fmt::Display) -> BackendError {
        BackendError::Exec(format!(
            "plugin `{}` broke the protocol in {call}: {what}",
            self.inner.cfg.name
        ))
    }

    async fn signal(&self, exec_id: &str, level: StopLevel) {
        if level == StopLevel::Run {
            return;
        }
        let mut client = self.session.client.clone();
        let req = v1::SignalRequest {
            exec_id: exec_id.into(),
            level: convert::stop_to_wire(level),
        };
        if let Err(e) = self
            .inner
            .call(
                &self.session,
                "Signal",
                self.inner.cfg.call_timeout,
                client.signal(req),
            )
            .await
        {
            tracing::warn!("plugin `{}`: Signal {level:?}: {e}", self.inner.cfg.name);
        }
    }
}

#[async_trait]
impl Container for PluginContainer {
    fn id(&self) -> &str {
        &self.id
    }

    fn paths(&self) -> ContainerPaths {
        self.paths.clone()
    }

    fn inherited_env(&self) -> IndexMap<String, String> {
        self.inherited.clone()
    }

    async fn start(&self) -> Result<(), BackendError> {
        let mut client = self.session.client.clone();
        self.inner
            .call(
                &self.session,
                "StartContainer",
                self.inner.cfg.setup_timeout,
                client.start_container(self.reference()),
            )
            .await
            .map(|_| ())
    }

    async fn exec(
        &self,
        req: ExecRequest,
        output: OutputSender,
        mut stop: StopReceiver,
    ) -> Result<ExitStatus, BackendError> {
        if req.argv.is_empty() && self.kind != Some(ContainerKind::Step) {
            return Err(BackendError::InvalidRequest("empty argv".into()));
        }
        let mut req = req;
        // The wire takes absolute paths; a relative working directory is the workspace's.
        if let Some(dir) = req.working_dir.as_ref().filter(|d| !d.starts_with('/')) {
            req.working_dir = Some(format!(
                "{}/{dir}",
                self.paths.workspace.trim_end_matches('/')
            ));
        }
        let exec_id = self.inner.next_exec_id();
        let mut client = self.session.client.clone();
        let wire = convert::exec_to_wire(&exec_id, &self.id, &req);
        let timeout = self.inner.cfg.call_timeout;
        let mut stream = match tokio::time::timeout(timeout, client.exec(wire)).await {
            Ok(Ok(r)) => r.into_inner(),
            Ok(Err(s)) => return Err(self.inner.failure(&self.session, "Exec", &s).await),
            Err(_) => return Err(self.inner.timeout(&self.session, "Exec", timeout).await),
        };
        // The first event says the process runs; only then can it be signalled.
        match tokio::time::timeout(timeout, stream.message()).await {
            Ok(Ok(Some(v1::ExecEvent {
                event: Some(Event::Started(_)),
            }))) => {}
            Ok(Ok(Some(other))) => {
                return Err(self.protocol_error(
                    "Exec",
                    format!("the first event must be `started`, got {other:?}"),
                ))
            }
            Ok(Ok(None)) => {
                return Err(self.protocol_error("Exec", "the stream ended before `started`"))
            }
            Ok(Err(s)) => return Err(self.inner.failure(&self.session, "Exec", &s).await),
            Err(_) => return Err(self.inner.timeout(&self.session, "Exec", timeout).await),
        }
        let mut level = *stop.borrow();
        self.signal(&exec_id, level).await;
        let mut stop_open = true;
        loop {
            tokio::select! {
                msg = stream.message() => match msg {
                    Ok(Some(v1::ExecEvent { event: Some(Event::Output(o)) })) => {
                        let stream_kind = convert::stream_from_wire(o.stream)
                            .map_err(|m| self.protocol_error("Exec", m))?;
                        // A gone receiver means the engine stopped listening; keep
                        // draining so the exit status still arrives.
                        let _ = output.send(OutputChunk { stream: stream_kind, data: o.data }).await;
                    }
                    Ok(Some(v1::ExecEvent { event: Some(Event::Exit(e)) })) => {
                        let status = convert::exit_from_wire(&e)
                            .map_err(|m| self.protocol_error("Exec", m))?;
                        // `exit` is the last event: anything after it is a protocol error.
                        match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
                            Ok(Ok(None)) | Err(_) | Ok(Err(_)) => {}
                            Ok(Ok(Some(extra))) => {
                                return Err(self.protocol_error(
                                    "Exec",
                                    format!("an event after `exit`: {extra:?}"),
                                ))
                            }
                        }
                        return Ok(status);
                    }
                    Ok(Some(v1::ExecEvent { event: Some(Event::Started(_)) })) => {
                        return Err(self.protocol_error("Exec", "a second `started` event"));
                    }
                    Ok(Some(v1::ExecEvent { event: None })) => {
                        return Err(self.protocol_error("Exec", "an empty event"));
                    }
                    Ok(None) => {
                        let ended = tonic::Status::unavailable("the stream ended without an `exit` event");
                        return Err(self.inner.failure(&self.session, "Exec", &ended).await);
                    }
                    Err(s) => return Err(self.inner.failure(&self.session, "Exec", &s).await),
                },
                changed = stop.changed(), if stop_open => {
                    if changed.is_err() {
                        stop_open = false;
                        continue;
                    }
                    let now = *stop.borrow();
                    if now > level {
                        level = now;
                        self.signal(&exec_id, level).await;
                    }
                }
            }
        }
    }

    async fn copy_in(&self, dest: &str, archive: BoxedReader) -> Result<(), BackendError> {
        let header = v1::CopyInMessage {
            message: Some(v1::copy_in_message::Message::Header(v1::CopyInHeader {
                container_id: self.id.clone(),
                dest: dest.into(),
            })),
        };
        let (err_tx, err_rx) = tokio::sync::oneshot::channel::<std::io::Error>();
        let (tx, rx) = tokio::sync::mpsc::channel::<v1::CopyInMessage>(4);
        let pump = tokio::spawn(async move {
            if tx.send(header).await.is_err() {
                return;
            }
            let mut reader = tokio_util::io::ReaderStream::with_capacity(archive, CHUNK_BYTES);
            while let Some(r) = reader.next().await {
                match r {
                    Ok(chunk) => {
                        let msg = v1::CopyInMessage {
                            message: Some(v1::copy_in_message::Message::Chunk(chunk)),
                        };
                        if tx.send(msg).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        // Never end the stream on a read error: the plugin would take a
                        // truncated archive for a whole one. Report it and hold the stream
                        // open until the call is dropped, which cancels it on the plugin.
                        let _ = err_tx.send(e);
                        tx.closed().await;
                        return;
                    }
                }
            }
        });
        let request = tokio_stream::wrappers::ReceiverStream::new(rx);
        let mut client = self.session.client.clone();
        let call = client.copy_in(request);
        tokio::pin!(call);
        let result = tokio::select! {
            r = &mut call => match r {
                Ok(_) => Ok(()),
                Err(s) => Err(self.inner.failure(&self.session, "CopyIn", &s).await),
            },
            Ok(e) = err_rx => Err(BackendError::Copy {
                direction: "in",
                path: dest.into(),
                reason: e.to_string(),
            }),
        };
        pump.abort();
        result
    }

    async fn copy_out(&self, path: &str) -> Result<BoxedReader, BackendError> {
        let mut client = self.session.client.clone();
        let req = v1::CopyOutRequest {
            container_id: self.id.clone(),
            path: path.into(),
        };
        let timeout = self.inner.cfg.call_timeout;
        let stream = match tokio::time::timeout(timeout, client.copy_out(req)).await {
            Ok(Ok(r)) => r.into_inner(),
            Ok(Err(s)) => return Err(self.inner.failure(&self.session, "CopyOut", &s).await),
            Err(_) => return Err(self.inner.timeout(&self.session, "CopyOut", timeout).await),
        };
        let name = self.inner.cfg.name.clone();
        let bytes = stream.map(move |r| {
            r.map(|c| c.chunk).map_err(|s| {
                std::io::Error::other(format!("plugin `{name}`: CopyOut: {}", s.message()))
            })
        });
        Ok(Box::new(tokio_util::io::StreamReader::new(bytes)))
    }

    async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), BackendError> {
        self.write_files(&[(path.to_string(), contents.to_vec(), mode)])
            .await
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self
            .read_files(&[path.to_string()])
            .await?
            .into_iter()
            .next()
            .flatten())
    }

    async fn write_files(&self, files: &[(String, Vec<u8>, u32)]) -> Result<(), BackendError> {
        let mut client = self.session.client.clone();
        let req = v1::WriteFilesRequest {
            container_id: self.id.clone(),
            files: files
                .iter()
                .map(|(path, contents, mode)| v1::FileToWrite {
                    path: path.clone(),
                    contents: contents.clone().into(),
                    mode: *mode,
                })
                .collect(),
        };
        self.inner
            .call(
                &self.session,
                "WriteFiles",
                self.inner.cfg.call_timeout,
                client.write_files(req),
            )
            .await
            .map(|_| ())
    }

    async fn read_files(&self, paths: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let mut client = self.session.client.clone();
        let req = v1::ReadEnvFileRequest {
            container_id: self.id.clone(),
            paths: paths.to_vec(),
        };
        let resp = self
            .inner
            .call(
                &self.session,
                "ReadEnvFile",
                self.inner.cfg.call_timeout,
                client.read_env_file(req),
            )
            .await?;
        if resp.files.len() != paths.len() {
            return Err(self.protocol_error(
                "ReadEnvFile",
                format!(
                    "{} files asked for, {} answered",
                    paths.len(),
                    resp.files.len()
                ),
            ));
        }
        Ok(resp
            .files
            .into_iter()
            .map(|f| f.exists.then(|| f.contents.to_vec()))
            .collect())
    }

    async fn health(&self) -> Result<Health, BackendError> {
        let mut client = self.session.client.clone();
        let resp = self
            .inner
            .call(
                &self.session,
                "Health",
                self.inner.cfg.call_timeout,
                client.health(self.reference()),
            )
            .await?;
        convert::health_from_wire(&resp).map_err(|m| self.protocol_error("Health", m))
    }

    async fn remove(&self) -> Result<(), BackendError> {
        let mut client = self.session.client.clone();
        self.inner
            .call(
                &self.session,
                "RemoveContainer",
                self.inner.cfg.setup_timeout,
                client.remove_container(self.reference()),
            )
            .await
            .map(|_| ())
    }
}
