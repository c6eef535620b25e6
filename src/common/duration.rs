//! Durations as HyperQueue accepts and prints them: seconds, `MM:SS`, `HH:MM:SS`, or humantime.

use std::time::Duration;

/// The longest duration any flag or job-file key accepts (ten years): enough for every real
/// limit, and far from overflowing the milliseconds the protocol carries.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Parses a duration flag value: `90`, `01:30`, `1:00:00`, `1h 30m`, `2 hours 5 minutes`;
/// at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_any(text).and_then(|d| bounded(text, d))
}

fn bounded(text: &str, d: Duration) -> Result<Duration, String> {
    if d > MAX_DURATION {
        return Err(format!(
            "invalid duration `{}`: at most 10 years ({} seconds) is accepted",
            text.trim(),
            MAX_DURATION.as_secs()
        ));
    }
    Ok(d)
}

fn parse_any(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| format!("invalid duration `{text}`: {e}"));
    }
    if text.contains(':') {
        let parts: Vec<&str> = text.split(':').collect();
        let nums: Result<Vec<u64>, _> = parts.iter().map(|p| p.parse::<u64>()).collect();
        if let (Ok(nums), 2..=3) = (nums, parts.len()) {
            let secs = nums
                .iter()
                .try_fold(0u64, |acc, n| acc.checked_mul(60)?.checked_add(*n));
            return Ok(Duration::from_secs(secs.unwrap_or(u64::MAX)));
        }
        return Err(format!(
            "invalid duration `{text}`: use seconds, MM:SS, HH:MM:SS or a form like `1h 30m`"
        ));
    }
    humantime_form(text)
}

/// Parses only the humantime form (`1h 30m`, `90s`), as job files require; at most
/// [`MAX_DURATION`].
pub fn parse_humantime(text: &str) -> Result<Duration, String> {
    humantime_form(text).and_then(|d| bounded(text, d))
}

fn humantime_form(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| {
        format!("invalid duration `{text}`: {e}; use a form like `90s`, `30m` or `1h 30m`")
    })
}

/// Prints a duration in humantime form, rounded to whole seconds when it is longer than one.
/// Whole seconds, rounded up: a time request of `500ms` still asks for a worker that lives on
/// (requests are kept in seconds, as the reference's JSON shows them).
pub fn whole_secs_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

pub fn format_duration(d: Duration) -> String {
    if d.as_secs() >= 1 {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    } else {
        humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
    }
}

/// Prints a configured duration (a time limit, a heartbeat) in humantime form to the
/// millisecond, as it was given: `1s 200ms`.
pub fn format_duration_ms(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_all_forms() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("01:30").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1:00:00").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("1h 30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("2 hours 5 minutes").unwrap().as_secs(), 7500);
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("1:2:3:4").is_err());
        assert_eq!(format_duration(Duration::from_secs(70)), "1m 10s");
        assert_eq!(format_duration(Duration::from_millis(1200)), "1s");
        assert_eq!(format_duration_ms(Duration::from_millis(1200)), "1s 200ms");
        assert_eq!(format_duration_ms(Duration::from_secs(8)), "8s");
    }

    #[test]
    fn absurd_durations_are_refused_not_wrapped() {
        for text in [
            "99999999999999h",
            "315360001",
            "999999999999999999:00:00",
            "11 years",
        ] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.contains("at most 10 years"), "{text}: {e}");
        }
        assert!(parse_humantime("100000 days").is_err());
        assert_eq!(parse_duration("315360000").unwrap(), MAX_DURATION);
    }
}
