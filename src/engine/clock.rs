//! Time for the driver. The state machine never reads a clock: the driver
//! passes `now` in, from a [`Clock`]. [`TokioClock`] follows tokio's clock,
//! so `tokio::time::pause()` makes "after 2 minutes of observation" a test
//! that runs in milliseconds.

use std::time::Duration;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time anchored once, then advanced by tokio's monotonic clock
/// (which tests can pause and advance).
#[derive(Debug, Clone)]
pub struct TokioClock {
    anchor: DateTime<Utc>,
    started: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> Self {
        Self::anchored_at(Utc::now())
    }

    /// A clock reading `anchor` now (tests pin the date for stable output).
    pub fn anchored_at(anchor: DateTime<Utc>) -> Self {
        Self {
            anchor,
            started: tokio::time::Instant::now(),
        }
    }

    /// How far `at` is from now, zero if it is already past.
    pub fn until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.now()).to_std().unwrap_or(Duration::ZERO)
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.started.elapsed();
        self.anchor + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_tokio_time() {
        let anchor = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = TokioClock::anchored_at(anchor);
        assert_eq!(clock.now(), anchor);
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!((clock.now() - anchor).num_seconds(), 120);
        assert_eq!(clock.until(anchor), Duration::ZERO);
    }
}
