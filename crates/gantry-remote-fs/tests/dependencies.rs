#![allow(clippy::unwrap_used, clippy::expect_used)]
//! An adapter written in Rust depends on the wire types only: `gantry-remote-fs` pulls in
//! no HTTP client, rate limiter or process library (it used to, through `gantry-remote`).

#[test]
fn the_reference_adapter_needs_only_the_wire_crate() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "gantry-remote-fs",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"gantry-remote-protocol"), "{tree}");
    for banned in ["gantry-remote", "reqwest", "governor", "nix", "tokio"] {
        assert!(
            !crates.contains(&banned),
            "gantry-remote-fs depends on {banned}:\n{tree}"
        );
    }
}
