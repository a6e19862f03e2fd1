//! The p95-latency trigger: the new version's p95 over its baseline's, as
//! a ratio, with a minimum absolute increase under which no ratio counts.
//!
//! Bounds on a p95 come from the ranks of a confidence sequence
//! ([`sequences::quantile_ranks`]) — valid for the rank at every reading —
//! with the value at that rank read off the histogram by interpolation
//! inside its bucket, as Prometheus' `histogram_quantile` does. That value
//! assumes latencies spread evenly inside a bucket, so it can miss the true
//! quantile by up to a bucket's width (×1.25 for the data plane's buckets);
//! the same reading on both sides of the ratio keeps identical
//! distributions at ×1.
//!
//! The detector tests a share: with the baseline's p95 bounded from above
//! by `b`, a new version whose p95 is at most the tolerated ratio (and
//! increase) has at most 5 % of its requests slower than
//! `max(tolerated ratio × b, b + tolerated increase)`; more than that is
//! evidence of a regression.

use std::time::Duration;

use crate::analysis::detector::{Count, Detector};
use crate::analysis::numbers::{count, ms};
use crate::analysis::sequences;
use crate::config::{Analysis, Trigger};
use crate::engine::types::TriggerKind;
use crate::metrics::{LatencyHistogram, Reading};

use super::{
    Arrival, Bounds, Finding, P95_BASELINE_FLOOR_MS, confidence_words, half_of_the_budget, over,
    tolerated,
};

/// The p95: 5 % of requests are slower.
const SLOWER_THAN_P95: f64 = 0.05;

/// The tolerated increase in milliseconds: the tolerance's share of the
/// minimum increase.
fn tolerated_increase_ms(trigger: &Trigger, analysis: &Analysis) -> f64 {
    trigger.tolerance(analysis) * trigger.min_increase.as_secs_f64() * 1000.0
}

fn floored(baseline_ms: f64) -> f64 {
    baseline_ms.max(P95_BASELINE_FLOOR_MS)
}

pub(super) fn finding(
    trigger: &Trigger,
    analysis: &Analysis,
    window: &Reading,
    span: Option<Duration>,
) -> Finding {
    let (new, base) = (&window.new, &window.baseline);
    let (new_p95, baseline_p95) = (new.p95_ms(), base.p95_ms());
    let tolerated = tolerated(trigger, analysis, 1.0);
    let min_increase_ms = trigger.min_increase.as_secs_f64() * 1000.0;
    let histograms = has_histograms(window);
    let baseline_known = base.requests >= analysis.min_requests.max(1);
    // Bounds on both p95s, each side at half the budget.
    let p95s = match (new_p95, baseline_p95) {
        (Some(n), Some(b)) if baseline_known && !histograms => Some(((n, n), (b, b))),
        (Some(_), Some(_)) if baseline_known => {
            let side = half_of_the_budget(analysis);
            let (new_lo, new_hi) = p95_bounds_ms(&new.latency, side);
            let (base_lo, base_hi) = p95_bounds_ms(&base.latency, side);
            Some((
                (new_lo.unwrap_or(0.0), new_hi.unwrap_or(f64::INFINITY)),
                (base_lo.unwrap_or(0.0), base_hi.unwrap_or(f64::INFINITY)),
            ))
        }
        _ => None,
    };
    let bounds = p95s.map(|((new_lo, new_hi), (base_lo, base_hi))| Bounds {
        lower: new_lo / floored(base_hi),
        upper: new_hi / floored(base_lo),
    });
    let nothing_to_catch =
        p95s.is_some_and(|((_, new_hi), (base_lo, _))| new_hi - base_lo <= min_increase_ms);
    let mut numbers = match (new_p95, baseline_p95) {
        (Some(n), Some(b)) => format!(
            "p95 latency {} vs baseline {} {}: ×{:.2}",
            ms(n),
            ms(b),
            over(new.requests, span),
            n / floored(b)
        ),
        (Some(n), None) => format!("p95 latency {} vs no baseline", ms(n)),
        _ => "p95 latency: none recorded".to_string(),
    };
    match bounds {
        Some(_) if !histograms => numbers += " (reported quantiles, no bounds)",
        Some(b) => {
            numbers += &format!(
                ", {} between ×{:.2} and {}",
                confidence_words(analysis.confidence),
                b.lower,
                if b.upper.is_finite() {
                    format!("×{:.2}", b.upper)
                } else {
                    "unbounded".to_string()
                }
            )
        }
        None => {}
    }
    if nothing_to_catch {
        numbers += &format!(", under the {} minimum increase", ms(min_increase_ms));
    }
    numbers += &format!(
        " (limit ×{:.1}, tolerated ×{tolerated:.2})",
        trigger.threshold
    );
    let thin = if !baseline_known {
        Some(format!(
            "not enough baseline traffic ({} of {} requests)",
            count(base.requests),
            count(analysis.min_requests)
        ))
    } else if new.requests < analysis.min_requests {
        Some(format!(
            "not enough evidence yet ({} of {} requests)",
            count(new.requests),
            count(analysis.min_requests)
        ))
    } else {
        None
    };
    Finding {
        trigger: TriggerKind::P95Latency,
        threshold: trigger.threshold,
        tolerated,
        confidence: analysis.confidence,
        new_value: new_p95,
        baseline_value: baseline_p95,
        bounds,
        nothing_to_catch,
        new_requests: new.requests,
        baseline_requests: base.requests,
        numbers,
        thin,
    }
}

