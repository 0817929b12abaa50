#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! Protocol-level timings for bench/plugin.py, through the reference plugin launched
//! over gRPC or (baseline) the same host backend in process:
//!
//! - `plugin_bench copy-in PLUGIN_BINARY TREE`: seconds for one CopyIn of TREE;
//! - `plugin_bench exec PLUGIN_BINARY|in-process BYTES`: seconds for one exec writing
//!   BYTES to stdout, the output drained as the engine would receive it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use gantry_backend::{
    Backend, EnvironmentRequest, ExecRequest, LabelSpec, StopLevel, WorkspaceSource,
};
use gantry_host::{HostBackend, HostConfig};
use gantry_plugin::{lock::digest_file, LaunchSpec, PluginBackend, PluginConfig, PluginSource};

async fn backend(
    which: &str,
    scratch: &std::path::Path,
) -> Result<Arc<dyn Backend>, Box<dyn std::error::Error>> {
    let root = scratch.join("root");
    if which == "in-process" {
        return Ok(Arc::new(HostBackend::new(HostConfig {
            root,
            runner_name: "bench".into(),
        })));
    }
    let plugin = PathBuf::from(which);
    let spec = LaunchSpec {
        name: "bench".into(),
        command: plugin.clone(),
        args: vec!["--root".into(), root.display().to_string()],
        env: Vec::new(),
        sha256: Some(digest_file(&plugin)?),
    };
    Ok(PluginBackend::start(PluginConfig::new("bench", PluginSource::Launch(spec))).await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, which, what] = args.as_slice() else {
        return Err("usage: plugin_bench copy-in|exec PLUGIN_BINARY|in-process TREE|BYTES".into());
    };
    let scratch = tempfile::tempdir()?;
    let empty = scratch.path().join("empty");
    std::fs::create_dir_all(&empty)?;
    let backend = backend(which, scratch.path()).await?;
    let env = backend
        .create_environment(EnvironmentRequest::new(
            "bench",
            "bench",
            LabelSpec::new("bench", "bench"),
            WorkspaceSource::new(&empty, false),
        ))
        .await?;
    let primary = env.primary().await?;
    let started = Instant::now();
    match mode.as_str() {
        "copy-in" => {
            let dest = format!("{}/upload", primary.paths().workspace);
            primary
                .copy_in(&dest, gantry_archive::tar_tree(PathBuf::from(what)))
                .await?;
        }
        "exec" => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<gantry_backend::OutputChunk>(64);
            let drain = tokio::spawn(async move {
                let mut n = 0u64;
                while let Some(c) = rx.recv().await {
                    n += c.data.len() as u64;
                }
                n
            });
            let (_stop, stop_rx) = tokio::sync::watch::channel(StopLevel::Run);
            let argv = vec!["head".into(), "-c".into(), what.clone(), "/dev/zero".into()];
            let mut req = ExecRequest::new(argv);
            req.env.insert("PATH".into(), "/usr/bin:/bin".into());
            let status = primary.exec(req, tx, stop_rx).await?;
            let n = drain.await?;
            if !status.success() || n.to_string() != *what {
                return Err(format!("exec ended with {status} after {n} bytes").into());
            }
        }
        other => return Err(format!("unknown mode `{other}`").into()),
    }
    let secs = started.elapsed().as_secs_f64();
    env.remove().await?;
    backend.shutdown().await;
    println!("{secs}");
    Ok(())
}
