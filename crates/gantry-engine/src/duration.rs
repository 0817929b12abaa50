//! Durations a workflow sets (`timeout-minutes`, retry delays), read safely, and how
//! durations are shown in messages.
//!
//! A workflow value may be any number an expression yields (`${{ fromJSON('1e308') }}`);
//! `Duration::from_secs_f64` panics on what it cannot hold, so nothing here uses it.

use std::time::Duration;

/// The longest `timeout-minutes` taken (a year), the same limit validation holds
/// literals to. Longer values are refused with a message rather than clamped silently.
pub(crate) use gantry_workflow::MAX_TIMEOUT_MINUTES;

/// Reads a rendered `timeout-minutes` value: a positive number of minutes, at most
/// [`MAX_TIMEOUT_MINUTES`].
pub(crate) fn timeout_minutes(text: &str) -> Result<Duration, String> {
    let m: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of minutes"))?;
    if !m.is_finite() || m <= 0.0 {
        return Err(format!("`{text}` must be a positive number of minutes"));
    }
    if m > MAX_TIMEOUT_MINUTES {
        return Err(format!(
            "`{text}` minutes is longer than gantry waits for anything \
             ({MAX_TIMEOUT_MINUTES} minutes, one year); remove `timeout-minutes` or give a shorter one"
        ));
    }
    Ok(seconds(m * 60.0))
}

/// `secs` as a duration: negative or NaN is zero, and more than a year is a year.
pub(crate) fn seconds(secs: f64) -> Duration {
    let max = MAX_TIMEOUT_MINUTES * 60.0;
    let secs = if secs.is_nan() {
        0.0
    } else {
        secs.clamp(0.0, max)
    };
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)
}

/// `1m 30s`-style duration for messages.
pub(crate) fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.0}s").replace(".0s", "s")
    } else {
        let m = (s / 60.0).floor();
        let rest = s - m * 60.0;
        if rest < 0.5 {
            format!("{m:.0}m")
        } else {
            format!("{m:.0}m {rest:.0}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(Duration::from_secs(5)), "5s");
        assert_eq!(human_duration(Duration::from_secs(90)), "1m 30s");
        assert_eq!(human_duration(Duration::from_secs(120)), "2m");
    }

    #[test]
    fn huge_or_odd_timeouts_are_errors_not_panics() {
        assert_eq!(timeout_minutes("1.5"), Ok(Duration::from_secs(90)));
        for bad in [
            "1e308",
            "18446744073709551615",
            "inf",
            "NaN",
            "-1",
            "0",
            "x",
        ] {
            assert!(timeout_minutes(bad).is_err(), "{bad}");
        }
        assert!(timeout_minutes("525600").is_ok());
        assert_eq!(seconds(f64::MAX), Duration::from_secs(525_600 * 60));
        assert_eq!(seconds(f64::NAN), Duration::ZERO);
        assert_eq!(seconds(-3.0), Duration::ZERO);
    }
}