/// Values under and over the true p95 of a histogram's requests, at every
/// reading at once with probability `1 − alpha` together. An upper value
/// in the overflow bucket is unknown.
fn p95_bounds_ms(h: &LatencyHistogram, alpha: f64) -> (Option<f64>, Option<f64>) {
    let n = h.total();
    let (lo_rank, hi_rank) = sequences::quantile_ranks(n, 0.95, alpha);
    let below_overflow = n - h.counts.last().copied().unwrap_or(0);
    let value = |rank: u64| h.quantile_ms(rank as f64 / n as f64);
    (
        lo_rank.and_then(value),
        hi_rank.filter(|&r| r <= below_overflow).and_then(value),
    )
}

/// Feeds one reading's new requests to the detector: how many were slower
/// than the latency a tolerated new version would exceed 5 % of the time,
/// with the baseline's p95 bounded from above (the evidence) and as
/// measured (where a rise began).
pub(super) fn observe<S: Clone>(
    detector: &mut Detector<S>,
    trigger: &Trigger,
    analysis: &Analysis,
    arrived: &Arrival<'_, S>,
) {
    let base = &arrived.baseline.latency;
    let increment = arrived.increment;
    let new = &increment.new.latency;
    let known = base.total() >= analysis.min_requests.max(1);
    let bounded = known
        .then(|| p95_bounds_ms(base, half_of_the_budget(analysis)).1)
        .flatten();
    let measured = known.then(|| base.quantile_ms(0.95)).flatten();
    let slower_than = |baseline_p95: f64| {
        let ratio = tolerated(trigger, analysis, 1.0);
        let slow = (ratio * floored(baseline_p95))
            .max(baseline_p95 + tolerated_increase_ms(trigger, analysis));
        Count {
            k: new.count_above(slow),
            n: new.total() as f64,
            p0: SLOWER_THAN_P95,
            gap: SLOWER_THAN_P95,
        }
    };
    detector.observe(
        arrived.weight,
        bounded.map(slower_than),
        measured.map(slower_than),
        arrived.here,
    );
}

/// With reported quantiles only (no histogram), whether the latest
/// reading shows a regression past the threshold: the value is all there
/// is, so it is judged as it stands.
pub(super) fn reported_breach(trigger: &Trigger, window: &Reading) -> bool {
    match (window.new.p95_ms(), window.baseline.p95_ms()) {
        (Some(n), Some(b)) if !has_histograms(window) => {
            n / floored(b) > trigger.threshold
                && n - b > trigger.min_increase.as_secs_f64() * 1000.0
        }
        _ => false,
    }
}

pub(super) fn has_histograms(window: &Reading) -> bool {
    window.new.latency.total() > 0 && window.baseline.latency.total() > 0
}
