//! The in-container shim: one Engine API exec per job container starts `gantry-shim`
//! (built from `shim/main.rs`, placed in the job volume so read-only root filesystems
//! work), and every step, file write and file read afterwards is a frame over that
//! exec's stdin and stdout. A trivial step then costs a process spawn instead of three
//! API round trips. When the shim cannot start, the container falls back to plain
//! execs; the label option `exec=api` asks for that path outright.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;
use gantry_backend::{
    BackendError, ExitStatus, OutputChunk, OutputSender, StopLevel, StopReceiver, Stream,
};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::wire;

/// The shim executable for this build's target, or empty when it could not be built.
pub(crate) static BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gantry-shim"));

/// Where the shim lives inside job containers (in the job volume).
pub(crate) const PATH: &str = "/__w/_shim/gantry-shim";

/// How long the shim may take to say hello before the container falls back to execs.
const HELLO_WAIT: Duration = Duration::from_secs(10);

/// Whether the embedded shim runs on an engine reporting `arch` (Docker's names).
pub(crate) fn runs_on(arch: &str) -> bool {
    let engine = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    };
    !BINARY.is_empty() && engine == std::env::consts::ARCH
}

/// One answer from the shim for one request.
enum Reply {
    Out(Stream, Bytes),
    Exit(ExitStatus),
    Error(String),
    Wrote,
    Files(Vec<Option<Vec<u8>>>),
}

type Routes = Arc<Mutex<HashMap<u32, mpsc::Sender<Reply>>>>;

/// A running shim in one container.
pub(crate) struct Shim {
    input: tokio::sync::Mutex<Pin<Box<dyn AsyncWrite + Send>>>,
    routes: Routes,
    next: AtomicU32,
}

fn decode(kind: u8, payload: Vec<u8>) -> Result<Reply, wire::WireError> {
    Ok(match kind {
        wire::STDOUT => Reply::Out(Stream::Stdout, Bytes::from(payload)),
        wire::STDERR => Reply::Out(Stream::Stderr, Bytes::from(payload)),
        wire::EXIT => {
            let fields = wire::Lists::new(&payload).strings()?;
            let num = |i: usize| fields.get(i).and_then(|f| f.parse::<i32>().ok());
            match (num(0), num(1)) {
                (Some(code), _) => Reply::Exit(ExitStatus::code(code)),
                (None, Some(signal)) => Reply::Exit(ExitStatus::signal(signal)),
                (None, None) => {
                    return Err(wire::WireError(
                        "an exit reply with neither code nor signal".into(),
                    ))
                }
            }
        }
        wire::ERROR => Reply::Error(String::from_utf8_lossy(&payload).into_owned()),
        wire::WROTE => Reply::Wrote,
        wire::FILES => {
            let items = wire::Lists::new(&payload).list()?;
            if items.len() % 2 != 0 {
                return Err(wire::WireError(
                    "a files reply has an odd number of items".into(),
                ));
            }
            Reply::Files(
                items
                    .chunks(2)
                    .map(|p| (p[0] == b"1").then(|| p[1].to_vec()))
                    .collect(),
            )
        }
        other => return Err(wire::WireError(format!("unknown reply kind {other}"))),
    })
}

