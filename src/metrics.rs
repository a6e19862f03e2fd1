//! Cumulative request counters for one version of a service, as every metrics
//! provider reports them.
//!
//! Providers report *cumulative* counters (like Prometheus counters): the
//! embedded data plane reads its own counters, Prometheus answers instant
//! queries of the counters as they stand (never `rate()` or `increase()`,
//! which are windows of their own). The analysis takes the difference of
//! two readings to judge a window, so "after 2 minutes of observation" is
//! `now - start_of_window` on two readings and never needs raw per-request
//! samples.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

/// Upper bounds (milliseconds) of the latency buckets, shared by the data
/// plane, its `/metrics` exposition and the analysis. Roughly ×1.25 apart,
/// so an interpolated quantile is within about 12 % of the true value —
/// fine enough to tell a ×2 p95 from noise.
pub const LATENCY_BUCKETS_MS: &[f64] = &[
    0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.5, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 125.0, 150.0, 200.0, 250.0, 300.0, 400.0, 500.0,
    600.0, 800.0, 1000.0, 1250.0, 1500.0, 2000.0, 2500.0, 3000.0, 4000.0, 5000.0, 7500.0, 10000.0,
    15000.0, 30000.0, 60000.0,
];

/// A latency histogram: upper bucket bounds in milliseconds plus an
/// overflow bucket. `counts[i]` counts requests with latency `<= bounds[i]`
/// and `> bounds[i-1]` (non-cumulative); the last entry counts the overflow.
///
/// The bounds travel with the counts because providers differ: the embedded
/// data plane uses [`LATENCY_BUCKETS_MS`], a Prometheus histogram whatever
/// `le` buckets the service exports.
///
/// A release keeps many histograms (every reading of its recent past, two
/// per reading), nearly all over the data plane's buckets: the bounds are
/// shared, and the data plane's are left out of JSON (a reader without
/// bounds takes them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    #[serde(
        default = "data_plane_bounds",
        deserialize_with = "shared_bounds",
        skip_serializing_if = "is_data_plane_bounds"
    )]
    pub bounds_ms: Arc<[f64]>,
    pub counts: Vec<u64>,
}

/// Index of the bucket of `bounds_ms` (ascending upper bounds) that holds
/// `ms`; `bounds_ms.len()` is the overflow bucket.
pub fn bucket_index(bounds_ms: &[f64], ms: f64) -> usize {
    bounds_ms.partition_point(|&bound| bound < ms)
}

/// The data plane's bounds, one allocation for every histogram over them.
pub fn data_plane_bounds() -> Arc<[f64]> {
    static BOUNDS: LazyLock<Arc<[f64]>> = LazyLock::new(|| Arc::from(LATENCY_BUCKETS_MS));
    BOUNDS.clone()
}

