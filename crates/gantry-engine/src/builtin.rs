//! Built-in steps: `uses:` values gantry serves itself (e.g. `actions/checkout`), looked
//! up by name without the `@ref`. Other crates (artifacts) add theirs through
//! [`BuiltinStep`] without the engine knowing them.

use std::sync::Arc;

use async_trait::async_trait;
use gantry_backend::Container;
use indexmap::IndexMap;

/// What a built-in step gets to work with.
pub struct BuiltinCall {
    /// The run's id.
    pub run_id: String,
    /// The key of the job the step is in.
    pub job_key: String,
    /// `with:` inputs, rendered.
    pub with: IndexMap<String, String>,
    /// Where the job's steps run.
    pub target: Arc<dyn Container>,
    /// Messages for the step log.
    pub log: tokio::sync::mpsc::UnboundedSender<String>,
}

/// A built-in step's result.
#[derive(Debug, Default, Clone)]
pub struct BuiltinOutcome {
    /// The step's outputs (`steps.<id>.outputs`).
    pub outputs: IndexMap<String, String>,
}

/// A step implemented inside gantry.
#[async_trait]
pub trait BuiltinStep: Send + Sync {
    /// `uses:` names it serves, without `@ref` (`actions/checkout`).
    fn names(&self) -> Vec<&'static str>;
    /// Runs the step; an error fails it with that message.
    async fn run(&self, call: BuiltinCall) -> Result<BuiltinOutcome, String>;
}

/// The built-in steps available to a run.
#[derive(Clone, Default)]
pub struct Builtins {
    steps: Vec<Arc<dyn BuiltinStep>>,
}

impl Builtins {
    /// The steps every gantry has (`actions/checkout`).
    pub fn standard() -> Self {
        let mut b = Builtins::default();
        b.add(Arc::new(Checkout));
        b
    }

    /// Adds `step`, serving its `uses:` name.
    pub fn add(&mut self, step: Arc<dyn BuiltinStep>) {
        self.steps.push(step);
    }

    /// The step serving `uses` (`owner/name@ref`), if any.
    pub fn find(&self, uses: &str) -> Option<Arc<dyn BuiltinStep>> {
        let name = uses.split('@').next().unwrap_or(uses).trim_end_matches('/');
        self.steps
            .iter()
            .find(|s| s.names().iter().any(|n| n.eq_ignore_ascii_case(name)))
            .cloned()
    }

    /// Every served name, for error hints.
    pub fn names(&self) -> Vec<&'static str> {
        self.steps.iter().flat_map(|s| s.names()).collect()
    }
}

/// `actions/checkout`: the job's workspace already holds the working tree gantry was
/// started in (as act does for the local repository), so there is nothing to fetch.
struct Checkout;

#[async_trait]
impl BuiltinStep for Checkout {
    fn names(&self) -> Vec<&'static str> {
        vec!["actions/checkout", "gantry/checkout"]
    }

    async fn run(&self, call: BuiltinCall) -> Result<BuiltinOutcome, String> {
        let _ = call.log.send(format!(
            "the workspace {} already holds the working tree; nothing to check out",
            call.target.paths().workspace
        ));
        Ok(BuiltinOutcome::default())
    }
}
