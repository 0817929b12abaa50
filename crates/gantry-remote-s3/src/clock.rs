//! Timestamps for release records and URL expiries, as RFC 3339 UTC to the second.

use std::time::{Duration, SystemTime};

/// Now as RFC 3339 UTC (`2024-05-01T12:00:00Z`).
pub(crate) fn now_rfc3339() -> String {
    rfc3339_after(Duration::ZERO)
}

/// Now plus `later` as RFC 3339 UTC (when a presigned URL stops working).
pub(crate) fn rfc3339_after(later: Duration) -> String {
    let at = SystemTime::now()
        .checked_add(later)
        .unwrap_or_else(SystemTime::now);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_instants() {
        let at = |s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        let f = |s| humantime::format_rfc3339_seconds(at(s)).to_string();
        assert_eq!(f(0), "1970-01-01T00:00:00Z");
        assert_eq!(f(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(f(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
