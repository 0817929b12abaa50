//! gantry's side of the remote adapter protocol (docs/remote-protocol.md): epack's Remote
//! Adapter Protocol v1 on the wire, gantry's additions optional on top.
//!
//! Place in the architecture: the `gantry` binary calls this crate for `gantry push`,
//! `pull` and `remote ...`; it knows the wire types ([`protocol`], the serde-only
//! `gantry-remote-protocol` crate adapters depend on) and the pin file (`gantry-pin`),
//! never a concrete remote. A remote adapter is an external program (`gantry-remote-<name>`
//! or any `epack-remote-<name>`) that knows one kind of remote; gantry runs it once per
//! command, writes one JSON request on its stdin and reads one JSON response from its
//! stdout; stderr is logs. The adapter hands out URLs, gantry moves the bytes itself and
//! verifies them.
//!
//! - [`Adapter`]: resolve, pin-check, seal and call an adapter (timeouts, the 10 MiB
//!   response cap, retries, rate limit), in gantry's or epack's [`Dialect`].
//! - [`push()`], [`pull()`] and [`runs::sync_runs`]: the workflows end to end;
//!   [`pull::check_resolved`] refuses a release other than the one asked for.
//! - [`pack`]: pack digest and file digest, through the caller's [`PackFormat`].
//! - [`conformance`]: the suite every adapter must pass (`gantry remote test`).
//! - [`lock`]: the `[adapters.NAME]` tables of gantry.lock; [`seal`]: verified copies.

pub use gantry_remote_protocol as protocol;

pub mod adapter;
pub mod config;
pub mod conformance;
pub mod error;
pub mod lock;
pub mod pack;
mod process;
pub mod pull;
pub mod push;
mod response;
pub mod runs;
pub mod seal;
pub mod transfer;

pub use adapter::Adapter;
pub use config::{AdapterConfig, AdapterSource, Dialect, RetryPolicy};
pub use error::RemoteError;
pub use pack::{AnyFile, PackDigests, PackFormat};
pub use pull::{pull, PullRef, Pulled};
pub use push::{push, PushOptions, Pushed};
