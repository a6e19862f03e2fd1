//! Durations written as `"30s"`, `"2m"`, `"1h30m"`, `"250ms"`.

use std::time::Duration;

/// The longest duration the configuration accepts: 30 days. Every pause,
/// window and timeout stays far from the ends of the clock's range, so
/// adding one to "now" or summing a plan's steps can never overflow.
pub const MAX: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why a text is not a duration; each says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("`{0}` contains a space; write units right after numbers")]
    Space(String),
    #[error("`{0}` is not a duration")]
    NotADuration(String),
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("`{0}` has a number without a unit")]
    NoUnit(String),
    #[error("unknown unit `{unit}` in `{text}`")]
    UnknownUnit { unit: String, text: String },
    #[error(
        "`{0}` is longer than {max} (30 days), the longest duration accepted; \
         to wait for as long as it takes, use a manual gate ({{ gate = \"manual\" }})",
        max = format(MAX)
    )]
    TooLong(String),
}

/// Parses a human duration. The error says what was expected.
///
/// ```
/// use std::time::Duration;
/// use helmsman::config::duration::parse;
///
/// assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
/// assert!(parse("2 minutes").unwrap_err().to_string().contains("space"));
/// ```
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.contains(char::is_whitespace) {
        return Err(DurationError::Space(text.to_string()));
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::NotADuration(text.to_string()));
        }
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::NotANumber(rest[..digits].to_string()))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            "" => return Err(DurationError::NoUnit(text.to_string())),
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_string(),
                    text: text.to_string(),
                });
            }
        };
        rest = &rest[unit_len..];
        total = Duration::try_from_secs_f64(seconds)
            .ok()
            .and_then(|d| total.checked_add(d))
            .filter(|total| *total <= MAX)
            .ok_or_else(|| DurationError::TooLong(text.to_string()))?;
    }
    Ok(total)
}

/// Formats a duration the way it is written in the configuration.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "10", "s", "5 minutes", "3d", "1..2s", "-1s", "1e999s"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_end_at_30_days() {
        assert_eq!(parse("720h"), Ok(MAX));
        assert_eq!(parse("719h59m60s"), Ok(MAX));
        for too_long in [
            "720h1ms",
            "2300000000h",
            "2562047788015216h",
            "99999999999999999999s",
        ] {
            let e = parse(too_long).unwrap_err().to_string();
            assert!(e.contains("longest duration accepted"), "{too_long}: {e}");
        }
    }
}
