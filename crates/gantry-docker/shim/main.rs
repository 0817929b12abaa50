//! gantry-shim: a small static program placed in a job container's volume. One Engine API
//! exec starts it; from then on gantry sends it requests over that exec's stdin and it
//! answers on stdout (see `wire.rs`), so a step costs a process spawn instead of an API
//! exec. Each step runs in its own process group, which lets a stop signal exactly the
//! step's processes. When stdin closes (gantry went away) every group still running is
//! killed and the shim exits. `gantry-shim --idle` is the job container's PID 1 and reaps
//! orphaned step processes. Built with the standard library only, linked statically,
//! so it runs in any Linux image.

mod wire;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
}

/// `--idle`: the job container's PID 1. It keeps the container alive, as `tail -f
/// /dev/null` would, and also reaps what steps leave behind: a background process whose
/// parent exited is re-parented to PID 1, and only a PID 1 that waits keeps the process
/// table free of zombies. PID 1 has no children of its own to confuse with them.
fn idle() -> ! {
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) writes the status into our own local.
        let reaped = unsafe { waitpid(-1, &mut status, 0) };
        if reaped <= 0 {
            // No children (ECHILD): look again in a while.
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// After a step's process exits, how long its output pipes may stay open (held by a
/// background child) before the exit is reported anyway.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

type Out = Arc<Mutex<std::io::Stdout>>;
type Groups = Arc<Mutex<HashMap<u32, i32>>>;

fn send(out: &Out, kind: u8, id: u32, payload: &[u8]) {
    let frame = wire::frame(kind, id, payload);
    if let Ok(mut o) = out.lock() {
        // A closed stdout means gantry is gone; stdin's EOF ends the shim.
        let _ = o.write_all(&frame).and_then(|_| o.flush());
    }
}

fn signal_group(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid we spawned; no memory is shared.
    unsafe {
        if kill(-pid, sig) != 0 {
            kill(pid, sig);
        }
    }
}

fn pump(out: Out, id: u32, kind: u8, mut from: impl Read, done: mpsc::Sender<()>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => send(&out, kind, id, &buf[..n]),
        }
    }
    let _ = done.send(());
}

fn run(out: &Out, groups: &Groups, id: u32, payload: &[u8]) {
    let mut lists = wire::Lists::new(payload);
    let parsed =
        (|| Ok::<_, wire::WireError>((lists.strings()?, lists.strings()?, lists.strings()?)))();
    let (cwd, argv, env) = match parsed {
        Ok(p) => p,
        Err(e) => {
            return send(
                out,
                wire::ERROR,
                id,
                format!("bad run request: {e}").as_bytes(),
            )
        }
    };
    let Some(program) = argv.first() else {
        return send(out, wire::ERROR, id, b"empty argv");
    };
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = cwd.first() {
        cmd.current_dir(dir);
    }
    for kv in &env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let dir = cwd.first().map(String::as_str).unwrap_or("");
            return send(
                out,
                wire::ERROR,
                id,
                format!("cannot run `{program}` in `{dir}`: {e}").as_bytes(),
            );
        }
    };
    let pid = child.id() as i32;
    if let Ok(mut g) = groups.lock() {
        g.insert(id, pid);
    }
    let (done_tx, done_rx) = mpsc::channel();
    if let Some(o) = child.stdout.take() {
        let (out, done) = (out.clone(), done_tx.clone());
        std::thread::spawn(move || pump(out, id, wire::STDOUT, o, done));
    }
    if let Some(e) = child.stderr.take() {
        let (out, done) = (out.clone(), done_tx.clone());
        std::thread::spawn(move || pump(out, id, wire::STDERR, e, done));
    }
    drop(done_tx);
    let (out, groups) = (out.clone(), groups.clone());
    std::thread::spawn(move || {
        let status = child.wait();
        // Output first, then the exit; a background child holding the pipes open does
        // not hold the step.
        for _ in 0..2 {
            if done_rx.recv_timeout(DRAIN_AFTER_EXIT).is_err() {
                break;
            }
        }
        if let Ok(mut g) = groups.lock() {
            g.remove(&id);
        }
        let mut payload = Vec::new();
        match status {
            Ok(s) => {
                let code = s.code().map(|c| c.to_string()).unwrap_or_default();
                let sig = s.signal().map(|c| c.to_string()).unwrap_or_default();
                wire::put_list(&mut payload, &[code, sig]);
                send(&out, wire::EXIT, id, &payload);
            }
            Err(e) => send(
                &out,
                wire::ERROR,
                id,
                format!("waiting for `{pid}`: {e}").as_bytes(),
            ),
        }
    });
}

fn write_files(payload: &[u8]) -> Result<(), String> {
    let items = wire::Lists::new(payload)
        .list()
        .map_err(|e| e.to_string())?;
    for triple in items.chunks(3) {
        let [path, mode, contents] = triple else {
            return Err("a write request item is incomplete".into());
        };
        let path =
            std::path::Path::new(std::str::from_utf8(path).map_err(|_| "a path is not UTF-8")?);
        let mode = std::str::from_utf8(mode)
            .ok()
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0o644);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn read_files(payload: &[u8]) -> Result<Vec<u8>, String> {
    let paths = wire::Lists::new(payload)
        .strings()
        .map_err(|e| e.to_string())?;
    let mut items: Vec<Vec<u8>> = Vec::with_capacity(paths.len() * 2);
    for p in paths {
        match std::fs::read(&p) {
            Ok(c) => {
                items.push(b"1".to_vec());
                items.push(c);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                items.push(b"0".to_vec());
                items.push(Vec::new());
            }
            Err(e) => return Err(format!("{p}: {e}")),
        }
    }
    let mut out = Vec::new();
    wire::put_list(&mut out, &items);
    Ok(out)
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--idle") {
        idle();
    }
    let out: Out = Arc::new(Mutex::new(std::io::stdout()));
    let groups: Groups = Arc::new(Mutex::new(HashMap::new()));
    send(&out, wire::HELLO, 0, wire::HELLO_V1);
    let mut stdin = std::io::stdin().lock();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    'read: loop {
        let n = match stdin.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let (kind, id, payload) = match wire::take_frame(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    send(
                        &out,
                        wire::ERROR,
                        0,
                        format!("unreadable request: {e}").as_bytes(),
                    );
                    break 'read;
                }
            };
            match kind {
                wire::RUN => run(&out, &groups, id, &payload),
                wire::SIGNAL => {
                    let pid = groups.lock().ok().and_then(|g| g.get(&id).copied());
                    if let (Some(pid), Some(sig)) = (pid, payload.first()) {
                        signal_group(pid, i32::from(*sig));
                    }
                }
                wire::WRITE => match write_files(&payload) {
                    Ok(()) => send(&out, wire::WROTE, id, &[]),
                    Err(e) => send(&out, wire::ERROR, id, e.as_bytes()),
                },
                wire::READ => match read_files(&payload) {
                    Ok(files) => send(&out, wire::FILES, id, &files),
                    Err(e) => send(&out, wire::ERROR, id, e.as_bytes()),
                },
                other => send(
                    &out,
                    wire::ERROR,
                    id,
                    format!("unknown request kind {other}").as_bytes(),
                ),
            }
        }
    }
    // gantry is gone: nothing it started may outlive it.
    let live: Vec<i32> = groups
        .lock()
        .map(|g| g.values().copied().collect())
        .unwrap_or_default();
    for pid in live {
        signal_group(pid, 9);
    }
}
