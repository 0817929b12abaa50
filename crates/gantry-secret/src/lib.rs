//! Secrets: where their values come from and how they are kept out of every log line.
//!
//! The CLI loads a [`SecretSet`] (`--secret NAME` from the environment, `--secret-file`),
//! the engine builds a [`Masker`] from the values and runs every output stream through a
//! [`StreamMasker`], which catches a secret even when it arrives split across chunks.

mod interleave;
mod load;
mod mask;

pub use interleave::{InterleavedMasker, STREAM_HOLD_LIMIT};
pub use load::{SecretError, SecretSet};
pub use mask::{Masker, StreamMasker, MASK};
