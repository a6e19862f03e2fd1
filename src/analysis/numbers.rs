//! Numbers the way verdicts and events print them: "1 240 requests",
//! "7.9 %", "0:45 of 2:00". One place, so the cockpit, the headless lines and
//! the reports read alike.

use std::time::Duration;

/// `1240` → `"1 240"`: a space between thousands, readable at a glance.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A percentage with one decimal: `"7.9 %"`.
pub fn pct(value: f64) -> String {
    format!("{value:.1} %")
}

/// Milliseconds, with a decimal only where it matters: `"0.8 ms"`, `"210 ms"`.
pub fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.0} ms")
    }
}

/// `m:ss` (or `h:mm:ss`), as a countdown reads: `"0:45"`, `"2:00"`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_for_people() {
        assert_eq!(count(0), "0");
        assert_eq!(count(38), "38");
        assert_eq!(count(1240), "1 240");
        assert_eq!(count(1_234_567), "1 234 567");
        assert_eq!(pct(7.94), "7.9 %");
        assert_eq!(ms(0.84), "0.8 ms");
        assert_eq!(ms(210.4), "210 ms");
        assert_eq!(clock(Duration::from_secs(45)), "0:45");
        assert_eq!(clock(Duration::from_secs(120)), "2:00");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
    }
}
