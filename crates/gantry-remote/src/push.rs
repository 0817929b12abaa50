//! `gantry push`: adapter calls around gantry's own upload of the bytes.
//!
//! ```text
//! capabilities -> digests (pack, file) -> push.prepare -> upload (or skip) -> push.finalize
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::adapter::Adapter;
use crate::error::RemoteError;
use crate::pack::{digests, PackDigests, PackFormat};
use crate::protocol::{
    command, ErrorCode, PackInfo, PushFinalize, PushPrepare, Release, ReleaseInfo, Target,
};
use crate::transfer::{self, TransferContext};

/// What a push sends besides the pack.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PushOptions {
    /// Where on the remote.
    pub target: Target,
    /// Release metadata (name and version are gantry's additions: dropped in the epack
    /// dialect).
    pub release: ReleaseInfo,
}

impl PushOptions {
    /// Options for `target` and `release`.
    pub fn new(target: Target, release: ReleaseInfo) -> Self {
        PushOptions { target, release }
    }
}

/// What a push did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Pushed {
    /// The release the adapter created.
    pub release: Release,
    /// Pages about it.
    pub links: BTreeMap<String, String>,
    /// The pushed pack's digests.
    pub digests: PackDigests,
    /// `false` when the adapter already had the bytes (`upload.method: "skip"`).
    pub uploaded: bool,
}

/// Pushes the pack at `pack` (read with `format`) and returns the release.
pub async fn push(
    adapter: &Adapter,
    pack: &Path,
    format: &dyn PackFormat,
    options: &PushOptions,
) -> Result<Pushed, RemoteError> {
    let caps = adapter.capabilities().await?;
    if !caps.features.prepare_finalize {
        return Err(RemoteError::Unsupported {
            adapter: adapter.name().to_string(),
            feature: "push (features.prepare_finalize)".into(),
        });
    }
    let pack = std::path::absolute(pack).map_err(|e| RemoteError::io(pack, e))?;
    let digests = digests(&pack, format)?;
    if let Some(max) = caps.limits.pack_bytes() {
        if digests.size_bytes > max {
            return Err(RemoteError::Adapter {
                adapter: adapter.name().to_string(),
                command: command::PUSH_PREPARE.into(),
                code: ErrorCode::InvalidRequest,
                message: format!(
                    "the pack is {} bytes, the remote accepts at most {max} (limits.max_pack_bytes)",
                    digests.size_bytes
                ),
                retryable: false,
                action: None,
            });
        }
    }
    let info = PackInfo::new(
        pack.display().to_string(),
        digests.digest.clone(),
        Some(digests.file_digest.clone()),
        digests.size_bytes,
    );
    let mut release = options.release.clone();
    if !adapter.dialect().sends_gantry_fields() {
        release.name = None;
        release.version = None;
    }
    let prepared = adapter
        .push_prepare(&PushPrepare::new(
            adapter.name().to_string(),
            options.target.clone(),
            info.clone(),
            release.clone(),
        ))
        .await?;
    let uploaded = !prepared.upload.is_skip();
    if uploaded {
        let cx = TransferContext {
            adapter: adapter.name(),
            command: command::PUSH_PREPARE,
            file_root: adapter.config().file_root.as_deref(),
        };
        transfer::upload(cx, &pack, digests.size_bytes, &prepared.upload).await?;
    }
    let finalized = adapter
        .push_finalize(&PushFinalize::new(
            adapter.name().to_string(),
            options.target.clone(),
            info,
            release,
            prepared.finalize_token,
        ))
        .await?;
    let recorded = &finalized.release.pack_digest;
    if *recorded != digests.digest && *recorded != digests.file_digest {
        return Err(RemoteError::Protocol {
            adapter: adapter.name().to_string(),
            command: command::PUSH_FINALIZE.into(),
            reason: format!(
                "the release records pack digest `{recorded}`, but gantry pushed {}",
                digests.digest
            ),
        });
    }
    Ok(Pushed {
        release: finalized.release,
        links: finalized.links,
        digests,
        uploaded,
    })
}
