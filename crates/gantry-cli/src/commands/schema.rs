//! `gantry schema`: the workflow file's JSON Schema.

use crate::console::outln;
use crate::exit::{CliError, Outcome};

pub(crate) fn schema() -> Result<Outcome, CliError> {
    let text = serde_json::to_string_pretty(&gantry_workflow::schema())
        .map_err(|e| CliError::Other(e.to_string()))?;
    outln!("{text}");
    Ok(Outcome::Success)
}
