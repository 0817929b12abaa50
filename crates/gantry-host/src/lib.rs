//! The host backend: runs jobs on the machine gantry runs on.
//!
//! It implements the `gantry-backend` contract with no container layers: each job gets a
//! private directory under the configured root (a copy of the working tree, or the tree
//! itself with `bind`), each step runs in its own process group, and removing the
//! environment kills every process the job started and deletes the directory. With a
//! supervisor ([`HostBackend::with_supervisor`]), steps start under a per-job child
//! subreaper that ends everything below it when the job ends or gantry dies, however a
//! process detached. Every step process carries `GANTRY_RUN_ID` and `GANTRY_OWNER` in its
//! environment so a later gantry can find and reap what a killed one left behind; a run's
//! directory names its owning process, so a reaper never touches another live gantry's.

mod archive;
mod backend;
mod config;
mod environment;
mod proc_scan;
mod process;
mod run_dir;
mod subreaper;
mod supervisor;
mod workspace;

pub use backend::HostBackend;
pub use config::HostConfig;
pub use subreaper::supervise;
pub use supervisor::SUPERVISOR_ARG;
