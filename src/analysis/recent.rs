//! The recent past of a release: the cumulative readings of the last few
//! minutes, cut into consecutive parts, so a trigger can ask whether a
//! regression *held* — no part of its `after` period cleared it — rather
//! than whether it showed up once.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::metrics::Reading;

/// A held regression is checked in this many consecutive parts of the
/// trigger's `after` period (fewer when readings are sparser): a spike
/// that filled only part of the period leaves a part that clears it.
pub const HELD_PARTS: u32 = 4;

/// How finely the recent past is kept, as a share of the shortest part
/// asked for (a quarter of the shortest `after`): a part starts at most
/// this share of itself early.
const PART_RESOLUTION: u32 = 8;

/// Cumulative readings (counters since observation began), oldest first,
/// trimmed to what the longest `after` needs and thinned to a few per
/// shortest part: at a 1 s interval a 5-minute `after` would otherwise
/// keep 300 readings for each release.
#[derive(Debug, Clone)]
pub struct Recent {
    readings: VecDeque<(DateTime<Utc>, Reading)>,
    keep: Duration,
    /// Readings kept are at least this far apart (the latest excepted).
    spacing: chrono::Duration,
}

impl Recent {
    /// Starts with the empty reading at the start of observation; keeps
    /// `keep` of the past (the longest `after`) for parts of
    /// `shortest_after` and longer.
    pub fn new(since: DateTime<Utc>, keep: Duration, shortest_after: Duration) -> Recent {
        let spacing = shortest_after / (HELD_PARTS * PART_RESOLUTION);
        Recent {
            readings: VecDeque::from([(since, Reading::default())]),
            keep,
            spacing: chrono::Duration::from_std(spacing).unwrap_or_default(),
        }
    }

    pub fn push(&mut self, at: DateTime<Utc>, cumulative: Reading) {
        // The latest reading is always kept; the one it replaces as the
        // latest stays only if it is `spacing` after the one before it.
        let len = self.readings.len();
        if len >= 2 && self.readings[len - 1].0 - self.readings[len - 2].0 < self.spacing {
            self.readings.pop_back();
        }
        self.readings.push_back((at, cumulative));
        // Keep the newest reading at or before `at − keep`: the start of
        // the longest period asked for.
        let horizon = at - chrono::Duration::from_std(self.keep).unwrap_or(chrono::TimeDelta::MAX);
        while self.readings.len() > 2 && self.readings[1].0 <= horizon {
            self.readings.pop_front();
        }
    }

    pub fn latest(&self) -> &(DateTime<Utc>, Reading) {
        self.readings.back().expect("never empty")
    }

    /// The last `span` cut into `parts` consecutive windows, oldest first,
    /// each starting at the newest reading at or before its boundary.
    /// `None` while observation is shorter than `span` or a part would be
    /// empty (readings sparser than the parts).
    pub fn parts(&self, span: Duration, parts: u32) -> Option<Vec<Reading>> {
        let (now, _) = self.latest();
        let parts = parts.max(1);
        let span = chrono::Duration::from_std(span).ok()?;
        let mut starts = Vec::with_capacity(parts as usize);
        for i in 0..parts {
            let boundary = *now - span * (parts - i) as i32 / parts as i32;
            let index = self.readings.iter().rposition(|(at, _)| *at <= boundary)?;
            starts.push(index);
        }
        starts.push(self.readings.len() - 1);
        if starts.windows(2).any(|w| w[0] >= w[1]) {
            return None;
        }
        Some(
            starts
                .windows(2)
                .map(|w| self.readings[w[1]].1.since(&self.readings[w[0]].1))
                .collect(),
        )
    }
}

/// How many parts an `after` period is checked in: one per reading at
/// most, [`HELD_PARTS`] at least when readings allow.
pub fn parts_for(after: Duration, interval: Duration) -> u32 {
    if interval.is_zero() {
        return HELD_PARTS;
    }
    let readings = (after.as_secs_f64() / interval.as_secs_f64()).floor() as u32;
    readings.clamp(1, HELD_PARTS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Sample;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(s)
    }

    fn cumulative(requests: u64) -> Reading {
        Reading {
            new: Sample {
                requests,
                ..Sample::default()
            },
            baseline: Sample::default(),
        }
    }

    #[test]
    fn the_last_period_is_cut_into_consecutive_parts() {
        let mut r = Recent::new(at(0), Duration::from_secs(120), Duration::from_secs(120));
        for s in (10..=300).step_by(10) {
            r.push(at(s), cumulative(s as u64)); // 1 request a second
        }
        let parts = r.parts(Duration::from_secs(120), 4).unwrap();
        let counts: Vec<u64> = parts.iter().map(|p| p.new.requests).collect();
        assert_eq!(counts, vec![30, 30, 30, 30]);
        // Trimmed to what 120 s needs.
        assert!(r.readings.len() <= 14, "{}", r.readings.len());
    }

    #[test]
    fn readings_every_second_are_thinned_to_a_few_per_part() {
        // A 5-minute `after` alone at a 1 s interval, parts of 75 s:
        // readings are kept 10 s apart (at least 9.4 s), and a part starts
        // at most that much early.
        let five_minutes = Duration::from_secs(300);
        let mut r = Recent::new(at(0), five_minutes, five_minutes);
        for s in 1..=900 {
            r.push(at(s), cumulative(s as u64));
            let parts = r.parts(five_minutes, 4);
            for part in parts.iter().flatten() {
                let n = part.new.requests;
                assert!((66..=85).contains(&n), "at {s} s: a part of {n} s");
            }
        }
        assert!(r.readings.len() <= 34, "{}", r.readings.len());
    }

    #[test]
    fn no_parts_before_the_period_has_passed_or_with_sparse_readings() {
        let mut r = Recent::new(at(0), Duration::from_secs(120), Duration::from_secs(120));
        for s in (10..=110).step_by(10) {
            r.push(at(s), cumulative(s as u64));
        }
        assert!(r.parts(Duration::from_secs(120), 4).is_none());
        r.push(at(120), cumulative(120));
        assert!(r.parts(Duration::from_secs(120), 4).is_some());
        let mut sparse = Recent::new(at(0), Duration::from_secs(120), Duration::from_secs(120));
        sparse.push(at(100), cumulative(100));
        sparse.push(at(200), cumulative(200));
        assert!(sparse.parts(Duration::from_secs(120), 4).is_none());
        assert_eq!(
            parts_for(Duration::from_secs(120), Duration::from_secs(10)),
            4
        );
        assert_eq!(
            parts_for(Duration::from_secs(20), Duration::from_secs(10)),
            2
        );
        assert_eq!(
            parts_for(Duration::from_secs(5), Duration::from_secs(10)),
            1
        );
    }
}
