//! Any bytes as a workflow file: `load` returns a plan or located diagnostics, never
//! panics, never overflows the stack.
#![no_main]

use gantry_workflow::{load, SourceFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = SourceFile::new("fuzz.yml", String::from_utf8_lossy(data));
    if let Err(diagnostics) = load(&source) {
        for d in &diagnostics {
            assert!(d.span().offset <= source.text().len());
            let _ = d.position(&source);
        }
    }
});
