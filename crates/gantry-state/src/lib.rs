//! The run ledger.
