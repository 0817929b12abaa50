//! gantry's remote adapter protocol v1 (docs/remote-protocol.md).
//!
//! A remote adapter is an external program (`gantry-remote-<name>`) that knows one kind of
//! remote (a directory, S3, a registry). gantry runs it once per command, writes one JSON
//! request on its stdin and reads one JSON response from its stdout; stderr is logs.
//! The adapter hands out URLs, gantry moves the bytes itself and verifies them.
//!
//! - [`protocol`]: the wire types adapter authors implement.
//! - [`Adapter`]: resolve, pin-check, seal and call an adapter (timeouts, size caps,
//!   retries, rate limit).
//! - [`flow`]: `push` and `pull` end to end.
//! - [`conformance`]: the suite every adapter must pass (`gantry remote test`).
//! - [`lock`]: the `[adapters.NAME]` tables of gantry.lock.
//! - [`serve`]: the adapter side's envelope, for adapters written in Rust.

pub mod adapter;
pub mod conformance;
pub mod error;
pub mod flow;
pub mod lock;
mod process;
pub mod protocol;
pub mod seal;
pub mod serve;
pub mod transfer;

pub use adapter::{Adapter, AdapterConfig, AdapterSource, RetryPolicy};
pub use error::RemoteError;
pub use flow::{pull, push, Pulled, PushOptions};
