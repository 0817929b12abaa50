#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The corpus of bad workflows: each file's rendered diagnostics are a snapshot, so any
//! change to what users see is reviewed. Every file must produce at least one error.

use gantry_workflow::{load, render, SourceFile};

#[test]
fn corpus() {
    insta::glob!("corpus/*.yml", |path| {
        let name = format!(
            "corpus/{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
        );
        let source = match SourceFile::read(path) {
            Ok(s) => SourceFile::new(name, s.text),
            Err(d) => {
                let s = SourceFile::new(name.clone(), String::new());
                // The message names the path as given; keep the snapshot independent of
                // where the checkout lives.
                let shown = render(&s, &[d], false).replace(&path.display().to_string(), &name);
                insta::assert_snapshot!(shown);
                return;
            }
        };
        let diagnostics = match load(&source) {
            Ok(_) => panic!("{} is in the bad corpus but loads cleanly", source.name),
            Err(d) => d,
        };
        assert!(!diagnostics.is_empty());
        insta::assert_snapshot!(render(&source, &diagnostics, false));
    });
}