/// Whether two histograms' bounds are the same, most often the one shared
/// allocation.
fn same_bounds(a: &Arc<[f64]>, b: &Arc<[f64]>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

fn is_data_plane_bounds(bounds: &Arc<[f64]>) -> bool {
    **bounds == *LATENCY_BUCKETS_MS
}

fn shared_bounds<'de, D: serde::Deserializer<'de>>(reader: D) -> Result<Arc<[f64]>, D::Error> {
    let bounds = Vec::<f64>::deserialize(reader)?;
    Ok(match bounds == LATENCY_BUCKETS_MS {
        true => data_plane_bounds(),
        false => bounds.into(),
    })
}

impl Default for LatencyHistogram {
    /// An empty histogram with the data plane's buckets.
    fn default() -> Self {
        Self::data_plane()
    }
}

impl LatencyHistogram {
    /// An empty histogram over `bounds_ms` (ascending upper bounds).
    pub fn with_bounds(bounds_ms: Vec<f64>) -> Self {
        let counts = vec![0; bounds_ms.len() + 1];
        Self {
            bounds_ms: bounds_ms.into(),
            counts,
        }
    }

    /// An empty histogram over the data plane's buckets.
    pub fn data_plane() -> Self {
        let bounds_ms = data_plane_bounds();
        let counts = vec![0; bounds_ms.len() + 1];
        Self { bounds_ms, counts }
    }

    /// Whether the counts fit the bounds (one overflow bucket more) and the
    /// bounds ascend: what a provider's answer must satisfy to be judged.
    pub fn is_consistent(&self) -> bool {
        self.counts.len() == self.bounds_ms.len() + 1
            && self.bounds_ms.windows(2).all(|w| w[0] < w[1])
    }

    /// Index of the bucket that holds `ms`.
    pub fn bucket_of(&self, ms: f64) -> usize {
        bucket_index(&self.bounds_ms, ms)
    }

    pub fn record_ms(&mut self, ms: f64) {
        let i = self.bucket_of(ms);
        self.counts[i] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Counts recorded since `earlier` (both cumulative over time).
    /// Saturates at zero if a counter went backwards (a restarted provider);
    /// histograms over different buckets cannot be subtracted, so the later
    /// one is taken whole.
    pub fn since(&self, earlier: &LatencyHistogram) -> LatencyHistogram {
        if !same_bounds(&self.bounds_ms, &earlier.bounds_ms) {
            return self.clone();
        }
        LatencyHistogram {
            bounds_ms: self.bounds_ms.clone(),
            counts: self
                .counts
                .iter()
                .zip(earlier.counts.iter().chain(std::iter::repeat(&0)))
                .map(|(now, then)| now.saturating_sub(*then))
                .collect(),
        }
    }

    /// Both histograms' counts together. Histograms over different buckets
    /// cannot be added: the one with the more requests is taken whole.
    pub fn plus(&self, other: &LatencyHistogram) -> LatencyHistogram {
        if !same_bounds(&self.bounds_ms, &other.bounds_ms) {
            let larger = if self.total() >= other.total() {
                self
            } else {
                other
            };
            return larger.clone();
        }
        LatencyHistogram {
            bounds_ms: self.bounds_ms.clone(),
            counts: self
                .counts
                .iter()
                .zip(&other.counts)
                .map(|(a, b)| a + b)
                .collect(),
        }
    }

    /// Requests slower than `ms`, read the way [`Self::quantile_ms`] reads
    /// a quantile: a bucket straddling `ms` counts for the share of its
    /// width above it (latencies taken as spread evenly inside a bucket),
    /// the overflow bucket wholly.
    pub fn count_above(&self, ms: f64) -> f64 {
        let mut above = 0.0;
        for (i, &count) in self.counts.iter().enumerate() {
            let lower = if i == 0 { 0.0 } else { self.bounds_ms[i - 1] };
            let share = match self.bounds_ms.get(i) {
                _ if lower >= ms => 1.0,
                Some(&upper) if upper > ms => (upper - ms) / (upper - lower),
                Some(_) => 0.0,
                None => 1.0,
            };
            above += count as f64 * share;
        }
        above
    }

    /// The `q` quantile (0..=1) in milliseconds, interpolated linearly inside
    /// its bucket as Prometheus' `histogram_quantile` does. `None` when empty.
    ///
    /// ```
    /// use helmsman::metrics::LatencyHistogram;
    ///
    /// let mut h = LatencyHistogram::default();
    /// for ms in 1..=100 {
    ///     h.record_ms(ms as f64);
    /// }
    /// let p95 = h.quantile_ms(0.95).unwrap();
    /// assert!((90.0..=100.0).contains(&p95), "{p95}");
    /// assert_eq!(LatencyHistogram::default().quantile_ms(0.95), None);
    /// ```
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total as f64;
        let mut seen = 0u64;
        for (i, &count) in self.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            if (seen + count) as f64 >= rank {
                let lower = if i == 0 { 0.0 } else { self.bounds_ms[i - 1] };
                let Some(&upper) = self.bounds_ms.get(i) else {
                    // Overflow bucket: the best we can say is its lower bound.
                    return Some(lower);
                };
                let inside = (rank - seen as f64) / count as f64;
                return Some(lower + (upper - lower) * inside.clamp(0.0, 1.0));
            }
            seen += count;
        }
        self.bounds_ms.last().copied()
    }
}

