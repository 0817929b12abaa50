//! gantry's side of the backend plugin protocol (`proto/gantry/backend/v1`): a plugin,
//! launched from a pinned binary or reached at an address, driven as a
//! `gantry_backend::Backend`.
//!
//! The engine never sees this crate; the CLI's wiring builds a [`PluginBackend`] from the
//! config file and registers it like any backend. What this crate guarantees:
//! - a launched binary runs only when its bytes match the pin in `gantry.lock`;
//! - a plugin is used only once its health service says SERVING and its protocol
//!   version is one this gantry can drive;
//! - every unary call has a deadline, every response is checked, a dead plugin is named
//!   as such within moments, and a launched plugin that died is started afresh (and told
//!   to Reap) for the next job.

mod backend;
pub mod checks;
mod container;
mod environment;
mod error;
mod launch;
pub mod lock;
mod transport;

pub use backend::{LiveRuns, PluginBackend, PluginConfig, PluginSource};
pub use error::PluginError;
pub use launch::LaunchSpec;
pub use transport::ClientTls;
