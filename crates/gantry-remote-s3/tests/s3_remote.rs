#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `gantry-remote-s3` binary behind `gantry_remote`, against the S3 server of
//! scripts/setup-s3.sh (s3s-fs on 127.0.0.1:9000): the conformance suite, a few-MiB push
//! and pull through presigned URLs (gantry's http transfer path), and uploads or releases
//! whose bytes changed behind gantry's back.
//!
//! Without a server the tests skip with a message, except under `CI=true`, where they fail.

use gantry_remote::conformance::{self, Options};
use gantry_remote::pack::digests;
use gantry_remote::protocol::{
    ErrorCode, PackInfo, PushFinalize, PushPrepare, ReleaseInfo, Target,
};
use gantry_remote::transfer::{self, TransferContext};
use gantry_remote::{
    pull, push, Adapter, AdapterConfig, AdapterSource, AnyFile, Dialect, PullRef, PushOptions,
    RemoteError,
};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};

const ENDPOINT: &str = "http://127.0.0.1:9000";
const BUCKET: &str = "gantry-test";
const ACCESS_KEY_ID: &str = "gantry-test";
const SECRET: &str = "gantry-test-secret";

/// Whether the S3 server answers; panics under `CI=true` when it does not.
fn s3_available(test: &str) -> bool {
    gantry_testkit::required(
        std::net::TcpStream::connect("127.0.0.1:9000").is_ok(),
        &format!("{test}: no S3 server on 127.0.0.1:9000"),
        "run scripts/setup-s3.sh",
    )
}

/// A prefix no other test run uses (the bucket outlives test runs).
fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "gantry-remote-s3-tests/{test}-{nanos:x}-{}",
        std::process::id()
    )
}

fn adapter_with(env: &[(&str, &str)]) -> Adapter {
    adapter_in(env, Dialect::Gantry)
}

fn adapter_in(env: &[(&str, &str)], dialect: Dialect) -> Adapter {
    let mut cfg = AdapterConfig::new(
        "origin",
        AdapterSource::Command(env!("CARGO_BIN_EXE_gantry-remote-s3").into()),
    );
    cfg.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    cfg.dialect = dialect;
    Adapter::open(cfg).expect("open gantry-remote-s3")
}

fn adapter(prefix: &str) -> Adapter {
    adapter_dialect(prefix, Dialect::Gantry)
}

fn adapter_dialect(prefix: &str, dialect: Dialect) -> Adapter {
    adapter_in(
        &[
            ("GANTRY_REMOTE_S3_ENDPOINT", ENDPOINT),
            ("GANTRY_REMOTE_S3_BUCKET", BUCKET),
            ("GANTRY_REMOTE_S3_PREFIX", prefix),
            ("GANTRY_REMOTE_S3_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("GANTRY_REMOTE_S3_SECRET_ACCESS_KEY", SECRET),
        ],
        dialect,
    )
}

/// Direct access to the bucket, to play the party that changes bytes behind gantry's back.
fn bucket() -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(ENDPOINT)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_access_key_id(ACCESS_KEY_ID)
        .with_secret_access_key(SECRET)
        .build()
        .expect("S3 client")
}

async fn overwrite(key: String, bytes: Vec<u8>) {
    bucket()
        .put(&StorePath::from(key), PutPayload::from(bytes))
        .await
        .expect("overwrite object");
}

/// `len` bytes that do not compress or repeat in an obvious way.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn the_s3_adapter_passes_the_conformance_suite_in_both_dialects() {
    if !s3_available("conformance") {
        return;
    }
    for dialect in [Dialect::Gantry, Dialect::Epack] {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = adapter_dialect(&unique_prefix("conformance"), dialect);
        let results = conformance::run(&a, &Options::new(dir.path())).await;
        let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
        assert!(failed.is_empty(), "{dialect:?}: {failed:#?}");
        assert_eq!(results.len(), conformance::CASES.len(), "{results:#?}");
    }
}