impl Shim {
    /// Starts the shim in `container` and waits for its greeting.
    pub(crate) async fn start(docker: &Docker, container: &str) -> Result<Arc<Shim>, String> {
        let config = ExecConfig {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(vec![PATH.to_string()]),
            working_dir: Some("/".into()),
            ..Default::default()
        };
        let created = docker
            .create_exec(container, config)
            .await
            .map_err(|e| e.to_string())?;
        let started = docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|e| e.to_string())?;
        let StartExecResults::Attached { mut output, input } = started else {
            return Err("the engine detached the shim's exec".into());
        };
        let routes: Routes = Arc::new(Mutex::new(HashMap::new()));
        let (hello_tx, hello_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let reader_routes = routes.clone();
        tokio::spawn(async move {
            let mut hello = Some(hello_tx);
            let mut buf = Vec::new();
            'stream: while let Some(item) = output.next().await {
                match item {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        buf.extend_from_slice(&message)
                    }
                    Ok(LogOutput::StdErr { message }) => {
                        tracing::debug!(target: "gantry_docker::shim", "{}", String::from_utf8_lossy(&message));
                        if let Some(h) = hello.take() {
                            let _ =
                                h.send(Err(String::from_utf8_lossy(&message).trim().to_string()));
                        }
                        continue;
                    }
                    Ok(LogOutput::StdIn { .. }) => continue,
                    Err(e) => {
                        tracing::debug!(target: "gantry_docker::shim", "stream broke: {e}");
                        break;
                    }
                }
                loop {
                    let (kind, id, payload) = match wire::take_frame(&mut buf) {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(target: "gantry_docker::shim", "unreadable frame from the shim: {e}");
                            break 'stream;
                        }
                    };
                    if kind == wire::HELLO {
                        if let Some(h) = hello.take() {
                            let ok = payload == wire::HELLO_V1;
                            let _ = h.send(if ok {
                                Ok(())
                            } else {
                                Err(format!(
                                    "unexpected greeting {:?}",
                                    String::from_utf8_lossy(&payload)
                                ))
                            });
                        }
                        continue;
                    }
                    let reply = match decode(kind, payload) {
                        Ok(r) => r,
                        Err(e) => Reply::Error(format!("unreadable reply from the shim: {e}")),
                    };
                    let last = !matches!(reply, Reply::Out(..));
                    let route = reader_routes.lock().ok().and_then(|mut r| {
                        if last {
                            r.remove(&id)
                        } else {
                            r.get(&id).cloned()
                        }
                    });
                    if let Some(tx) = route {
                        // Bounded: a flooding step slows the shim instead of filling memory.
                        let _ = tx.send(reply).await;
                    }
                }
            }
            if let Some(h) = hello.take() {
                let _ = h.send(Err("the shim exited before it greeted".into()));
            }
            // Every waiting request sees its channel close.
            if let Ok(mut r) = reader_routes.lock() {
                r.clear();
            }
        });
        match tokio::time::timeout(HELLO_WAIT, hello_rx).await {
            Ok(Ok(Ok(()))) => Ok(Arc::new(Shim {
                input: tokio::sync::Mutex::new(input),
                routes,
                next: AtomicU32::new(1),
            })),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err("the shim's output ended".into()),
            Err(_) => Err(format!("no greeting within {}s", HELLO_WAIT.as_secs())),
        }
    }

    async fn send(&self, kind: u8, id: u32, payload: &[u8]) -> Result<(), BackendError> {
        let frame = wire::frame(kind, id, payload);
        let mut input = self.input.lock().await;
        input
            .write_all(&frame)
            .await
            .and(input.flush().await)
            .map_err(|e| BackendError::Exec(format!("the gantry shim stopped listening: {e}")))
    }

    async fn request(
        &self,
        kind: u8,
        payload: &[u8],
    ) -> Result<(u32, mpsc::Receiver<Reply>), BackendError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(64);
        self.routes
            .lock()
            .map_err(|_| BackendError::Exec("shim routes poisoned".into()))?
            .insert(id, tx);
        self.send(kind, id, payload).await?;
        Ok((id, rx))
    }

    fn gone() -> BackendError {
        BackendError::Exec(
            "the gantry shim in the container exited (was the container removed?)".into(),
        )
    }

    /// Runs `argv` in its own process group, streaming output, until it exits or the
    /// stop level asks for a signal.
    pub(crate) async fn run(
        &self,
        argv: &[String],
        env: &[String],
        cwd: &str,
        output: OutputSender,
        mut stop: StopReceiver,
    ) -> Result<ExitStatus, BackendError> {
        let mut payload = Vec::new();
        wire::put_list(&mut payload, &[cwd]);
        wire::put_list(&mut payload, argv);
        wire::put_list(&mut payload, env);
        let (id, mut rx) = self.request(wire::RUN, &payload).await?;
        let mut stop_open = true;
        loop {
            tokio::select! {
                reply = rx.recv() => match reply {
                    Some(Reply::Out(stream, data)) => {
                        // A closed output means nobody listens any more; keep draining.
                        let _ = output.send(OutputChunk { stream, data }).await;
                    }
                    Some(Reply::Exit(status)) => return Ok(status),
                    Some(Reply::Error(message)) => return Err(BackendError::Exec(message)),
                    Some(Reply::Wrote) | Some(Reply::Files(_)) => {}
                    None => return Err(Self::gone()),
                },
                changed = stop.changed(), if stop_open => {
                    if changed.is_err() { stop_open = false; continue; }
                    let signal: u8 = match *stop.borrow_and_update() {
                        StopLevel::Run => continue,
                        StopLevel::Terminate => 15,
                        StopLevel::Kill => 9,
                    };
                    self.send(wire::SIGNAL, id, &[signal]).await?;
                }
            }
        }
    }

    /// Writes files (absolute paths) in one round trip.
    pub(crate) async fn write_files(
        &self,
        files: &[(String, &[u8], u32)],
    ) -> Result<(), BackendError> {
        let mut items: Vec<Vec<u8>> = Vec::with_capacity(files.len() * 3);
        for (path, contents, mode) in files {
            items.push(path.as_bytes().to_vec());
            items.push(mode.to_string().into_bytes());
            items.push(contents.to_vec());
        }
        let mut payload = Vec::new();
        wire::put_list(&mut payload, &items);
        let (_, mut rx) = self.request(wire::WRITE, &payload).await?;
        match rx.recv().await {
            Some(Reply::Wrote) => Ok(()),
            Some(Reply::Error(reason)) => Err(BackendError::Copy {
                direction: "in",
                path: files.first().map(|f| f.0.clone()).unwrap_or_default(),
                reason,
            }),
            Some(_) => Err(BackendError::Exec(
                "the shim answered a write with something else".into(),
            )),
            None => Err(Self::gone()),
        }
    }

    /// Reads files (absolute paths) in one round trip; `None` for each that is absent.
    pub(crate) async fn read_files(
        &self,
        paths: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let mut payload = Vec::new();
        wire::put_list(&mut payload, paths);
        let (_, mut rx) = self.request(wire::READ, &payload).await?;
        match rx.recv().await {
            Some(Reply::Files(files)) if files.len() == paths.len() => Ok(files),
            Some(Reply::Files(files)) => Err(BackendError::Exec(format!(
                "asked the shim for {} files, got {}",
                paths.len(),
                files.len()
            ))),
            Some(Reply::Error(reason)) => Err(BackendError::Copy {
                direction: "out",
                path: paths.join(", "),
                reason,
            }),
            Some(_) => Err(BackendError::Exec(
                "the shim answered a read with something else".into(),
            )),
            None => Err(Self::gone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_decode_and_garbage_is_an_error() {
        let mut p = Vec::new();
        wire::put_list(&mut p, &["3", ""]);
        assert!(matches!(decode(wire::EXIT, p), Ok(Reply::Exit(s)) if s == ExitStatus::code(3)));
        let mut p = Vec::new();
        wire::put_list(&mut p, &[&b"1"[..], b"x=1\n", b"0", b""]);
        match decode(wire::FILES, p) {
            Ok(Reply::Files(f)) => assert_eq!(f, vec![Some(b"x=1\n".to_vec()), None]),
            _ => panic!("files reply did not decode"),
        }
        assert!(decode(wire::FILES, vec![0, 0, 0, 9]).is_err());
        assert!(decode(wire::EXIT, vec![0xff; 3]).is_err());
        assert!(decode(99, Vec::new()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn frames_never_panic_on_garbage(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut buf = bytes.clone();
            while let Ok(Some((kind, _, payload))) = wire::take_frame(&mut buf) {
                let _ = decode(kind, payload);
            }
            let mut lists = wire::Lists::new(&bytes);
            while lists.list().is_ok() {}
        }

        #[test]
        fn lists_round_trip(items in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0..16)) {
            let mut p = Vec::new();
            wire::put_list(&mut p, &items);
            let framed = wire::frame(wire::STDOUT, 7, &p);
            let mut buf = framed.clone();
            let (kind, id, payload) = wire::take_frame(&mut buf).unwrap().unwrap();
            proptest::prop_assert_eq!((kind, id), (wire::STDOUT, 7));
            let back: Vec<Vec<u8>> = wire::Lists::new(&payload).list().unwrap().into_iter().map(<[u8]>::to_vec).collect();
            proptest::prop_assert_eq!(back, items);
        }
    }
}
