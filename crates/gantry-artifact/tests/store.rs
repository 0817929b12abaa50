#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store contract on both backends: round trips, dedup, list and delete, and an
//! interrupted upload that must leave nothing behind (the S3 case against the real
//! server of scripts/setup-s3.sh).

use std::pin::Pin;
use std::task::{Context, Poll};

use gantry_artifact::{ArtifactStore, LocalStore, ObjectKey, S3Config, S3Store};
use gantry_state::{Ledger, StateDir};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// Yields `good` bytes, then fails: an upload cut off half-way.
struct Broken {
    good: usize,
}

impl AsyncRead for Broken {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.good == 0 {
            return Poll::Ready(Err(std::io::Error::other("connection reset mid-upload")));
        }
        let n = self.good.min(buf.remaining()).min(64 * 1024);
        buf.put_slice(&vec![7u8; n]);
        self.good -= n;
        Poll::Ready(Ok(()))
    }
}

async fn exercise(store: &dyn ArtifactStore, prefix: &str) {
    let k = |s: &str| ObjectKey::new(&format!("{prefix}/{s}")).expect("key");
    let data = vec![42u8; 3 * 1024 * 1024 + 17];
    let a = store
        .put(&k("a.bin"), Box::new(std::io::Cursor::new(data.clone())))
        .await
        .expect("put a");
    let b = store
        .put(&k("b.bin"), Box::new(std::io::Cursor::new(data.clone())))
        .await
        .expect("put b");
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(a.size, data.len() as u64);
    let mut back = Vec::new();
    store
        .get(&k("a.bin"))
        .await
        .expect("get")
        .read_to_end(&mut back)
        .await
        .expect("read");
    assert_eq!(back, data);
    assert_eq!(
        store.stat(&k("a.bin")).await.expect("stat"),
        Some(a.clone())
    );
    let listed = store.list(&format!("{prefix}/")).await.expect("list");
    assert_eq!(
        listed.iter().map(|o| o.key.clone()).collect::<Vec<_>>(),
        vec![k("a.bin").to_string(), k("b.bin").to_string()]
    );

    // Cut off mid-upload: neither a new object nor a changed old one.
    let err = store
        .put(
            &k("cut.bin"),
            Box::new(Broken {
                good: 5 * 1024 * 1024,
            }),
        )
        .await;
    assert!(err.is_err(), "a broken upload succeeded");
    assert_eq!(store.stat(&k("cut.bin")).await.expect("stat"), None);
    let err = store
        .put(&k("a.bin"), Box::new(Broken { good: 1024 }))
        .await;
    assert!(err.is_err());
    assert_eq!(store.stat(&k("a.bin")).await.expect("stat"), Some(a));

    store.delete(&k("a.bin")).await.expect("delete");
    store.delete(&k("a.bin")).await.expect("delete twice");
    assert_eq!(store.stat(&k("a.bin")).await.expect("stat"), None);
    let mut back = Vec::new();
    store
        .get(&k("b.bin"))
        .await
        .expect("b survives a's delete")
        .read_to_end(&mut back)
        .await
        .expect("read");
    assert_eq!(back.len(), data.len());
    store.delete(&k("b.bin")).await.expect("delete b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = Ledger::open(&StateDir::at(dir.path().join("state"))).expect("ledger");
    let root = dir.path().join("artifacts");
    let store = LocalStore::new(&root, ledger);
    exercise(&store, "t").await;
    // Dedup left one blob at most, and no temp file survived the broken uploads.
    let tmp: Vec<_> = std::fs::read_dir(root.join("tmp"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
    let blobs: usize = std::fs::read_dir(root.join("blobs"))
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read_dir(e.path()).map(|x| x.count()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(blobs, 0, "blobs left after every key was deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_contract() {
    if !gantry_testkit::required(
        std::net::TcpStream::connect("127.0.0.1:9000").is_ok(),
        "no S3 server on 127.0.0.1:9000",
        "run scripts/setup-s3.sh",
    ) {
        return;
    }
    let store = S3Store::new(&S3Config {
        endpoint: Some("http://127.0.0.1:9000".into()),
        bucket: "gantry-test".into(),
        region: "us-east-1".into(),
        access_key_id: "gantry-test".into(),
        secret_access_key: "gantry-test-secret".into(),
        prefix: format!("store-test-{}", std::process::id()),
    })
    .expect("store");
    exercise(&store, "t").await;
}

/// An S3 server that fails every request (here: the completing PUT) makes `put` an error
/// naming the key, never a panic, and leaves no object behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_s3_server_is_an_error_not_a_panic() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(
                        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    let store = S3Store::new(&S3Config {
        endpoint: Some(format!("http://{addr}")),
        bucket: "gantry-test".into(),
        region: "us-east-1".into(),
        access_key_id: "gantry-test".into(),
        secret_access_key: "gantry-test-secret".into(),
        prefix: "failing".into(),
    })
    .expect("store");
    let key = ObjectKey::new("runs/r1/artifacts/dist.tar").expect("key");
    let data: &[u8] = b"artifact bytes";
    let err = store
        .put(&key, Box::new(data))
        .await
        .expect_err("the server fails every request");
    assert!(err.to_string().contains("dist.tar"), "{err}");
}
