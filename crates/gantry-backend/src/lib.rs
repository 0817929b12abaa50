//! The backend contract: what every place a job can run on must provide.
//!
//! This crate sits at the centre of gantry's architecture. The engine depends on it and
//! never on a concrete backend; the host backend, the Docker backend and the gRPC plugin
//! client each implement it. It models the four execution layers:
//!
//! ```text
//! Backend                  (configured once; id + capabilities; validates labels)
//!   └─ ExecutionEnvironment   (one per job: the runs-on layer)
//!        ├─ job container      (workflow `container:`, or the environment's primary target)
//!        ├─ service containers (workflow `services:`)
//!        └─ step containers    (`uses: docker://...`)
//!             └─ Container: start, exec (streamed, stoppable), copy in/out (tar),
//!                           read file, health, remove
//! ```
//!
//! Capabilities are declared up front so a workflow that needs a layer a backend lacks is
//! refused at validation, before anything runs.

pub mod capabilities;
pub mod container;
pub mod environment;
pub mod error;
pub mod exec;
pub mod label;
pub mod registry;
pub mod with_containers;

pub use capabilities::Capabilities;
pub use container::{
    BoxedReader, Container, ContainerKind, ContainerPaths, ContainerSpec, Health, HealthCheck,
    PortMapping, PullPolicy, Sandbox,
};
pub use environment::{
    DockerEndpoint, EndpointDriver, EnvironmentRequest, ExecutionEnvironment, RunnerInfo,
    WorkspaceSource,
};
pub use error::BackendError;
pub use exec::{
    ExecRequest, ExitStatus, OutputChunk, OutputSender, StopLevel, StopReceiver, Stream,
};
pub use label::{LabelError, LabelSpec};
pub use registry::{Backend, BackendRegistry, ReapReport, ResolveError, ResolvedLabel};
pub use with_containers::WithContainers;

/// A run's identifier as it appears in labels, names and the ledger (a ULID-like string).
pub type RunId = String;

/// Label key every backend puts on what it creates so `gantry gc` can find it.
pub const LABEL_RUN_ID: &str = "io.gantry.run-id";
/// Label key naming the job (the planned job key) that created an object.
pub const LABEL_JOB: &str = "io.gantry.job";
/// Label key naming the state dir (hashed) of the gantry that created an object.
pub const LABEL_OWNER: &str = "io.gantry.owner";
