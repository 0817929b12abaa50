//! Writing to stdout and stderr. A closed pipe (`gantry validate x.yml | head -1`, or a
//! reader that went away) ends output quietly, as ripgrep does: never a panic, and the
//! command still finishes and exits with its own code. `print!` and friends panic on a
//! write error, so the CLI uses these macros instead.

use std::io::Write;

/// Writes formatted text to stdout, ignoring a closed pipe.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}

/// Writes formatted text to stderr, ignoring a closed pipe.
pub(crate) fn write_err(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `println!` that survives a closed stdout.
macro_rules! outln {
    () => { $crate::console::write_out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::console::write_out(format_args!("{}\n", format_args!($($t)*))) };
}

/// `eprint!` that survives a closed stderr.
macro_rules! err {
    ($($t:tt)*) => { $crate::console::write_err(format_args!($($t)*)) };
}

/// `eprintln!` that survives a closed stderr.
macro_rules! errln {
    () => { $crate::console::write_err(format_args!("\n")) };
    ($($t:tt)*) => { $crate::console::write_err(format_args!("{}\n", format_args!($($t)*))) };
}

pub(crate) use {err, errln, outln};