#[tokio::test]
async fn a_few_mib_pack_round_trips_through_presigned_urls() {
    if !s3_available("round_trip") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = unique_prefix("round-trip");
    let a = adapter(&prefix);
    let pack = dir.path().join("app.pack");
    let first_bytes = noise(3 * 1024 * 1024 + 17, 7);
    std::fs::write(&pack, &first_bytes).expect("write pack");
    let first = push(&a, &pack, &AnyFile, &PushOptions::default())
        .await
        .expect("push");
    assert_eq!(
        first.release.canonical_ref,
        Some(format!("s3/app@{}", first.digests.digest))
    );
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
    assert_eq!(pulled.size_bytes, first_bytes.len() as u64);
    assert!(std::fs::read(&out).expect("read") == first_bytes);
    let latest = pull(&a, &get("app"), &target, &out, &AnyFile)
        .await
        .expect("pull latest");
    assert_eq!(std::fs::read(&out).expect("read"), b"second");
    assert_eq!(latest.file_digest, second.digests.file_digest);
    for asked in [
        PullRef::digest(first.digests.digest.clone()),
        get(first
            .release
            .canonical_ref
            .as_deref()
            .expect("canonical ref")),
        PullRef::release_id("app/1"),
        PullRef::version("1"),
    ] {
        pull(&a, &asked, &target, &out, &AnyFile)
            .await
            .unwrap_or_else(|e| panic!("{asked:?}: {e}"));
        assert!(
            std::fs::read(&out).expect("read") == first_bytes,
            "{asked:?}"
        );
    }
    pull(&a, &PullRef::latest(), &target, &out, &AnyFile)
        .await
        .expect("pull latest of all");
    assert_eq!(std::fs::read(&out).expect("read"), b"second");

    let err = pull(&a, &get("app@9"), &target, &out, &AnyFile)
        .await
        .expect_err("missing");
    assert_eq!(err.code(), Some(&ErrorCode::NotFound), "{err}");
    let mut release = ReleaseInfo::default();
    release.name = Some("app".into());
    release.version = Some("2".into());
    let opts = PushOptions::new(Target::default(), release);
    let err = push(&a, &pack, &AnyFile, &opts)
        .await
        .expect_err("conflict");
    assert_eq!(err.code(), Some(&ErrorCode::Conflict), "{err}");

    let staging = bucket()
        .list_with_delimiter(Some(&StorePath::from(format!("{prefix}/staging"))))
        .await
        .expect("list staging");
    assert!(staging.objects.is_empty(), "{:?}", staging.objects);
}

#[tokio::test]
async fn a_tampered_upload_is_refused_at_finalize() {
    if !s3_available("tampered_upload") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = unique_prefix("tampered-upload");
    let a = adapter(&prefix);
    let pack = dir.path().join("app.pack");
    std::fs::write(&pack, b"original bytes").expect("write pack");
    let d = digests(&pack, &AnyFile).expect("digests");
    let size = d.size_bytes;
    let info = PackInfo::new(
        pack.display().to_string(),
        d.digest,
        Some(d.file_digest),
        size,
    );
    let prepared = a
        .push_prepare(&PushPrepare::new(
            "origin".into(),
            Target::default(),
            info.clone(),
            ReleaseInfo::default(),
        ))
        .await
        .expect("push.prepare");
    assert!(prepared.upload.url.starts_with("http://127.0.0.1:9000/"));
    let cx = TransferContext {
        adapter: "origin",
        command: "push.prepare",
        file_root: None,
    };
    transfer::upload(cx, &pack, size, &prepared.upload)
        .await
        .expect("upload");
    // Same size, other bytes: only the hash can tell.
    let token = &prepared.finalize_token;
    overwrite(
        format!("{prefix}/staging/{token}.pack"),
        b"tampered bytes".to_vec(),
    )
    .await;
    let err = a
        .push_finalize(&PushFinalize::new(
            "origin".into(),
            Target::default(),
            info,
            ReleaseInfo::default(),
            token.clone(),
        ))
        .await
        .expect_err("finalize must refuse the tampered upload");
    assert_eq!(err.code(), Some(&ErrorCode::InvalidRequest), "{err}");
    assert!(err.to_string().contains("push.prepare announced"), "{err}");
    let err = pull(
        &a,
        &PullRef::parse("app").expect("ref"),
        &Target::default(),
        &dir.path().join("out"),
        &AnyFile,
    )
    .await
    .expect_err("nothing was released");
    assert_eq!(err.code(), Some(&ErrorCode::NotFound), "{err}");
}

