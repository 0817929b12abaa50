//! The `docker` backend: Docker Engine and Podman through the Docker Engine API (bollard,
//! version negotiated), the same code serving both.
//!
//! Each job gets a volume mounted at `/__w` in every container of the job
//! (`/__w/workspace`, `/__w/_temp`), a network once it has services (always on Podman), a
//! primary container from the label's image kept idle (by `gantry-shim --idle` as PID 1,
//! which reaps orphaned step processes) while steps run through the exec API, and service
//! and step containers on demand.
//! Steps in job containers go through `gantry-shim`, a static helper placed in the job
//! volume and started by one exec, so a step costs a process spawn rather than API round
//! trips (`exec=api` in a label keeps plain execs).
//! Everything carries the run id and this gantry's owner tag as labels, so `reap` finds
//! what a killed gantry left, without touching other gantrys' objects.

mod backend;
mod container;
mod credentials;
mod driver;
mod environment;
mod options;
mod shim;
#[path = "../shim/wire.rs"]
mod wire;

pub use backend::{DockerBackend, DockerConfig, DockerError};
pub use driver::DockerDriver;

/// Where the job's volume is mounted in every container.
pub const WORK_ROOT: &str = "/__w";
/// The workspace inside containers.
pub const WORKSPACE: &str = "/__w/workspace";
/// The job's temp dir inside containers.
pub const TEMP: &str = "/__w/_temp";
