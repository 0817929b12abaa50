//! Any bytes as an expression, a template and a condition: parse, evaluate, never panic.
#![no_main]

use gantry_expr::{condition, parse, EvalContext, Template};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ctx = EvalContext::default();
    if let Ok(e) = parse(&text) {
        let _ = e.eval(&ctx);
        for r in e.references() {
            assert!(r.offset + r.len <= text.len());
        }
    }
    if let Ok(t) = Template::parse(&text) {
        let _ = t.render(&ctx);
    }
    let _ = condition(&text, &ctx);
});
