//! The `gantry` binary: parses the command line and hands over to [`gantry_cli`].

fn main() -> std::process::ExitCode {
    gantry_cli::main()
}
