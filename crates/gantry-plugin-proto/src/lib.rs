//! The backend plugin protocol, version 1: the types generated from
//! `proto/gantry/backend/v1/backend.proto` and their conversions to and from the backend
//! contract (`gantry-backend`).
//!
//! Both sides of the wire depend on this crate: the plugin client in `gantry-plugin`
//! (gantry's side) and the plugin SDK in `gantry-plugin-sdk` (the plugin's side). The
//! `.proto` file, not these Rust types, is the contract: plugins in other languages
//! generate their own code from it.

pub mod convert;

/// Generated messages and the `Backend` service's client and server.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/gantry.backend.v1.rs"));
}

/// The protocol's major version (the `v1` in the package name).
pub const PROTOCOL_VERSION: u32 = 1;

/// The newest revision of v1 this build knows (additive changes bump it).
pub const PROTOCOL_REVISION: u32 = 1;

/// The oldest plugin revision this gantry can drive.
pub const MIN_PROTOCOL_REVISION: u32 = 1;

/// Largest single gRPC message either side sends or accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Largest chunk of bulk data (exec output, tar streams) in one message.
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// Environment variable gantry sets when it launches a plugin binary, with
/// [`MAGIC_COOKIE_VALUE`]: a plugin started by hand without it explains itself and exits.
pub const MAGIC_COOKIE_KEY: &str = "GANTRY_PLUGIN_COOKIE";

/// The value of [`MAGIC_COOKIE_KEY`].
pub const MAGIC_COOKIE_VALUE: &str = "gantry-backend-plugin-v1";

/// Environment variable naming a private directory (mode 0700) where a launched plugin
/// creates its socket.
pub const SOCKET_DIR_KEY: &str = "GANTRY_PLUGIN_SOCKET_DIR";

/// The handshake's core version (the first field of the handshake line).
pub const HANDSHAKE_CORE_VERSION: u32 = 1;
