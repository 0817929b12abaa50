//! Whether a component a test needs is present, by one rule for every suite.

/// Whether a component a test needs is there (`ok`). With `CI=true` a missing one fails
/// the test, naming what sets it up (`fix`); elsewhere the test is skipped and says why
/// on stderr. Never skips silently.
pub fn required(ok: bool, missing: &str, fix: &str) -> bool {
    if !ok && std::env::var("CI").as_deref() == Ok("true") {
        panic!("{missing} and CI=true: {fix}");
    }
    if !ok {
        eprintln!("skipping: {missing} ({fix})");
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_components_are_required_quietly() {
        assert!(required(true, "x", "y"));
    }
}
