//! Workflow files: text in, a validated [`Plan`] or diagnostics with spans out.
//!
//! Pure: no I/O beyond reading the file it is given ([`SourceFile::read`]), no async.
//! The engine consumes the [`Plan`]; the CLI renders [`Diagnostic`]s (with miette).
//!
//! ```text
//! text ─yaml─> tree with byte spans ─read─> model ─check─> diagnostics
//!                                              └─build─> Plan (matrix expanded, ordered)
//! ```

mod build;
mod check;
mod diagnostic;
mod matrix;
mod model;
pub mod plan;
mod read;
mod schema;
mod source;
mod yaml;

pub use diagnostic::{Diagnostic, Severity};
pub use plan::{
    ContainerDef, Plan, PlannedJob, PlannedStep, Retry, RunDefaults, Span, StepBody, Strategy,
    MAX_RETRY_DELAY_SECONDS, MAX_TIMEOUT_MINUTES,
};
pub use schema::schema;
pub use source::{SourceFile, MAX_FILE_BYTES};

/// Parses, validates and plans `source`; every problem at once when there are any.
pub fn load(source: &SourceFile) -> Result<Plan, Vec<Diagnostic>> {
    let tree = yaml::parse(source).map_err(|d| vec![d])?;
    let mut reader = read::Reader { diags: Vec::new() };
    let workflow = reader.workflow(&tree);
    let mut diags = reader.diags;
    check::check(source, &workflow, &mut diags);
    let plan = build::build(source, &workflow, &mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        diags.sort_by_key(|d| d.span().offset);
        return Err(diags);
    }
    Ok(plan)
}