/// Whether an error kind was named by the service — the value of its
/// error-kind header, an exception type — rather than a generic class the
/// data plane records when the service names none (`http_503`, `connect`).
/// The new-error-kind trigger judges named kinds only: generic classes are
/// what the error-rate trigger weighs, and a 500 is not a new kind of
/// failure just because the baseline happened to answer none.
pub fn is_named_error_kind(kind: &str) -> bool {
    let generic_status = kind
        .strip_prefix("http_")
        .is_some_and(|code| code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()));
    !(generic_status || kind == "connect")
}

/// Cumulative counters of one version (the new one, or its baseline).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Requests answered (or failed) so far.
    pub requests: u64,
    /// Requests that count as errors: 5xx, connection failures, or a response
    /// that names an error kind in the configured header.
    pub errors: u64,
    /// Errors by kind: `"http_503"`, `"connect"`, or the value of the
    /// configured error-kind header (e.g. `"TimeoutException"`).
    pub errors_by_kind: BTreeMap<String, u64>,
    pub latency: LatencyHistogram,
    /// A p95 (ms) the provider computed itself, for providers that can give
    /// a quantile but no buckets (a Prometheus summary, a precomputed
    /// `histogram_quantile`). It describes the provider's own window, so
    /// [`Sample::since`] keeps the later one. The histogram wins when both
    /// are present: only buckets allow confidence bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_p95_ms: Option<f64>,
}

impl Sample {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Sample) -> Sample {
        Sample {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            errors_by_kind: self
                .errors_by_kind
                .iter()
                .map(|(kind, n)| {
                    let before = earlier.errors_by_kind.get(kind).copied().unwrap_or(0);
                    (kind.clone(), n.saturating_sub(before))
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
            latency: self.latency.since(&earlier.latency),
            reported_p95_ms: self.reported_p95_ms,
        }
    }

    /// Both samples' traffic together: `self` is the later one, whose
    /// reported p95 is kept when it has one.
    pub fn plus(&self, earlier: &Sample) -> Sample {
        let mut errors_by_kind = earlier.errors_by_kind.clone();
        for (kind, n) in &self.errors_by_kind {
            *errors_by_kind.entry(kind.clone()).or_default() += n;
        }
        Sample {
            requests: self.requests + earlier.requests,
            errors: self.errors + earlier.errors,
            errors_by_kind,
            latency: self.latency.plus(&earlier.latency),
            reported_p95_ms: self.reported_p95_ms.or(earlier.reported_p95_ms),
        }
    }

    /// Error rate in percent, `None` without requests.
    pub fn error_rate_pct(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 * 100.0 / self.requests as f64)
    }

    pub fn p95_ms(&self) -> Option<f64> {
        let reported = self.reported_p95_ms.filter(|v| v.is_finite() && *v >= 0.0);
        self.latency.quantile_ms(0.95).or(reported)
    }
}

/// One reading of a metrics provider: the new version and its baseline
/// (the stable version serving the rest of the traffic), both cumulative.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub new: Sample,
    pub baseline: Sample,
}

impl Reading {
    pub fn since(&self, earlier: &Reading) -> Reading {
        Reading {
            new: self.new.since(&earlier.new),
            baseline: self.baseline.since(&earlier.baseline),
        }
    }

