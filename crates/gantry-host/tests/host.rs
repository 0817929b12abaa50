#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Host-only behaviour: bounded memory under a flood, processes that escape their group,
//! bind mode, and the user's tree left untouched.

use std::sync::Arc;

use gantry_backend::{
    Backend, EnvironmentRequest, ExecRequest, LabelSpec, OutputChunk, StopLevel, WorkspaceSource,
};
use gantry_host::{HostBackend, HostConfig};
use tokio::sync::{mpsc, watch};

fn backend(dir: &std::path::Path) -> Arc<HostBackend> {
    Arc::new(HostBackend::new(HostConfig {
        root: dir.join("work"),
        runner_name: "test".into(),
    }))
}

fn req(script: &str) -> ExecRequest {
    let mut r = ExecRequest::new(vec!["sh".into(), "-c".into(), script.into()]);
    r.env
        .insert("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into());
    r
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            !s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_of_output_streams_with_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    let b = backend(dir.path());
    let env = b
        .create_environment(EnvironmentRequest::new(
            "flood1",
            "j",
            LabelSpec::new("host", "host"),
            WorkspaceSource::new(dir.path().join("src"), false),
        ))
        .await
        .unwrap();
    let c = env.primary().await.unwrap();
    let before = peak_rss_kib();
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(16);
    let (_stop, stop_rx) = watch::channel(StopLevel::Run);
    let counter = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(chunk) = rx.recv().await {
            n += chunk.data.len() as u64;
        }
        n
    });
    let status = c
        .exec(req("head -c 1073741824 /dev/zero"), tx, stop_rx)
        .await
        .unwrap();
    let total = counter.await.unwrap();
    env.remove().await.unwrap();
    assert!(status.success());
    assert_eq!(total, 1 << 30);
    let grew = peak_rss_kib().saturating_sub(before);
    assert!(
        grew < 64 * 1024,
        "peak RSS grew by {grew} KiB while streaming 1 GiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_kills_processes_that_left_their_group() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    let pidfile = dir.path().join("pid");
    let b = backend(dir.path());
    let env = b
        .create_environment(EnvironmentRequest::new(
            "escape1",
            "j",
            LabelSpec::new("host", "host"),
            WorkspaceSource::new(dir.path().join("src"), false),
        ))
        .await
        .unwrap();
    let c = env.primary().await.unwrap();
    let (tx, _rx) = mpsc::channel::<OutputChunk>(16);
    let (_stop, stop_rx) = watch::channel(StopLevel::Run);
    let script = format!(
        "setsid sh -c 'trap \"\" TERM; echo $$ > {}; exec sleep 1000' >/dev/null 2>&1 & sleep 0.3",
        pidfile.display()
    );
    c.exec(req(&script), tx, stop_rx).await.unwrap();
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid));
    env.remove().await.unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !alive(pid),
        "a process that called setsid survived remove()"
    );
    assert!(!dir.path().join("work/escape1").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_runs_in_place_and_copy_leaves_the_tree_alone() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("in.txt"), "x").unwrap();
    let b = backend(dir.path());
    for bind in [false, true] {
        let env = b
            .create_environment(EnvironmentRequest::new(
                "bind1",
                "j",
                LabelSpec::new("host", "host"),
                WorkspaceSource::new(&src, bind),
            ))
            .await
            .unwrap();
        let c = env.primary().await.unwrap();
        let (tx, _rx) = mpsc::channel::<OutputChunk>(16);
        let (_stop, stop_rx) = watch::channel(StopLevel::Run);
        let status = c
            .exec(
                req("cat in.txt >/dev/null && echo made > made.txt"),
                tx,
                stop_rx,
            )
            .await
            .unwrap();
        assert!(status.success());
        env.remove().await.unwrap();
        assert_eq!(src.join("made.txt").exists(), bind, "bind={bind}");
        assert!(
            src.join("in.txt").exists(),
            "the source tree survives remove() (bind={bind})"
        );
    }
}

#[tokio::test]
async fn labels_with_targets_or_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    assert!(b
        .validate_label(&LabelSpec::parse("x", "host").unwrap())
        .is_ok());
    assert!(b
        .validate_label(&LabelSpec::parse("x", "host://img").unwrap())
        .is_err());
    assert!(b
        .validate_label(&LabelSpec::parse("x", "host://?memory=1g").unwrap())
        .is_err());
}
