//! Per side and version request counters, cumulative since the data plane
//! started and never reset (Prometheus counter semantics: the analysis takes
//! differences of two readings).
//!
//! The hot path only touches atomics; the error-kind map is behind a mutex
//! because it is only written when a request fails.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::metrics::{
    LATENCY_BUCKETS_MS, LatencyHistogram, Sample, bucket_index, data_plane_bounds,
};

/// Which side of the routing table a version serves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Stable,
    New,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Stable => "stable",
            Side::New => "new",
        }
    }
}

/// How one proxied request ended, as far as the counters care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The upstream answered with this status; `error_kind` is the value of
    /// the configured error-kind header, if the response carried it.
    Answered {
        status: u16,
        error_kind: Option<&'a str>,
    },
    /// No upstream could be reached: the client got a 502.
    ConnectFailed,
    /// The upstream connection broke before a response head arrived: the
    /// client got a 502.
    UpstreamBroken,
}

impl Outcome<'_> {
    /// The status the client saw.
    fn status(&self) -> u16 {
        match self {
            Outcome::Answered { status, .. } => *status,
            Outcome::ConnectFailed | Outcome::UpstreamBroken => 502,
        }
    }

    /// `Some(kind)` when the request counts as an error. A named error kind
    /// wins over the status so that "TimeoutException" is visible as such.
    fn error_kind(&self) -> Option<String> {
        match self {
            Outcome::Answered {
                error_kind: Some(kind),
                ..
            } => Some((*kind).to_string()),
            Outcome::Answered { status, .. } if *status >= 500 => Some(format!("http_{status}")),
            Outcome::Answered { .. } => None,
            Outcome::ConnectFailed => Some("connect".to_string()),
            Outcome::UpstreamBroken => Some("upstream_broken".to_string()),
        }
    }
}

/// Counters of one version on one side.
#[derive(Debug)]
pub struct VersionCounters {
    requests: AtomicU64,
    /// Responses by status class: index 0 is 1xx … index 4 is 5xx.
    classes: [AtomicU64; 5],
    errors: AtomicU64,
    errors_by_kind: Mutex<BTreeMap<String, u64>>,
    /// Non-cumulative buckets with the shared bounds plus overflow, as
    /// [`LatencyHistogram`] stores them.
    latency_buckets: Box<[AtomicU64]>,
    latency_sum_us: AtomicU64,
}

impl Default for VersionCounters {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            classes: Default::default(),
            errors: AtomicU64::new(0),
            errors_by_kind: Mutex::new(BTreeMap::new()),
            latency_buckets: (0..=LATENCY_BUCKETS_MS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            latency_sum_us: AtomicU64::new(0),
        }
    }
}

/// A consistent-enough copy of one [`VersionCounters`] for exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CounterSnapshot {
    pub sample: Sample,
    pub classes: [u64; 5],
    pub latency_sum_seconds: f64,
}

impl VersionCounters {
    pub fn record(&self, outcome: Outcome<'_>, latency: Duration) {
        self.requests.fetch_add(1, Relaxed);
        let class = (outcome.status() / 100).clamp(1, 5) as usize - 1;
        self.classes[class].fetch_add(1, Relaxed);
        if let Some(kind) = outcome.error_kind() {
            self.errors.fetch_add(1, Relaxed);
            // A poisoned lock only means another request panicked mid-insert;
            // the map itself is still a valid map.
            let mut kinds = crate::sync::lock(&self.errors_by_kind);
            *kinds.entry(kind).or_insert(0) += 1;
        }
        let ms = latency.as_secs_f64() * 1000.0;
        self.latency_buckets[bucket_index(LATENCY_BUCKETS_MS, ms)].fetch_add(1, Relaxed);
        self.latency_sum_us
            .fetch_add(latency.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        let errors_by_kind = crate::sync::lock(&self.errors_by_kind).clone();
        CounterSnapshot {
            sample: Sample {
                requests: self.requests.load(Relaxed),
                errors: self.errors.load(Relaxed),
                errors_by_kind,
                latency: LatencyHistogram {
                    bounds_ms: data_plane_bounds(),
                    counts: self
                        .latency_buckets
                        .iter()
                        .map(|c| c.load(Relaxed))
                        .collect(),
                },
                reported_p95_ms: None,
            },
            classes: std::array::from_fn(|i| self.classes[i].load(Relaxed)),
            latency_sum_seconds: self.latency_sum_us.load(Relaxed) as f64 / 1e6,
        }
    }
}

/// Every (side, version) series that ever existed, in creation order, so
/// `/metrics` keeps exposing a series after its version left the table.
#[derive(Debug, Default)]
pub struct Registry {
    series: Mutex<Vec<(Side, String, Arc<VersionCounters>)>>,
}

impl Registry {
    /// The counters of `version` on `side`, created on first use.
    pub fn get(&self, side: Side, version: &str) -> Arc<VersionCounters> {
        let mut series = crate::sync::lock(&self.series);
        if let Some((_, _, c)) = series.iter().find(|(s, v, _)| *s == side && v == version) {
            return c.clone();
        }
        let counters = Arc::new(VersionCounters::default());
        series.push((side, version.to_string(), counters.clone()));
        counters
    }

    pub fn all(&self) -> Vec<(Side, String, Arc<VersionCounters>)> {
        crate::sync::lock(&self.series).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses_kinds_and_latency() {
        let c = VersionCounters::default();
        let ok = Outcome::Answered {
            status: 200,
            error_kind: None,
        };
        c.record(ok, Duration::from_millis(3));
        c.record(
            Outcome::Answered {
                status: 503,
                error_kind: None,
            },
            Duration::from_millis(45),
        );
        c.record(
            Outcome::Answered {
                status: 200,
                error_kind: Some("TimeoutException"),
            },
            Duration::from_millis(45),
        );
        c.record(Outcome::ConnectFailed, Duration::from_micros(100));
        let s = c.snapshot();
        assert_eq!(s.sample.requests, 4);
        assert_eq!(s.sample.errors, 3);
        assert_eq!(s.sample.errors_by_kind["http_503"], 1);
        assert_eq!(s.sample.errors_by_kind["TimeoutException"], 1);
        assert_eq!(s.sample.errors_by_kind["connect"], 1);
        assert_eq!(s.classes, [0, 2, 0, 0, 2]);
        assert_eq!(s.sample.latency.total(), 4);
        assert_eq!(s.sample.latency.counts[s.sample.latency.bucket_of(45.0)], 2);
        assert!((s.latency_sum_seconds - 0.0931).abs() < 1e-9);
    }

    #[test]
    fn registry_returns_the_same_series_per_side_and_version() {
        let r = Registry::default();
        let a = r.get(Side::Stable, "v1");
        let b = r.get(Side::Stable, "v1");
        let c = r.get(Side::New, "v1");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(r.all().len(), 2);
    }
}
