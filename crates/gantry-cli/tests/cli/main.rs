#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Drives the real `gantry` binary on real workflows in temp dirs (host backend, and
//! Docker and Podman for the container layers).

mod artifacts;
mod cancel;
mod containers;
mod epack;
mod faults;
mod harness;
mod outputs;
mod plugins;
mod probe;
mod processes;
mod remote;
mod robustness;
mod secrets;
mod shared_state;
mod surface;
mod validate;
