//! Artifacts: files a job hands to later jobs, later runs, and release packs.
//!
//! Sits beside the engine: it plugs `gantry/upload-artifact` and `gantry/download-artifact`
//! (and the `actions/*-artifact` names) into the engine's built-in steps, moves files only
//! through the backend contract's copy calls (so every backend gets artifacts), keeps
//! bytes in an [`ArtifactStore`] (local content-addressed storage or S3) and metadata in
//! the ledger. `pack` bundles a run's artifacts into one verifiable file.

mod key;
mod local;
pub mod pack;
mod s3;
mod steps;
mod store;

pub use key::{check_artifact_name, ObjectKey};
pub use local::LocalStore;
pub use s3::{S3Config, S3Store};
pub use steps::{artifact_key, DownloadArtifact, UploadArtifact};
pub use store::{ArtifactStore, ObjectInfo, StoreError};
