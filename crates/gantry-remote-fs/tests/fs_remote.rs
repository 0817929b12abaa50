#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `gantry-remote-fs` binary behind `gantry_remote`: push/pull round trips, the
//! conformance suite, and downloads that do not match what the adapter announced.

use std::path::Path;

use gantry_remote::protocol::{ErrorCode, ReleaseInfo};
use gantry_remote::{pull, push, Adapter, AdapterConfig, AdapterSource, PushOptions, RemoteError};

fn adapter(root: &Path) -> Adapter {
    let mut cfg = AdapterConfig::new(
        "origin",
        AdapterSource::Command(env!("CARGO_BIN_EXE_gantry-remote-fs").into()),
    );
    cfg.env = vec![("GANTRY_REMOTE_FS_ROOT".into(), root.display().to_string())];
    Adapter::open(cfg).expect("open gantry-remote-fs")
}

#[tokio::test]
async fn push_then_pull_round_trips() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("remote");
    let a = adapter(&root);
    let pack = dir.path().join("app.pack");
    std::fs::write(&pack, b"pack bytes".repeat(10_000)).expect("write pack");
    let first = push(&a, &pack, &PushOptions::default())
        .await
        .expect("push");
    assert_eq!(first.canonical_ref, "app@1");
    assert!(root.join("releases/app/1/pack").is_file());
    std::fs::write(&pack, b"second").expect("rewrite pack");
    let second = push(&a, &pack, &PushOptions::default())
        .await
        .expect("push 2");
    assert_eq!(second.canonical_ref, "app@2");

    let target = Default::default();
    let out = dir.path().join("out.pack");
    pull(&a, "app@1", &target, &out).await.expect("pull app@1");
    assert_eq!(
        std::fs::read(&out).expect("read"),
        b"pack bytes".repeat(10_000)
    );
    let latest = pull(&a, "app", &target, &out).await.expect("pull latest");
    assert_eq!(std::fs::read(&out).expect("read"), b"second");
    pull(&a, &latest.digest, &target, &out)
        .await
        .expect("pull by digest");
    assert_eq!(std::fs::read(&out).expect("read"), b"second");

    let err = pull(&a, "app@9", &target, &out).await.expect_err("missing");
    assert_eq!(err.code(), Some(&ErrorCode::NotFound), "{err}");
    let opts = PushOptions {
        release: ReleaseInfo {
            name: Some("app".into()),
            version: Some("2".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = push(&a, &pack, &opts).await.expect_err("conflict");
    assert_eq!(err.code(), Some(&ErrorCode::Conflict), "{err}");
}

#[tokio::test]
async fn a_corrupted_download_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("remote");
    let a = adapter(&root);
    let pack = dir.path().join("app.pack");
    std::fs::write(&pack, b"original").expect("write pack");
    push(&a, &pack, &PushOptions::default())
        .await
        .expect("push");
    std::fs::write(root.join("releases/app/1/pack"), b"origiNAL").expect("tamper");
    let out = dir.path().join("out.pack");
    let err = pull(&a, "app@1", &Default::default(), &out)
        .await
        .expect_err("corrupt");
    assert!(matches!(err, RemoteError::Transfer { .. }), "{err}");
    assert!(err.to_string().contains("hash to sha256:"), "{err}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".gantry-pull-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn the_reference_adapter_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = adapter(&dir.path().join("remote"));
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).expect("scratch");
    let results =
        gantry_remote::conformance::run(&a, &gantry_remote::conformance::Options::new(&scratch))
            .await;
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(results.len() >= 9, "{results:#?}");
}
