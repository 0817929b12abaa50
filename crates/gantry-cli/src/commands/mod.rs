//! One module per subcommand.

pub(crate) mod gc;
pub(crate) mod logs;
pub(crate) mod pack;
pub(crate) mod plugin;
pub(crate) mod probe;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod remote;
pub(crate) mod remote_login;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod schema;
pub(crate) mod validate;
