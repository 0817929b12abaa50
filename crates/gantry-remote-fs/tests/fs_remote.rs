#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `gantry-remote-fs` binary behind `gantry_remote`: push/pull round trips by
//! every kind of reference, the upload skip, downloads that do not match what the adapter
//! announced, and the conformance suite in gantry's and in epack's dialect.

use std::path::Path;

use gantry_remote::conformance::{self, Options};
use gantry_remote::protocol::{ErrorCode, ReleaseInfo, Target};
use gantry_remote::{
    pull, push, Adapter, AdapterConfig, AdapterSource, AnyFile, Dialect, PullRef, PushOptions,
    RemoteError,
};

fn adapter_in(root: &Path, dialect: Dialect) -> Adapter {
    let mut cfg = AdapterConfig::new(
        "origin",
        AdapterSource::Command(env!("CARGO_BIN_EXE_gantry-remote-fs").into()),
    );
    cfg.env = vec![("GANTRY_REMOTE_FS_ROOT".into(), root.display().to_string())];
    cfg.dialect = dialect;
    Adapter::open(cfg).expect("open gantry-remote-fs")
}

fn adapter(root: &Path) -> Adapter {
    adapter_in(root, Dialect::Gantry)
}

fn release(name: &str, version: Option<&str>) -> PushOptions {
    let mut r = ReleaseInfo::default();
    r.name = Some(name.into());
    r.version = version.map(str::to_string);
    PushOptions::new(Target::default(), r)
}

#[tokio::test]
async fn push_then_pull_by_every_kind_of_reference() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("remote");
    let a = adapter(&root);
    let pack = dir.path().join("app.pack");
    std::fs::write(&pack, b"pack bytes".repeat(10_000)).expect("write pack");
    let first = push(&a, &pack, &AnyFile, &PushOptions::default())
        .await
        .expect("push");
    // epack's push semantics: the pack digest is not the file's sha256.
    assert_ne!(first.digests.digest, first.digests.file_digest);
    assert_eq!(first.release.release_id, "app/1");
    assert_eq!(
        first.release.canonical_ref.as_deref(),
        Some(format!("fs/app@{}", first.digests.digest).as_str())
    );
    assert!(root.join("releases/app/1/pack").is_file());
    std::fs::write(&pack, b"second").expect("rewrite pack");
    let second = push(&a, &pack, &AnyFile, &PushOptions::default())
        .await
        .expect("push 2");
    assert_eq!(second.release.version.as_deref(), Some("2"));

    let target = Target::default();
    let out = dir.path().join("out.pack");
    let get = |r: &str| PullRef::parse(r).expect("ref");
    let pulled = pull(&a, &get("app@1"), &target, &out, &AnyFile)
        .await
        .expect("pull app@1");
    assert_eq!(
        std::fs::read(&out).expect("read"),
        b"pack bytes".repeat(10_000)
    );
    assert_eq!(pulled.pack.name.as_deref(), Some("app"));
    assert_eq!(pulled.finalize_warning, None);
    for asked in [
        get("app"),
        PullRef::latest(),
        PullRef::version("2"),
        PullRef::release_id("app/2"),
        PullRef::digest(second.digests.digest.clone()),
        PullRef::digest(second.digests.file_digest.clone()),
        get(second
            .release
            .canonical_ref
            .as_deref()
            .expect("canonical ref")),
    ] {
        let p = pull(&a, &asked, &target, &out, &AnyFile)
            .await
            .unwrap_or_else(|e| panic!("{asked:?}: {e}"));
        assert_eq!(std::fs::read(&out).expect("read"), b"second", "{asked:?}");
        assert_eq!(p.pack.version.as_deref(), Some("2"));
    }

    let err = pull(&a, &get("app@9"), &target, &out, &AnyFile)
        .await
        .expect_err("missing");
    assert_eq!(err.code(), Some(&ErrorCode::NotFound), "{err}");
    let err = pull(&a, &get("other"), &target, &out, &AnyFile)
        .await
        .expect_err("no such name");
    assert_eq!(err.code(), Some(&ErrorCode::NotFound), "{err}");
    let err = push(&a, &pack, &AnyFile, &release("app", Some("2")))
        .await
        .expect_err("conflict");
    assert_eq!(err.code(), Some(&ErrorCode::Conflict), "{err}");
}

#[tokio::test]
async fn a_pack_the_remote_already_has_is_not_uploaded_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("remote");
    let a = adapter(&root);
    let pack = dir.path().join("app.pack");
    std::fs::write(&pack, b"same bytes").expect("write pack");
    let first = push(&a, &pack, &AnyFile, &release("app", None))
        .await
        .expect("push");
    assert!(first.uploaded);
    let again = push(&a, &pack, &AnyFile, &release("app", None))
        .await
        .expect("push again");
    assert!(!again.uploaded, "upload.method skip");
    assert_eq!(again.release.version.as_deref(), Some("2"));
    assert_eq!(
        std::fs::read(root.join("releases/app/2/pack")).expect("read"),
        b"same bytes"
    );
}

#[tokio::test]
async fn a_corrupted_download_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("remote");
    let a = adapter(&root);
    let pack = dir.path().join("app.pack");
    std::fs::write(&pack, b"original").expect("write pack");
    push(&a, &pack, &AnyFile, &PushOptions::default())
        .await
        .expect("push");
    std::fs::write(root.join("releases/app/1/pack"), b"origiNAL").expect("tamper");
    let out = dir.path().join("out.pack");
    let err = pull(
        &a,
        &PullRef::parse("app@1").expect("ref"),
        &Target::default(),
        &out,
        &AnyFile,
    )
    .await
    .expect_err("corrupt");
    assert!(matches!(err, RemoteError::Transfer { .. }), "{err}");
    assert!(
        err.to_string().contains("the bytes hash to sha256:"),
        "{err}"
    );
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".gantry-pull-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

async fn suite(dialect: Dialect) {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = adapter_in(&dir.path().join("remote"), dialect);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).expect("scratch");
    let results = conformance::run(&a, &Options::new(&scratch)).await;
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "{dialect:?}: {failed:#?}");
    assert_eq!(results.len(), conformance::CASES.len(), "{results:#?}");
    let skipped: Vec<_> = results
        .iter()
        .filter(|r| r.detail.starts_with("skipped"))
        .map(|r| r.name)
        .collect();
    assert!(
        skipped.is_empty(),
        "the reference adapter does everything it advertises: {skipped:?}"
    );
}

#[tokio::test]
async fn the_reference_adapter_passes_the_conformance_suite() {
    suite(Dialect::Gantry).await;
}

#[tokio::test]
async fn the_reference_adapter_passes_the_suite_driven_as_epack_drives_it() {
    suite(Dialect::Epack).await;
}
