//! The run ledger and step logs: what `gantry runs` and `gantry logs` read, and what
//! `gantry gc` consults to know which runs are still alive.
//!
//! # The state dir
//!
//! `$GANTRY_STATE_DIR`, else `$XDG_STATE_HOME/gantry`, else `$HOME/.local/state/gantry`
//! (created with mode 0700). It holds:
//!
//! - `gantry.db`: SQLite (WAL) with `runs`, `jobs`, `steps`, and a `migrations` table
//!   other components use to add their own tables;
//! - `logs/<run>/<job-slug>.log`: each job's masked output, streamed as written; every
//!   step's byte range in it is recorded in the ledger;
//! - `work/`: the host backend's job workspaces (owned by that backend);
//! - `artifacts/`: the local artifact store's blobs (`artifacts` and `objects` tables);
//! - `reap.lock`: orders run registration against reaping, so gantrys sharing the dir
//!   never reap each other's live runs (see `liveness.rs`).
//!
//! Log writers stop [`LEDGER_RESERVE`] short of a full disk, so the ledger can still
//! record how a run ended.
//!
//! Synchronous by design: the CLI calls it from its event loop; every call is short.

mod artifacts;
mod dir;
mod error;
mod ledger;
mod liveness;
mod logs;
mod records;

pub use artifacts::{ArtifactFile, ArtifactRecord, ObjectRecord};
pub use dir::StateDir;
pub use error::StateError;
pub use ledger::Ledger;
pub use liveness::{LiveRuns, CRASHED};
pub use logs::{LogStore, LogWriter, LEDGER_RESERVE};
pub use records::{JobRecord, JobStatus, NewRun, RunRecord, RunStatus, StepRecord};
