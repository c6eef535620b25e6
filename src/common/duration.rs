//! Durations as HyperQueue accepts and prints them: seconds, `MM:SS`, `HH:MM:SS`, or humantime.

use std::time::Duration;

/// Parses a duration flag value: `90`, `01:30`, `1:00:00`, `1h 30m`, `2 hours 5 minutes`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
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
            let secs = nums.iter().fold(0u64, |acc, n| acc * 60 + n);
            return Ok(Duration::from_secs(secs));
        }
        return Err(format!(
            "invalid duration `{text}`: use seconds, MM:SS, HH:MM:SS or a form like `1h 30m`"
        ));
    }
    parse_humantime(text)
}

/// Parses only the humantime form (`1h 30m`, `90s`), as job files require.
pub fn parse_humantime(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| {
        format!("invalid duration `{text}`: {e}; use a form like `90s`, `30m` or `1h 30m`")
    })
}

/// Prints a duration in humantime form, rounded to whole seconds when it is longer than one.
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
}
