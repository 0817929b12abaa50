//! The push and pull workflows: adapter calls around gantry's own transfer of the bytes.
//!
//! ```text
//! push: digest pack -> push.prepare -> upload (PUT) -> push.finalize -> release ref
//! pull: pull.prepare -> download + verify sha256/size -> rename into place -> pull.finalize
//! ```

use std::path::{Path, PathBuf};

use crate::adapter::Adapter;
use crate::error::RemoteError;
use crate::protocol::{
    command, PackInfo, PackRef, PullFinalize, PullPrepare, PushFinalize, PushPrepare, Release,
    ReleaseInfo, Target,
};
use crate::transfer::{self, TransferContext};

/// What a push sends besides the pack.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    pub target: Target,
    pub release: ReleaseInfo,
}

/// Pushes the pack at `pack` and returns the release the adapter created.
pub async fn push(
    adapter: &Adapter,
    pack: &Path,
    options: &PushOptions,
) -> Result<Release, RemoteError> {
    let caps = adapter.capabilities().await?;
    if !caps.features.prepare_finalize {
        return Err(RemoteError::Unsupported {
            adapter: adapter.name().to_string(),
            feature: "push (prepare_finalize)".into(),
        });
    }
    let pack = std::path::absolute(pack).map_err(|e| RemoteError::io(pack, e))?;
    let (digest, size) = transfer::digest_pack(&pack).await?;
    if let Some(max) = caps.limits.max_pack_bytes {
        if size > max {
            return Err(RemoteError::Adapter {
                adapter: adapter.name().to_string(),
                command: command::PUSH_PREPARE.into(),
                code: crate::protocol::ErrorCode::InvalidRequest,
                message: format!("the pack is {size} bytes, the remote accepts at most {max}"),
                retryable: false,
                action: None,
            });
        }
    }
    let info = PackInfo {
        path: pack.display().to_string(),
        digest: digest.clone(),
        size_bytes: size,
    };
    let prepared = adapter
        .push_prepare(&PushPrepare {
            remote: adapter.name().to_string(),
            target: options.target.clone(),
            pack: info.clone(),
            release: options.release.clone(),
        })
        .await?;
    let cx = TransferContext {
        adapter: adapter.name(),
        command: command::PUSH_PREPARE,
    };
    transfer::upload(
        cx,
        &pack,
        size,
        &prepared.upload.method,
        &prepared.upload.url,
        &prepared.upload.headers,
    )
    .await?;
    let finalized = adapter
        .push_finalize(&PushFinalize {
            remote: adapter.name().to_string(),
            target: options.target.clone(),
            pack: info,
            finalize_token: prepared.finalize_token,
        })
        .await?;
    if !crate::seal::digests_equal(&finalized.release.pack_digest, &digest) {
        return Err(RemoteError::Protocol {
            adapter: adapter.name().to_string(),
            command: command::PUSH_FINALIZE.into(),
            reason: format!(
                "the release records digest {}, but gantry uploaded {digest}",
                finalized.release.pack_digest
            ),
        });
    }
    Ok(finalized.release)
}

/// What a pull produced.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub path: PathBuf,
    pub digest: String,
    pub size_bytes: u64,
    pub release: Option<Release>,
}

/// Pulls `reference` into `output` (verified, atomic).
pub async fn pull(
    adapter: &Adapter,
    reference: &str,
    target: &Target,
    output: &Path,
) -> Result<Pulled, RemoteError> {
    let caps = adapter.capabilities().await?;
    if !caps.features.pull {
        return Err(RemoteError::Unsupported {
            adapter: adapter.name().to_string(),
            feature: "pull".into(),
        });
    }
    let prepared = adapter
        .pull_prepare(&PullPrepare {
            remote: adapter.name().to_string(),
            target: target.clone(),
            pack_ref: PackRef::parse(reference),
        })
        .await?;
    let d = &prepared.download;
    let cx = TransferContext {
        adapter: adapter.name(),
        command: command::PULL_PREPARE,
    };
    transfer::download(cx, &d.url, &d.headers, &d.digest, d.size_bytes, output).await?;
    adapter
        .pull_finalize(&PullFinalize {
            remote: adapter.name().to_string(),
            target: target.clone(),
            digest: d.digest.clone(),
            finalize_token: prepared.finalize_token.clone(),
        })
        .await?;
    Ok(Pulled {
        path: output.to_path_buf(),
        digest: d.digest.clone(),
        size_bytes: d.size_bytes,
        release: prepared.release,
    })
}
