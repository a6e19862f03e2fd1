//! The four automatic rollback triggers (the README's table): the new
//! version against its baseline, judged at every reading for the whole
//! release. `docs/verdicts.md` has the method and its guarantee in full.
//!
//! # How a verdict is reached
//!
//! Each metric trigger measures an *effect* — error-rate points over the
//! baseline, the ratio of the p95s, the share of an error kind the baseline
//! never showed. Its threshold is the regression that must be caught; a
//! share of it (`tolerance`, half by default) is tolerated. Three outcomes:
//!
//! - **fail** (roll back) when the change detector ([`super::detector`])
//!   has evidence that the effect rose past the tolerated value, from
//!   whichever reading it began at — and, for a trigger with an `after`,
//!   the regression has *held* that long: no part of the last `after`
//!   bounds it under the threshold ([`super::recent`]), so a spike shorter
//!   than `after` never rolls back and the clock restarts when it clears;
//! - **pass** when the confidence sequence over the whole window
//!   ([`super::sequences`]) puts the effect at or under the threshold;
//! - **not enough evidence** otherwise — the step is held, never advanced
//!   on. Thin traffic on either side holds too: with fewer than
//!   `analysis.min_requests` requests the new version is not judged, and
//!   without that much baseline traffic nothing is compared with an assumed
//!   0 % ("not enough baseline traffic").
//!
//! The error budget `1 − analysis.confidence` is split in two halves per
//! trigger: one for the detector, one for the baseline's own bound that
//! sets the detector's tolerated value. Both hold at every reading at once,
//! so looking after every reading does not raise the false-rollback rate.
//!
//! Kept from the first judge: the hard ceiling (more than half of at least
//! 20 requests failing fails at once), the numbers in every verdict, and
//! the instance-health trigger, which counts instances rather than
//! estimating.

mod error_kinds;
mod error_rate;
mod instances;
mod latency;
mod watch;

use std::borrow::Cow;
use std::time::Duration;

use crate::config::{Analysis, Trigger, Triggers};
use crate::engine::types::{Outcome, TriggerKind, Verdict};
use crate::metrics::{Reading, Sample};
use crate::observed::TrafficState;

use super::numbers::clock;

pub use instances::unhealthy_instances;
pub use watch::Watch;

/// One reading, as the detectors are fed it.
pub(super) struct Arrival<'a, S> {
    /// The counters since observation began.
    window: &'a Reading,
    /// What arrived since the previous reading.
    increment: &'a Reading,
    /// The baseline's counters from before observation began.
    baseline_before: &'a Sample,
    /// The baseline judged by: see [`enough_baseline`].
    baseline: &'a Sample,
    /// The prior weight of a breach beginning at this reading.
    weight: f64,
    /// Where a breach beginning at this reading starts.
    here: &'a S,
}

/// The baseline a release is judged by: what the stable version served
/// during the release, once that reaches `analysis.min_requests`. Until
/// then — a step it barely served, or a last step at 100 %, where it
/// serves nothing — what it served before the release is added, so thin
/// baseline traffic holds a step only while the stable version has not
/// served that much at all.
fn enough_baseline<'s>(
    during: &'s Sample,
    before: &Sample,
    analysis: &Analysis,
) -> Cow<'s, Sample> {
    if during.requests >= analysis.min_requests.max(1) || before.requests == 0 {
        Cow::Borrowed(during)
    } else {
        Cow::Owned(during.plus(before))
    }
}

/// The hard ceiling: this share of errors (percent) over at least
/// [`HARD_CEILING_MIN_REQUESTS`] requests fails the error-rate trigger
/// without waiting for `min_requests`.
pub const HARD_CEILING_ERROR_PCT: f64 = 50.0;
pub const HARD_CEILING_MIN_REQUESTS: u64 = 20;

/// Baseline p95 latencies below this are treated as this value when
/// forming the ratio: on a loopback host sub-millisecond latencies jitter
/// by more than ×2 between requests, so a ratio of two tiny numbers is
/// noise, not a regression.
pub const P95_BASELINE_FLOOR_MS: f64 = 1.0;

