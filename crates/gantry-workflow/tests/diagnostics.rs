#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The corpus of bad workflows: each file's diagnostics (place, message, label, help) are a
//! snapshot, so any change to what users are told is reviewed. Every file must produce at
//! least one error. How they look in a terminal is the CLI's snapshot tests.

use gantry_workflow::{load, Diagnostic, SourceFile};

/// One line per diagnostic: `line:col: message`, then the label and the help indented.
pub fn describe(source: &SourceFile, diagnostics: &[Diagnostic]) -> String {
    let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
    sorted.sort_by_key(|d| (d.span().offset, d.message().to_string()));
    let mut out = String::new();
    for d in sorted {
        let (line, col) = d.position(source);
        let word = if d.is_error() { "error" } else { "warning" };
        out.push_str(&format!("{line}:{col}: {word}: {}\n", d.message()));
        if let Some(l) = d.label() {
            out.push_str(&format!("    label: {l}\n"));
        }
        if let Some(h) = d.help() {
            out.push_str(&format!("    help: {h}\n"));
        }
    }
    out
}

#[test]
fn corpus() {
    insta::glob!("corpus/*.yml", |path| {
        let name = format!(
            "corpus/{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
        );
        let source = match SourceFile::read(path) {
            Ok(s) => SourceFile::new(name, s.text()),
            Err(d) => {
                let s = SourceFile::new(name.clone(), String::new());
                // The message names the path as given; keep the snapshot independent of
                // where the checkout lives.
                let shown = describe(&s, &[d]).replace(&path.display().to_string(), &name);
                insta::assert_snapshot!(shown);
                return;
            }
        };
        let diagnostics = match load(&source) {
            Ok(_) => panic!("{} is in the bad corpus but loads cleanly", source.name()),
            Err(d) => d,
        };
        assert!(!diagnostics.is_empty());
        insta::assert_snapshot!(describe(&source, &diagnostics));
    });
}
