#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! Baseline for bench/artifacts.py: one plain `PUT` of FILE's bytes to the S3 server with
//! the same client library the S3 store uses. Prints the seconds the PUT took.
//!
//! `s3_put ENDPOINT BUCKET KEY FILE` (credentials from AWS_ACCESS_KEY_ID/SECRET).

use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, bucket, key, file] = args.as_slice() else {
        return Err("usage: s3_put ENDPOINT BUCKET KEY FILE".into());
    };
    let store = AmazonS3Builder::from_env()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .build()?;
    let bytes = std::fs::read(file)?;
    let started = std::time::Instant::now();
    store
        .put(&Path::from(key.as_str()), PutPayload::from(bytes))
        .await?;
    println!("{}", started.elapsed().as_secs_f64());
    Ok(())
}