/// Judges every enabled trigger over one window alone — an analysis gate's
/// window, a one-off look — with the confidence sequences only: pass when
/// the effect is bounded under the threshold, fail when it is bounded over
/// the tolerated value, not enough evidence otherwise. A release's
/// triggers are judged by a [`Watch`], which also sees when things began.
///
/// Disabled triggers are left out of the result.
pub fn judge_window(
    triggers: &Triggers,
    analysis: &Analysis,
    window: &Reading,
    traffic: Option<&TrafficState>,
) -> Vec<Verdict> {
    let mut verdicts = Vec::with_capacity(4);
    let on_its_own = |finding: Finding| match finding.thin.clone() {
        Some(thin) => finding.verdict(Outcome::NotEnoughEvidence, &format!(": {thin}")),
        None => {
            let outcome = finding.decide();
            finding.verdict(outcome, outcome_words(outcome))
        }
    };
    if triggers.error_rate.enabled {
        let finding = error_rate::finding(&triggers.error_rate, analysis, window, None);
        verdicts.push(match error_rate::over_hard_ceiling(window) {
            true => finding.verdict(Outcome::Fail, error_rate::HARD_CEILING_WORDS),
            false => on_its_own(finding),
        });
    }
    if triggers.p95_latency.enabled {
        let finding = latency::finding(&triggers.p95_latency, analysis, window, None);
        verdicts.push(on_its_own(finding));
    }
    if triggers.unhealthy_instances.enabled {
        verdicts.push(unhealthy_instances(&triggers.unhealthy_instances, traffic));
    }
    if triggers.new_error_kind.enabled {
        let kind = error_kinds::most_frequent_new_kind(window);
        let finding = error_kinds::finding(
            &triggers.new_error_kind,
            analysis,
            window,
            kind.as_deref(),
            None,
        );
        verdicts.push(on_its_own(finding));
    }
    verdicts
}

/// The first failing verdict, if any: the one a rollback names.
pub fn first_failure(verdicts: &[Verdict]) -> Option<&Verdict> {
    verdicts.iter().find(|v| v.outcome == Outcome::Fail)
}

/// The first verdict that is not a pass, if any: what holds a step.
pub fn first_non_pass(verdicts: &[Verdict]) -> Option<&Verdict> {
    verdicts.iter().find(|v| v.outcome != Outcome::Pass)
}

/// Bounds on an effect, in the threshold's unit.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    lower: f64,
    upper: f64,
}

/// What a trigger found over one window, before any rule about time.
struct Finding {
    trigger: TriggerKind,
    threshold: f64,
    tolerated: f64,
    confidence: f64,
    new_value: Option<f64>,
    baseline_value: Option<f64>,
    /// Confidence-sequence bounds on the effect; `None` when it cannot be
    /// bounded (no requests, or a thin side).
    bounds: Option<Bounds>,
    /// Nothing this trigger catches is there, whatever the bounds on the
    /// effect say: the p95's increase is bounded under its minimum, or no
    /// new error kind was seen at all (a kind never seen cannot be
    /// bounded under 1 % without many hundreds of requests, and the
    /// detector watches for one for the rest of the release).
    nothing_to_catch: bool,
    new_requests: u64,
    baseline_requests: u64,
    /// The numbers, without the outcome: "error rate 7.9 % vs …".
    numbers: String,
    /// Why this window cannot be judged at all, if so: "not enough
    /// baseline traffic (38 of 100 requests)".
    thin: Option<String>,
}

impl Finding {
    /// The verdict of the bounds alone.
    fn decide(&self) -> Outcome {
        match self.bounds {
            _ if self.nothing_to_catch => Outcome::Pass,
            Some(b) if b.upper <= self.threshold => Outcome::Pass,
            Some(b) if b.lower > self.tolerated => Outcome::Fail,
            _ => Outcome::NotEnoughEvidence,
        }
    }

    fn verdict(self, outcome: Outcome, suffix: &str) -> Verdict {
        Verdict {
            trigger: self.trigger,
            outcome,
            new_value: self.new_value,
            baseline_value: self.baseline_value,
            threshold: self.threshold,
            tolerated: Some(self.tolerated),
            lower: self.bounds.map(|b| b.lower),
            upper: self.bounds.map(|b| b.upper),
            confidence: Some(self.confidence),
            new_requests: self.new_requests,
            baseline_requests: self.baseline_requests,
            summary: format!("{}{suffix}", self.numbers),
        }
    }
}

/// The words after the numbers for an outcome reached on bounds alone.
fn outcome_words(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::NotEnoughEvidence => ": not enough evidence yet (the bounds straddle the limit)",
        _ => "",
    }
}

/// The effect a trigger tolerates: its tolerance of the way from "no
/// change" (0 points, ×1) to the threshold.
fn tolerated(trigger: &Trigger, analysis: &Analysis, no_change: f64) -> f64 {
    no_change + trigger.tolerance(analysis) * (trigger.threshold - no_change)
}

/// The share of the error budget each half of a trigger's judgement
/// takes: the detector, and the baseline bound it is measured against.
fn half_of_the_budget(analysis: &Analysis) -> f64 {
    (1.0 - analysis.confidence) / 2.0
}

/// "99 %", "99.5 %": a confidence as people write it.
fn confidence_words(confidence: f64) -> String {
    let p = confidence * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

/// "over 1 240 requests" or, for a recent window, "over the last 0:40
/// (310 requests)".
fn over(requests: u64, span: Option<Duration>) -> String {
    let n = super::numbers::count(requests);
    match span {
        Some(span) => format!("over the last {} ({n} requests)", clock(span)),
        None => format!("over {n} requests"),
    }
}

#[cfg(test)]
mod tests;
