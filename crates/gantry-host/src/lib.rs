//! The host backend (see the crate README).