#[tokio::test]
async fn a_tampered_release_is_refused_at_pull_and_nothing_is_written() {
    if !s3_available("tampered_release") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = unique_prefix("tampered-release");
    let a = adapter(&prefix);
    let pack = dir.path().join("app.pack");
    std::fs::write(&pack, b"original").expect("write pack");
    push(&a, &pack, &AnyFile, &PushOptions::default())
        .await
        .expect("push");
    overwrite(
        format!("{prefix}/releases/app/1.pack"),
        b"origiNAL".to_vec(),
    )
    .await;
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
    assert!(err.to_string().contains("hash to sha256:"), "{err}");
    assert!(!err.to_string().contains("X-Amz-Signature"), "{err}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".gantry-pull-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn whoami_names_the_access_key_and_notices_a_wrong_secret() {
    if !s3_available("whoami") {
        return;
    }
    let who = adapter(&unique_prefix("whoami"))
        .auth_whoami()
        .await
        .expect("whoami");
    assert!(who.identity.authenticated);
    assert_eq!(who.identity.subject.as_deref(), Some(ACCESS_KEY_ID));
    assert!(!format!("{who:?}").contains(SECRET));
    let wrong = adapter_with(&[
        ("GANTRY_REMOTE_S3_ENDPOINT", ENDPOINT),
        ("GANTRY_REMOTE_S3_BUCKET", BUCKET),
        ("GANTRY_REMOTE_S3_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("GANTRY_REMOTE_S3_SECRET_ACCESS_KEY", "not-the-secret"),
    ]);
    let who = wrong.auth_whoami().await.expect("whoami, wrong secret");
    assert!(!who.identity.authenticated, "{who:?}");
}

/// Needs no server: configuration problems are answered before any request.
#[tokio::test]
async fn missing_settings_are_errors_with_codes() {
    let empty = [
        ("GANTRY_REMOTE_S3_ENDPOINT", ""),
        ("GANTRY_REMOTE_S3_PREFIX", ""),
        ("GANTRY_REMOTE_S3_REGION", ""),
    ];
    let mut no_bucket = empty.to_vec();
    no_bucket.extend([
        ("GANTRY_REMOTE_S3_BUCKET", ""),
        ("GANTRY_REMOTE_S3_ACCESS_KEY_ID", "id"),
        ("GANTRY_REMOTE_S3_SECRET_ACCESS_KEY", "secret"),
    ]);
    let err = adapter_with(&no_bucket)
        .auth_whoami()
        .await
        .expect_err("no bucket");
    assert_eq!(err.code(), Some(&ErrorCode::InvalidRequest), "{err}");
    assert!(err.to_string().contains("GANTRY_REMOTE_S3_BUCKET"), "{err}");
    let mut no_secret = empty.to_vec();
    no_secret.extend([
        ("GANTRY_REMOTE_S3_BUCKET", "b"),
        ("GANTRY_REMOTE_S3_ACCESS_KEY_ID", "id"),
        ("GANTRY_REMOTE_S3_SECRET_ACCESS_KEY", ""),
    ]);
    let err = adapter_with(&no_secret)
        .auth_whoami()
        .await
        .expect_err("no secret");
    assert_eq!(err.code(), Some(&ErrorCode::AuthRequired), "{err}");
}