    /// Both readings' traffic together; `self` is the later one.
    pub fn plus(&self, earlier: &Reading) -> Reading {
        Reading {
            new: self.new.plus(&earlier.new),
            baseline: self.baseline.plus(&earlier.baseline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_planes_bounds_are_shared_and_left_out_of_json() {
        let mut h = LatencyHistogram::default();
        h.record_ms(45.0);
        let json = serde_json::to_string(&h).unwrap();
        assert!(!json.contains("bounds_ms"), "{json}");
        let read: LatencyHistogram = serde_json::from_str(&json).unwrap();
        assert_eq!(read, h);
        assert!(Arc::ptr_eq(&read.bounds_ms, &h.bounds_ms));
        // Written out in full, they are read into the shared allocation too.
        let full = format!(
            r#"{{"bounds_ms":{:?},"counts":{:?}}}"#,
            LATENCY_BUCKETS_MS, h.counts
        );
        let read: LatencyHistogram = serde_json::from_str(&full).unwrap();
        assert!(Arc::ptr_eq(&read.bounds_ms, &h.bounds_ms));
        // Other bounds (a Prometheus histogram's) travel with the counts.
        let other = LatencyHistogram::with_bounds(vec![5.0, 50.0]);
        let json = serde_json::to_string(&other).unwrap();
        assert!(json.contains(r#""bounds_ms":[5.0,50.0]"#), "{json}");
        assert_eq!(
            serde_json::from_str::<LatencyHistogram>(&json).unwrap(),
            other
        );
    }

    #[test]
    fn requests_above_a_latency_interpolate_inside_its_bucket() {
        let mut h = LatencyHistogram::default();
        for _ in 0..100 {
            h.record_ms(45.0); // bucket (40, 50]
        }
        h.record_ms(90.0); // (80, 100]
        h.record_ms(1e9); // overflow
        assert_eq!(h.count_above(100.0), 1.0);
        assert_eq!(h.count_above(30.0), 102.0);
        assert!((h.count_above(48.0) - (20.0 + 2.0)).abs() < 1e-9);
    }

    #[test]
    fn quantile_interpolates_inside_the_bucket() {
        let mut h = LatencyHistogram::default();
        for _ in 0..100 {
            h.record_ms(45.0); // bucket (40, 50]
        }
        let p95 = h.quantile_ms(0.95).unwrap();
        assert!(p95 > 40.0 && p95 <= 50.0, "{p95}");
        assert_eq!(LatencyHistogram::default().quantile_ms(0.95), None);
    }

    #[test]
    fn quantile_separates_a_slow_tail() {
        let mut h = LatencyHistogram::default();
        for _ in 0..90 {
            h.record_ms(10.0);
        }
        for _ in 0..10 {
            h.record_ms(900.0);
        }
        assert!(h.quantile_ms(0.5).unwrap() <= 10.0);
        assert!(h.quantile_ms(0.95).unwrap() > 800.0);
    }

    #[test]
    fn since_subtracts_and_saturates() {
        let a = Sample {
            requests: 10,
            errors: 2,
            errors_by_kind: [("http_500".to_string(), 2)].into(),
            ..Sample::default()
        };
        let mut b = a.clone();
        b.requests = 30;
        b.errors = 3;
        b.errors_by_kind.insert("http_500".into(), 3);
        b.latency.record_ms(5.0);
        let d = b.since(&a);
        assert_eq!((d.requests, d.errors), (20, 1));
        assert_eq!(d.errors_by_kind["http_500"], 1);
        assert_eq!(d.latency.total(), 1);
        // A restarted provider never yields negative counts.
        assert_eq!(a.since(&b).requests, 0);
    }
}

/// What each version used of its CPU and memory when a release ended, in
/// percent of what it may use, as the metrics source's `cpu` and `memory`
/// templates say. `None` where nothing was asked or nothing answered: a
/// figure never guessed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceUse {
    pub cpu_pct: PerVersion,
    pub memory_pct: PerVersion,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PerVersion {
    pub new: Option<f64>,
    pub stable: Option<f64>,
}
