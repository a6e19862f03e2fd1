//! `helmsman insights`: delivery insights over a window of the journal, as
//! text (with a chart per environment and service) or JSON.

use chrono::{DateTime, NaiveDate, Utc};

use super::{ExitCode, OutputFormat};
use crate::insights::{self, Window};
use crate::store::{Filter, History};

/// The window `--since` opens by default.
pub const DEFAULT_SINCE: &str = "30d";

/// `--since`: how far back — `30d`, `2w`, `12h`, `90m` — or a date,
/// `2026-11-01` (from its midnight, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since(pub chrono::Duration);

/// The last 30 days ([`DEFAULT_SINCE`]): what the cockpit's insights show.
impl Default for Since {
    fn default() -> Since {
        Since(chrono::Duration::days(30))
    }
}

impl Since {
    /// The window from this far back until now, over what `filter` selects.
    pub fn until_now(self, filter: &Filter) -> Window<'_> {
        let until = Utc::now();
        Window {
            since: until - self.0,
            until,
            filter,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is neither a span like `30d`, `2w`, `12h`, `90m` nor a date like `2026-11-01`")]
pub struct NotASince(String);

/// Parses `--since`, counting a date's span back from now.
pub fn parse_since(text: &str) -> Result<Since, NotASince> {
    parse_since_at(text, Utc::now())
}

fn parse_since_at(text: &str, now: DateTime<Utc>) -> Result<Since, NotASince> {
    let bad = || NotASince(text.to_string());
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let start = date.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc();
        return (start < now).then(|| Since(now - start)).ok_or_else(bad);
    }
    let digits = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let number: i64 = text[..digits].parse().map_err(|_| bad())?;
    let span = match &text[digits..] {
        "w" => chrono::Duration::try_weeks(number),
        "d" => chrono::Duration::try_days(number),
        "h" => chrono::Duration::try_hours(number),
        "m" => chrono::Duration::try_minutes(number),
        _ => None,
    };
    span.filter(|s| *s > chrono::Duration::zero())
        .map(Since)
        .ok_or_else(bad)
}

pub fn run(history: &History, filter: &Filter, since: Since, output: OutputFormat) -> ExitCode {
    let insights = match insights::read(history, since.until_now(filter)) {
        Ok(insights) => insights,
        Err(e) => {
            crate::errln!("error: {e}");
            return ExitCode::Runtime;
        }
    };
    match output {
        OutputFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&insights).expect("insights serialize")
        ),
        OutputFormat::Text => {
            for line in insights::text::render(&insights) {
                crate::outln!("{line}");
            }
        }
    }
    ExitCode::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_dates() {
        let now = "2026-11-30T12:00:00Z".parse().unwrap();
        let days = |n| Since(chrono::Duration::days(n));
        assert_eq!(
            parse_since_at(DEFAULT_SINCE, now).unwrap(),
            Since::default()
        );
        assert_eq!(parse_since_at("30d", now).unwrap(), days(30));
        assert_eq!(parse_since_at("2w", now).unwrap(), days(14));
        assert_eq!(
            parse_since_at("12h", now).unwrap(),
            Since(chrono::Duration::hours(12))
        );
        assert_eq!(
            parse_since_at("2026-11-29", now).unwrap(),
            Since(chrono::Duration::hours(36))
        );
        for bad in ["", "30", "d", "0d", "3y", "-1d", "2026-12-01", "yesterday"] {
            assert!(parse_since_at(bad, now).is_err(), "{bad}");
        }
    }
}
