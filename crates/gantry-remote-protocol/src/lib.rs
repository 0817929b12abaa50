//! The wire types of the remote adapter protocol, and the typed trait an adapter implements.
//!
//! Place in the architecture: the outermost contract of remotes. gantry (`gantry-remote`)
//! drives adapters with these types; adapters (`gantry-remote-fs`, `gantry-remote-s3`, or
//! yours) implement [`RemoteAdapter`] and call [`serve`]. This crate depends on serde only,
//! so an adapter written in Rust pulls in no HTTP client, rate limiter or process code.
//!
//! The wire format is epack's Remote Adapter Protocol v1 (see docs/remote-protocol.md):
//! an `epack-remote-<name>` adapter works with gantry unchanged, and gantry's adapters work
//! under epack. gantry's own additions are optional fields on top (each documented as a
//! *gantry addition*); an adapter that ignores them is a conforming adapter, and gantry
//! never requires them from one.
//!
//! - [`capabilities`]: what `ADAPTER --capabilities` prints (both version spellings).
//! - [`push`], [`pull`], [`runs`], [`auth`]: each command's request and result.
//! - [`envelope`]: the `{type, protocol_version, request_id}` envelope and error replies.
//! - [`digest`]: what `pack.digest` means (epack's canonical artifact list).
//! - [`adapter`]: the typed adapter trait and the adapter side of the exchange.

pub mod adapter;
pub mod auth;
pub mod capabilities;
pub mod digest;
pub mod envelope;
pub mod pull;
pub mod push;
pub mod runs;
mod serde_util;

pub use adapter::{serve, serve_io, Failure, Handled, RemoteAdapter};
pub use auth::{AuthRequest, Identity, LoggedIn, LoginInstructions, WhoAmI};
pub use capabilities::{AuthCapabilities, Capabilities, Features, Limits, KIND};
pub use envelope::{
    command, result_type, ActionHint, Envelope, ErrorBody, ErrorCode, ErrorReply, Reply,
    CAPABILITIES, PROTOCOL_VERSION, VERSION_ENV,
};
pub use pull::{
    Download, PackMetadata, PackRef, PullFinalize, PullFinalized, PullPrepare, PullPrepared,
};
pub use push::{
    AuthHints, PackInfo, PushFinalize, PushFinalized, PushPrepare, PushPrepared, Release,
    ReleaseInfo, SourceInfo, Target, Upload, UPLOAD_SKIP,
};
pub use runs::{RunInfo, RunSyncItem, RunsSync, RunsSynced, SyncStatus};
