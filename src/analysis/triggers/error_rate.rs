//! The error-rate trigger: the new version's error rate minus its
//! baseline's, in percentage points.

use std::time::Duration;

use crate::analysis::detector::{Count, Detector};
use crate::analysis::numbers::{count, pct};
use crate::analysis::sequences;
use crate::config::{Analysis, Trigger};
use crate::engine::types::TriggerKind;
use crate::metrics::{Reading, Sample};

use super::{
    Arrival, Bounds, Finding, HARD_CEILING_ERROR_PCT, HARD_CEILING_MIN_REQUESTS, confidence_words,
    half_of_the_budget, over, tolerated,
};

pub(super) const HARD_CEILING_WORDS: &str = " — more than half failing";

/// More than half of at least 20 requests failing: waiting for evidence
/// would only hurt more users.
pub(super) fn over_hard_ceiling(window: &Reading) -> bool {
    window.new.requests >= HARD_CEILING_MIN_REQUESTS
        && window
            .new
            .error_rate_pct()
            .is_some_and(|rate| rate > HARD_CEILING_ERROR_PCT)
}

/// What `window` says: the rates, the points between them, and their
/// confidence-sequence bounds. `span`: the window is the recent one a
/// detector found, this long.
pub(super) fn finding(
    trigger: &Trigger,
    analysis: &Analysis,
    window: &Reading,
    span: Option<Duration>,
) -> Finding {
    let (new, base) = (&window.new, &window.baseline);
    let alpha = 1.0 - analysis.confidence;
    let tolerated = tolerated(trigger, analysis, 0.0);
    let baseline_known = base.requests >= analysis.min_requests.max(1);
    let bounds = (new.requests > 0 && baseline_known).then(|| {
        let (lower, upper) = sequences::difference(
            (new.errors as f64, new.requests as f64),
            (base.errors as f64, base.requests as f64),
            alpha,
        );
        Bounds {
            lower: lower * 100.0,
            upper: upper * 100.0,
        }
    });
    let mut numbers = match (new.error_rate_pct(), base.error_rate_pct()) {
        (Some(rate), Some(base_rate)) if baseline_known => format!(
            "error rate {} vs baseline {} {}: {:+.1} points",
            pct(rate),
            pct(base_rate),
            over(new.requests, span),
            rate - base_rate
        ),
        (Some(rate), _) => format!(
            "error rate {} {}, baseline {} requests",
            pct(rate),
            over(new.requests, span),
            count(base.requests)
        ),
        (None, _) => "error rate: no requests yet".to_string(),
    };
    if let Some(b) = bounds {
        numbers += &format!(
            ", {} between {:+.1} and {:+.1}",
            confidence_words(analysis.confidence),
            b.lower,
            b.upper
        );
    }
    numbers += &format!(
        " (limit +{:.1}, tolerated +{tolerated:.1})",
        trigger.threshold
    );
    Finding {
        trigger: TriggerKind::ErrorRate,
        threshold: trigger.threshold,
        tolerated,
        confidence: analysis.confidence,
        new_value: new.error_rate_pct(),
        baseline_value: base.error_rate_pct(),
        bounds,
        nothing_to_catch: false,
        new_requests: new.requests,
        baseline_requests: base.requests,
        numbers,
        thin: thin(new, base, analysis),
    }
}

/// Why the rates cannot be compared yet, if they cannot.
pub(super) fn thin(new: &Sample, base: &Sample, analysis: &Analysis) -> Option<String> {
    let min = analysis.min_requests;
    if new.requests < min {
        Some(format!(
            "not enough evidence yet ({} of {} requests)",
            count(new.requests),
            count(min)
        ))
    } else if base.requests < min.max(1) {
        Some(format!(
            "not enough baseline traffic ({} of {} requests)",
            count(base.requests),
            count(min)
        ))
    } else {
        None
    }
}

/// Feeds one reading's requests to the detector. The tolerated error rate
/// is the baseline's upper bound plus the tolerated points. The bound is a
/// confidence sequence over everything the baseline served, the stable
/// version's traffic from before the release (`before`) included: a
/// steady baseline is the assumption the comparison rests on anyway, and
/// the traffic it served before the release is what makes the bound tight
/// at the first reading, when the new version's first requests arrive.
/// The rate is never taken lower than the baseline measured during the
/// release or in this reading — a shared dependency failing both versions,
/// or a baseline worse than its past — which only makes the test stricter
/// on itself.
pub(super) fn observe<S: Clone>(
    detector: &mut Detector<S>,
    trigger: &Trigger,
    analysis: &Analysis,
    arrived: &Arrival<'_, S>,
) {
    let (before, increment) = (arrived.baseline_before, arrived.increment);
    let (weight, here) = (arrived.weight, arrived.here);
    let min = analysis.min_requests.max(1);
    let rate_over = |s: &Sample| (s.requests >= min).then(|| s.errors as f64 / s.requests as f64);
    let during = &arrived.window.baseline;
    let (errors, requests) = (
        (before.errors + during.errors) as f64,
        (before.requests + during.requests) as f64,
    );
    if rate_over(arrived.baseline).is_none() {
        detector.observe(weight, None, None, here);
        return;
    }
    let (_, base_upper) = sequences::proportion(errors, requests, half_of_the_budget(analysis));
    let floor = [rate_over(during), rate_over(&increment.baseline)]
        .into_iter()
        .flatten()
        .fold(0.0, f64::max);
    let tolerated = tolerated(trigger, analysis, 0.0) / 100.0;
    let count = |base_rate: f64| Count {
        k: increment.new.errors as f64,
        n: increment.new.requests as f64,
        p0: base_rate.max(floor) + tolerated,
        gap: trigger.threshold / 100.0 - tolerated,
    };
    detector.observe(
        weight,
        Some(count(base_upper)),
        Some(count(errors / requests)),
        here,
    );
}
