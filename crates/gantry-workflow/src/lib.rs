//! Workflow files: text in, a validated [`Plan`] or diagnostics with spans out.
//!
//! Pure: no I/O beyond reading the file it is given, no async. The engine consumes the
//! [`plan::Plan`]; the CLI renders [`Diagnostic`]s.

pub mod plan;

pub use plan::{
    ContainerDef, Plan, PlannedJob, PlannedStep, Retry, RunDefaults, Span, StepBody, Strategy,
};
