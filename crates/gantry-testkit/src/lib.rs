//! Test helpers shared by gantry's test suites; never a dependency of a shipped crate.
//!
//! - [`required`]: the one rule for tests that need a real engine or service (Docker,
//!   Podman, a registry, S3): present, the test runs; missing, the test is skipped with the
//!   reason, except under `CI=true`, where it fails naming what sets it up.
//! - [`ScriptedBackend`]: an in-memory implementation of the `gantry-backend` contract whose
//!   steps are tiny scripts (`echo`, `exit 3`, `sleep 0.2`, `hang`, `fail-until 2 key`,
//!   `output name=value`), so the engine's scheduling semantics (needs, `if`, fail-fast,
//!   retries, timeouts, cancel, continue-on-error, matrix) are tested in milliseconds
//!   without processes. It journals what the engine asked of it.
//!
//! It sits beside the backends: it depends on the contract only, and the engine's tests
//! depend on it (as a dev-dependency).

mod required;
mod script;
mod scripted;

pub use required::required;
pub use scripted::{JournalEntry, ScriptedBackend, SCRIPTED};
