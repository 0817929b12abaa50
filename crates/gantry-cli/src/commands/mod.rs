//! One module per subcommand.

pub mod gc;
pub mod logs;
pub mod pack;
pub mod plugin;
pub mod probe;
pub mod remote;
pub mod run;
pub mod runs;
pub mod schema;
pub mod validate;
