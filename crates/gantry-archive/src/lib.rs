//! Tar streams gantry produces for backends that run jobs away from its own file
//! system (Docker, Podman, gRPC plugins): the job's workspace, and uploads re-checked
//! entry by entry. Depends only on the backend contract; the concrete backends and the
//! plugin client depend on it.

mod guard;
mod workspace;

pub use guard::{guarded, ChunkWriter, Failer};
pub use workspace::{tar_tree, tar_workspace};
