//! Drives the real `gantry` binary on real workflows in temp dirs (host backend).

mod cancel;
mod harness;
mod outputs;
mod secrets;
mod surface;
mod validate;
