//! Builds `shim/main.rs` into a static Linux executable that the backend embeds and
//! places in job containers (see `src/shim.rs`). Where it cannot be built (another OS,
//! no static C library) an empty file is embedded and every step uses the Engine API
//! exec path instead; the build says so.

// A build script reports failure by panicking: that is what cargo shows the user.
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=shim/main.rs");
    println!("cargo:rerun-if-changed=shim/wire.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dest = out.join("gantry-shim");
    let target = std::env::var("TARGET").unwrap_or_default();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let built = target.contains("linux")
        && Command::new(&rustc)
            .args([
                "--edition",
                "2021",
                "--crate-name",
                "gantry_shim",
                "--crate-type",
                "bin",
            ])
            .args([
                "-C",
                "opt-level=s",
                "-C",
                "panic=abort",
                "-C",
                "strip=symbols",
                "-C",
                "codegen-units=1",
            ])
            .args(["-C", "target-feature=+crt-static", "--target", &target])
            .arg("-o")
            .arg(&dest)
            .arg("shim/main.rs")
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if !built {
        println!("cargo:warning=gantry-shim could not be built for {target}: container steps will use Engine API execs");
        std::fs::write(&dest, b"").expect("OUT_DIR is writable");
    }
}
