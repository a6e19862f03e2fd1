//! The four automatic rollback triggers (the README's table), judged statistically
//! over one observation window: the new version against its baseline
//! measured over the same window.
//!
//! # How a verdict is reached
//!
//! Each metric trigger estimates an *effect* — error-rate points over the
//! baseline, the ratio of the p95s, the share of an error kind the baseline
//! never showed — and bounds it from both sides with probability
//! `analysis.confidence` (0.99 by default; see [`super::stats`]). The
//! trigger's threshold is the regression that must be caught; a share of
//! it, `analysis.tolerance` (half by default), is tolerated:
//!
//! - **pass** when the upper bound is at or under the threshold: the new
//!   version is, with that confidence, no worse than the limit;
//! - **fail** (roll back) when the lower bound is over the tolerated
//!   effect and the version could not be shown to stay under the limit;
//! - **not enough evidence** otherwise: the bounds still straddle — the
//!   step is held, never advanced on.
//!
//! So a +1-point regression passes (its upper bound soon falls under +5), a
//! +10-point one fails as soon as its lower bound clears +2.5, and one at
//! the threshold is caught. Why confidence bounds rather than an SPRT: they
//! are computed from the window's counts alone (any provider's cumulative
//! counters, read at any cadence, with readings missed), they give the
//! operator a statistic that reads as the metric does ("+10.3 points, 99 %
//! between +6.9 and +14.6"), and the threshold keeps its meaning.
//!
//! Rules shared by all of them:
//! - A handful of requests is not evidence: below `analysis.min_requests`
//!   on the new version a metric trigger says `NotEnoughEvidence`, with one
//!   exception — a new version answering mostly errors (more than 50 % of at
//!   least 20 requests) fails at once, because waiting for more evidence
//!   would only hurt more users.
//! - A trigger's `after` window is a grace period for failing only: before
//!   it a trigger that would fail says `NotEnoughEvidence` ("observing 0:45
//!   of 2:00"), while a clear pass needs no wait.
//! - The instance-health trigger counts rather than estimates: it judges
//!   the instances the backend reports, at once.

use std::time::Duration;

use crate::config::{Analysis, Trigger, Triggers};
use crate::engine::types::{Outcome, TriggerKind, Verdict};
use crate::metrics::{LatencyHistogram, Reading, is_named_error_kind};
use crate::providers::TrafficState;

use super::numbers::{clock, count, ms, pct};
use super::stats::{difference_bounds, proportion_bounds, quantile_rank_bounds};

/// The hard ceiling: this share of errors (percent) over at least
/// [`HARD_CEILING_MIN_REQUESTS`] requests fails the error-rate trigger
/// without waiting for `min_requests`.
pub const HARD_CEILING_ERROR_PCT: f64 = 50.0;
pub const HARD_CEILING_MIN_REQUESTS: u64 = 20;

/// Baseline p95 latencies below this are treated as this value when
/// forming the ratio: on a loopback host sub-millisecond latencies jitter by
/// more than ×2 between requests, and the histogram buckets there are only
/// 0.25 ms wide, so a ratio of two tiny numbers is noise, not a regression.
pub const P95_BASELINE_FLOOR_MS: f64 = 1.0;

/// Judges every enabled trigger over `window` (the counters accumulated
/// since observation started: `latest.since(&at_start)`), after the new
/// version has been observed for `observed_for`. `traffic` is the latest
/// state read from the backend, for the instance-health trigger.
///
/// Disabled triggers are left out of the result.
pub fn judge(
    triggers: &Triggers,
    analysis: &Analysis,
    window: &Reading,
    observed_for: Duration,
    traffic: Option<&TrafficState>,
) -> Vec<Verdict> {
    let judge = Judge {
        analysis,
        window,
        observed_for,
    };
    let mut verdicts = Vec::with_capacity(4);
    if triggers.error_rate.enabled {
        verdicts.push(judge.error_rate(&triggers.error_rate));
    }
    if triggers.p95_latency.enabled {
        verdicts.push(judge.p95_latency(&triggers.p95_latency));
    }
    if triggers.unhealthy_instances.enabled {
        verdicts.push(unhealthy_instances(&triggers.unhealthy_instances, traffic));
    }
    if triggers.new_error_kind.enabled {
        verdicts.push(judge.new_error_kind(&triggers.new_error_kind));
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

/// What the bounds say about a trigger, before the `after` grace period.
fn decide(bounds: Bounds, tolerated: f64, threshold: f64) -> Outcome {
    if bounds.upper <= threshold {
        Outcome::Pass
    } else if bounds.lower > tolerated {
        Outcome::Fail
    } else {
        Outcome::NotEnoughEvidence
    }
}

/// The effect a trigger tolerates: `tolerance` of the way from "no change"
/// (0 points, ×1) to the threshold.
fn tolerated(analysis: &Analysis, no_change: f64, threshold: f64) -> f64 {
    no_change + analysis.tolerance * (threshold - no_change)
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

struct Judge<'a> {
    analysis: &'a Analysis,
    window: &'a Reading,
    observed_for: Duration,
}

/// The parts of a verdict every metric trigger fills the same way.
struct Finding {
    trigger: TriggerKind,
    threshold: f64,
    tolerated: f64,
    new_value: Option<f64>,
    baseline_value: Option<f64>,
    bounds: Option<Bounds>,
    /// The numbers, without the outcome: "error rate 7.9 % vs …".
    numbers: String,
}

impl Judge<'_> {
    fn verdict(&self, f: Finding, outcome: Outcome, suffix: &str) -> Verdict {
        Verdict {
            trigger: f.trigger,
            outcome,
            new_value: f.new_value,
            baseline_value: f.baseline_value,
            threshold: f.threshold,
            tolerated: Some(f.tolerated),
            lower: f.bounds.map(|b| b.lower),
            upper: f.bounds.map(|b| b.upper),
            confidence: Some(self.analysis.confidence),
            new_requests: self.window.new.requests,
            baseline_requests: self.window.baseline.requests,
            summary: format!("{}{suffix}", f.numbers),
        }
    }

    /// The outcome the bounds give, held back by thin evidence or by the
    /// trigger's grace period, with the words that say why.
    fn conclude(&self, trigger: &Trigger, f: Finding) -> Verdict {
        if self.window.new.requests < self.analysis.min_requests {
            let thin = format!(
                ": not enough evidence yet ({} of {} requests)",
                count(self.window.new.requests),
                count(self.analysis.min_requests)
            );
            return self.verdict(f, Outcome::NotEnoughEvidence, &thin);
        }
        let Some(bounds) = f.bounds else {
            return self.verdict(f, Outcome::NotEnoughEvidence, ": not enough evidence yet");
        };
        match decide(bounds, f.tolerated, f.threshold) {
            Outcome::Fail if self.observed_for < trigger.after => {
                let wait = format!(
                    ": over the tolerated effect, judged after observing {} of {}",
                    clock(self.observed_for),
                    clock(trigger.after)
                );
                self.verdict(f, Outcome::NotEnoughEvidence, &wait)
            }
            Outcome::NotEnoughEvidence => self.verdict(
                f,
                Outcome::NotEnoughEvidence,
                ": not enough evidence yet (the bounds straddle the limit)",
            ),
            outcome => self.verdict(f, outcome, ""),
        }
    }

    /// New error rate minus baseline error rate, in percentage points.
    ///
    /// The baseline: when it served fewer than `min_requests` in the window
    /// (after a blue-green switch it serves nothing, at a canary's 100 %
    /// step neither), its rate is unknown and the new version is held
    /// against 0 % — an absolute "no more than +threshold points of
    /// errors". That can only make the trigger stricter than a known, worse
    /// baseline would, which is the safe side for a rollback trigger.
    fn error_rate(&self, trigger: &Trigger) -> Verdict {
        let (new, base) = (&self.window.new, &self.window.baseline);
        let c = self.analysis.confidence;
        let new_rate = new.error_rate_pct();
        let baseline_known = base.requests >= self.analysis.min_requests.max(1);
        let baseline_rate = if baseline_known {
            base.error_rate_pct().unwrap_or(0.0)
        } else {
            0.0
        };
        let new_counts = (new.errors as f64, new.requests as f64);
        let bounds = (new.requests > 0).then(|| {
            let (lower, upper) = if baseline_known {
                difference_bounds(new_counts, (base.errors as f64, base.requests as f64), c)
            } else {
                proportion_bounds(new_counts.0, new_counts.1, c)
            };
            Bounds {
                lower: lower * 100.0,
                upper: upper * 100.0,
            }
        });
        let baseline_words = if baseline_known {
            format!("baseline {}", pct(baseline_rate))
        } else {
            format!(
                "baseline unknown ({} requests), held against 0 %",
                count(base.requests)
            )
        };
        let tolerated = tolerated(self.analysis, 0.0, trigger.threshold);
        let mut numbers = match new_rate {
            Some(rate) => format!(
                "error rate {} vs {baseline_words} over {} requests: {:+.1} points",
                pct(rate),
                count(new.requests),
                rate - baseline_rate
            ),
            None => "error rate: no requests yet".to_string(),
        };
        if let Some(b) = bounds {
            numbers += &format!(
                ", {} between {:+.1} and {:+.1}",
                confidence_words(c),
                b.lower,
                b.upper
            );
        }
        numbers += &format!(
            " (limit +{:.1}, tolerated +{tolerated:.1})",
            trigger.threshold
        );
        let finding = Finding {
            trigger: TriggerKind::ErrorRate,
            threshold: trigger.threshold,
            tolerated,
            new_value: new_rate,
            baseline_value: Some(baseline_rate),
            bounds,
            numbers,
        };
        // The hard ceiling comes before the evidence rules on purpose.
        if let Some(rate) = new_rate
            && new.requests >= HARD_CEILING_MIN_REQUESTS
            && rate > HARD_CEILING_ERROR_PCT
        {
            return self.verdict(finding, Outcome::Fail, " — more than half failing");
        }
        self.conclude(trigger, finding)
    }

    /// New p95 over baseline p95, as a ratio, bounded with order
    /// statistics read off both histograms. A provider that reports only
    /// quantiles gives a ratio without bounds, judged as it stands.
    fn p95_latency(&self, trigger: &Trigger) -> Verdict {
        let (new, base) = (&self.window.new, &self.window.baseline);
        let new_p95 = new.p95_ms();
        let baseline_p95 = base.p95_ms();
        let tolerated = tolerated(self.analysis, 1.0, trigger.threshold);
        let ratio = match (new_p95, baseline_p95) {
            (Some(n), Some(b)) => Some(n / b.max(P95_BASELINE_FLOOR_MS)),
            _ => None,
        };
        let histograms = new.latency.total() > 0 && base.latency.total() > 0;
        let bounds = if base.requests < self.analysis.min_requests.max(1) {
            None
        } else if histograms {
            Some(p95_ratio_bounds(
                &new.latency,
                &base.latency,
                self.analysis.confidence,
            ))
        } else {
            // Quantiles without buckets: the ratio is all there is.
            ratio.map(|r| Bounds { lower: r, upper: r })
        };
        let mut numbers = match (new_p95, baseline_p95) {
            (Some(n), Some(b)) => format!(
                "p95 latency {} vs baseline {} over {} requests: ×{:.2}",
                ms(n),
                ms(b),
                count(new.requests),
                ratio.unwrap_or(0.0)
            ),
            (Some(n), None) => format!("p95 latency {} vs no baseline", ms(n)),
            _ => "p95 latency: none recorded".to_string(),
        };
        match bounds {
            Some(_) if !histograms => numbers += " (reported quantiles, no bounds)",
            Some(b) => {
                numbers += &format!(
                    ", {} between ×{:.2} and {}",
                    confidence_words(self.analysis.confidence),
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
        numbers += &format!(
            " (limit ×{:.1}, tolerated ×{tolerated:.2})",
            trigger.threshold
        );
        let finding = Finding {
            trigger: TriggerKind::P95Latency,
            threshold: trigger.threshold,
            tolerated,
            new_value: new_p95,
            baseline_value: baseline_p95,
            bounds,
            numbers,
        };
        if base.requests < self.analysis.min_requests.max(1) {
            let thin = format!(
                ": not enough evidence yet (baseline has {} of {} requests)",
                count(base.requests),
                count(self.analysis.min_requests)
            );
            return self.verdict(finding, Outcome::NotEnoughEvidence, &thin);
        }
        self.conclude(trigger, finding)
    }

    /// The most frequent error kind the service named (see
    /// [`is_named_error_kind`]) seen on the new version but never on the
    /// baseline, as a share of the new version's requests.
    fn new_error_kind(&self, trigger: &Trigger) -> Verdict {
        let (new, base) = (&self.window.new, &self.window.baseline);
        let worst = new
            .errors_by_kind
            .iter()
            .filter(|(name, n)| {
                **n > 0 && is_named_error_kind(name) && !base.errors_by_kind.contains_key(*name)
            })
            .max_by_key(|(_, n)| **n)
            .map(|(name, n)| (name.clone(), *n));
        let seen = worst.as_ref().map_or(0, |(_, n)| *n);
        let share = (new.requests > 0).then(|| seen as f64 * 100.0 / new.requests as f64);
        let c = self.analysis.confidence;
        let bounds = (new.requests > 0).then(|| {
            let (lower, upper) = proportion_bounds(seen as f64, new.requests as f64, c);
            Bounds {
                lower: lower * 100.0,
                upper: upper * 100.0,
            }
        });
        let tolerated = tolerated(self.analysis, 0.0, trigger.threshold);
        let mut numbers = match &worst {
            Some((name, n)) => format!(
                "new error kind `{name}` on {} of {} requests ({}), never seen on the baseline",
                count(*n),
                count(new.requests),
                pct(share.unwrap_or(0.0))
            ),
            None => format!(
                "no error kind unseen on the baseline over {} requests",
                count(new.requests)
            ),
        };
        if let Some(b) = bounds {
            numbers += &format!(
                ": {} between {} and {}",
                confidence_words(c),
                pct(b.lower),
                pct(b.upper)
            );
        }
        numbers += &format!(
            " (limit {}, tolerated {})",
            pct(trigger.threshold),
            pct(tolerated)
        );
        let finding = Finding {
            trigger: TriggerKind::NewErrorKind,
            threshold: trigger.threshold,
            tolerated,
            new_value: share,
            baseline_value: Some(0.0),
            bounds,
            numbers,
        };
        self.conclude(trigger, finding)
    }
}

/// Bounds on p95(new) / p95(baseline), holding together with probability
/// `confidence`: each p95 is bounded by order statistics at half the
/// allowed error, values read off the histograms by interpolation inside a
/// bucket (as Prometheus' `histogram_quantile` does). A p95 whose upper
/// bound falls in the overflow bucket leaves the ratio unbounded above.
fn p95_ratio_bounds(new: &LatencyHistogram, base: &LatencyHistogram, confidence: f64) -> Bounds {
    let each = 1.0 - (1.0 - confidence) / 2.0;
    let (new_lo, new_hi) = quantile_bounds_ms(new, 0.95, each);
    let (base_lo, base_hi) = quantile_bounds_ms(base, 0.95, each);
    let floor = |v: f64| v.max(P95_BASELINE_FLOOR_MS);
    Bounds {
        lower: match (new_lo, base_hi) {
            (Some(n), Some(b)) => n / floor(b),
            _ => 0.0,
        },
        upper: match (new_hi, base_lo) {
            (Some(n), Some(b)) => n / floor(b),
            _ => f64::INFINITY,
        },
    }
}

/// Values under and over the true `q` quantile of a histogram's requests,
/// each with probability `confidence`. An upper value in the overflow
/// bucket is unknown.
fn quantile_bounds_ms(h: &LatencyHistogram, q: f64, confidence: f64) -> (Option<f64>, Option<f64>) {
    let n = h.total();
    let (lo_rank, hi_rank) = quantile_rank_bounds(n, q, confidence);
    let below_overflow = n - h.counts.last().copied().unwrap_or(0);
    let value = |rank: u64| h.quantile_ms(rank as f64 / n as f64);
    (
        lo_rank.and_then(value),
        hi_rank.filter(|&r| r <= below_overflow).and_then(value),
    )
}

/// Share of the new version's instances (staged or in rotation) failing
/// their health checks, in percent. Judged from the backend's instance
/// list, so it needs no request minimum and no observation time.
fn unhealthy_instances(trigger: &Trigger, traffic: Option<&TrafficState>) -> Verdict {
    let kind = TriggerKind::UnhealthyInstances;
    let verdict = |outcome, new_value, baseline_value, summary| Verdict {
        new_value,
        baseline_value,
        ..Verdict::without_statistics(kind, outcome, trigger.threshold, summary)
    };
    let Some(state) = traffic else {
        return verdict(
            Outcome::NotEnoughEvidence,
            None,
            None,
            "unhealthy instances: the backend has not reported its instances yet".to_string(),
        );
    };
    let total = state.new.len();
    if total == 0 {
        // A flag backend, for one, has no instances of its own: nothing to
        // health-check is not a failure, and must not block a gate forever.
        return verdict(
            Outcome::Pass,
            Some(0.0),
            None,
            "unhealthy instances: the backend reports no instances of the new version".to_string(),
        );
    }
    let failing = state.new.iter().filter(|i| !i.healthy).count();
    let share = failing as f64 * 100.0 / total as f64;
    let stable_share = (!state.stable.is_empty()).then(|| {
        state.stable.iter().filter(|i| !i.healthy).count() as f64 * 100.0
            / state.stable.len() as f64
    });
    let outcome = if share > trigger.threshold {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    verdict(
        outcome,
        Some(share),
        stable_share,
        format!(
            "{failing} of {total} new instances failing health checks ({}, limit {})",
            pct(share),
            pct(trigger.threshold)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::defaults;
    use crate::metrics::Sample;
    use crate::providers::Instance;

    fn sample(requests: u64, errors: &[(&str, u64)], latency_ms: f64) -> Sample {
        let mut s = Sample {
            requests,
            ..Sample::default()
        };
        for (kind, n) in errors {
            s.errors += n;
            s.errors_by_kind.insert(kind.to_string(), *n);
        }
        for _ in 0..requests {
            s.latency.record_ms(latency_ms);
        }
        s
    }

    fn reading(new: Sample, baseline: Sample) -> Reading {
        Reading { new, baseline }
    }

    fn judge_one(window: &Reading, observed_for: Duration, kind: TriggerKind) -> Verdict {
        judge(
            &defaults::triggers(),
            &defaults::analysis(),
            window,
            observed_for,
            None,
        )
        .into_iter()
        .find(|v| v.trigger == kind)
        .unwrap()
    }

    fn error_rate(new: Sample, baseline: Sample) -> Verdict {
        judge_one(
            &reading(new, baseline),
            Duration::ZERO,
            TriggerKind::ErrorRate,
        )
    }

    fn instances(healthy: usize, unhealthy: usize) -> TrafficState {
        let mut new = Vec::new();
        for i in 0..healthy + unhealthy {
            new.push(Instance {
                name: format!("new-{i}"),
                in_rotation: true,
                healthy: i < healthy,
            });
        }
        TrafficState {
            stable_version: "v1".into(),
            new_version: Some("v2".into()),
            new_weight: 25,
            stable: vec![],
            new,
            flag_percent: None,
            planned_new: None,
        }
    }

    #[test]
    fn error_rate_fails_with_its_bounds() {
        // R: 100 * (qbeta(0.005, 98.5, 1142.5) - qbeta(0.995, 10.5, 4990.5)) = 5.676578
        //    100 * (qbeta(0.995, 98.5, 1142.5) - qbeta(0.005, 10.5, 4990.5)) = 9.958049
        let e = error_rate(
            sample(1240, &[("http_500", 98)], 20.0),
            sample(5000, &[("http_500", 10)], 20.0),
        );
        assert_eq!(e.outcome, Outcome::Fail);
        assert_eq!(
            e.summary,
            "error rate 7.9 % vs baseline 0.2 % over 1 240 requests: +7.7 points, \
             99 % between +5.7 and +10.0 (limit +5.0, tolerated +2.5)"
        );
        assert!((e.lower.unwrap() - 5.676578).abs() < 1e-5);
        assert!((e.upper.unwrap() - 9.958049).abs() < 1e-5);
        assert_eq!((e.tolerated, e.confidence), (Some(2.5), Some(0.99)));
        assert_eq!((e.new_requests, e.baseline_requests), (1240, 5000));
    }

    #[test]
    fn a_regression_under_the_threshold_passes_and_one_at_it_is_caught() {
        // +1 point: the upper bound soon falls under +5.
        let e = error_rate(
            sample(5000, &[("http_500", 55)], 20.0),
            sample(45000, &[("http_500", 45)], 20.0),
        );
        assert_eq!(e.outcome, Outcome::Pass, "{}", e.summary);
        // +5 points exactly: over the tolerated +2.5 and not under +5.
        let e = error_rate(
            sample(2000, &[("http_500", 102)], 20.0),
            sample(18000, &[("http_500", 18)], 20.0),
        );
        assert_eq!(e.outcome, Outcome::Fail, "{}", e.summary);
    }

    #[test]
    fn bounds_that_straddle_the_limit_hold_the_step() {
        // 6 of 150 against 1 of 1 350, R:
        //   100 * (qbeta(0.005, 6.5, 144.5) - qbeta(0.995, 1.5, 1349.5)) = 0.7289116 (under +2.5)
        //   100 * (qbeta(0.995, 6.5, 144.5) - qbeta(0.005, 1.5, 1349.5)) = 9.629217 (over +5)
        let e = error_rate(
            sample(150, &[("http_500", 6)], 20.0),
            sample(1350, &[("http_500", 1)], 20.0),
        );
        assert_eq!(e.outcome, Outcome::NotEnoughEvidence);
        assert!((e.lower.unwrap() - 0.7289116).abs() < 1e-5, "{:?}", e.lower);
        assert!((e.upper.unwrap() - 9.629217).abs() < 1e-5, "{:?}", e.upper);
        assert!(
            e.summary
                .ends_with("not enough evidence yet (the bounds straddle the limit)")
        );
    }

    #[test]
    fn zero_errors_on_both_sides_pass_without_nan() {
        // 0 of 200 at 99.5 %: R 100 * qbeta(0.995, 0.5, 200.5) = 1.948168
        let e = error_rate(sample(200, &[], 20.0), sample(2000, &[], 20.0));
        assert_eq!(e.outcome, Outcome::Pass, "{}", e.summary);
        assert!(e.lower.unwrap().is_finite() && e.lower.unwrap() <= 0.0);
        assert!(e.upper.unwrap() > 1.9 && e.upper.unwrap() < 1.95);
    }

    #[test]
    fn a_handful_of_requests_is_not_evidence() {
        let e = error_rate(
            sample(38, &[("http_500", 5)], 20.0),
            sample(1000, &[], 20.0),
        );
        assert_eq!(e.outcome, Outcome::NotEnoughEvidence);
        assert!(e.summary.contains("(38 of 100 requests)"), "{}", e.summary);
        let e = error_rate(Sample::default(), Sample::default());
        assert_eq!(e.outcome, Outcome::NotEnoughEvidence);
        assert_eq!((e.new_value, e.lower), (None, None));
    }

    #[test]
    fn mostly_errors_fails_without_waiting_for_the_minimum() {
        let e = error_rate(
            sample(30, &[("http_503", 20)], 20.0),
            sample(1000, &[], 20.0),
        );
        assert_eq!(e.outcome, Outcome::Fail, "{}", e.summary);
        assert!(e.summary.ends_with("more than half failing"));
        // …but not on fewer than 20 requests.
        let e = error_rate(
            sample(10, &[("http_503", 9)], 20.0),
            sample(1000, &[], 20.0),
        );
        assert_eq!(e.outcome, Outcome::NotEnoughEvidence);
    }

    #[test]
    fn an_unknown_baseline_is_held_against_zero() {
        // 30 of 500: R 100 * qbeta(0.01, 30.5, 470.5) = 3.87 > +2.5
        let e = error_rate(sample(500, &[("http_500", 30)], 20.0), Sample::default());
        assert_eq!(e.outcome, Outcome::Fail);
        assert!(
            e.summary.contains("baseline unknown (0 requests)"),
            "{}",
            e.summary
        );
        // 10 of 500: R 100 * qbeta(0.99, 10.5, 490.5) = 3.85 <= +5
        let e = error_rate(sample(500, &[("http_500", 10)], 20.0), Sample::default());
        assert_eq!(e.outcome, Outcome::Pass, "{}", e.summary);
    }

    #[test]
    fn p95_fails_only_after_its_window_but_passes_at_once() {
        let slow = reading(sample(1000, &[], 300.0), sample(1000, &[], 100.0));
        let early = judge_one(&slow, Duration::from_secs(45), TriggerKind::P95Latency);
        assert_eq!(early.outcome, Outcome::NotEnoughEvidence);
        assert!(
            early
                .summary
                .ends_with("judged after observing 0:45 of 2:00"),
            "{}",
            early.summary
        );
        let just_before = judge_one(
            &slow,
            Duration::from_millis(119_999),
            TriggerKind::P95Latency,
        );
        assert_eq!(just_before.outcome, Outcome::NotEnoughEvidence);
        let on_time = judge_one(&slow, Duration::from_secs(120), TriggerKind::P95Latency);
        assert_eq!(on_time.outcome, Outcome::Fail, "{}", on_time.summary);
        assert!(on_time.lower.unwrap() > 2.5, "{}", on_time.summary);
        assert!(on_time.summary.contains("(limit ×2.0, tolerated ×1.50)"));

        let close = reading(sample(1000, &[], 120.0), sample(1000, &[], 100.0));
        let v = judge_one(&close, Duration::ZERO, TriggerKind::P95Latency);
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
    }

    #[test]
    fn p95_ties_and_submillisecond_jitter_pass() {
        // Every request in one bucket on both sides: all ties.
        let tied = reading(sample(1000, &[], 45.0), sample(1000, &[], 45.0));
        let v = judge_one(&tied, Duration::from_secs(600), TriggerKind::P95Latency);
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
        let jitter = reading(sample(1000, &[], 0.9), sample(1000, &[], 0.3));
        let v = judge_one(&jitter, Duration::from_secs(600), TriggerKind::P95Latency);
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
    }

    #[test]
    fn p95_in_the_overflow_bucket_is_unbounded_above() {
        let mut new = sample(1000, &[], 100.0);
        for _ in 0..200 {
            new.latency.record_ms(120_000.0); // past the last bucket
        }
        new.requests += 200;
        let v = judge_one(
            &reading(new, sample(1000, &[], 100.0)),
            Duration::from_secs(600),
            TriggerKind::P95Latency,
        );
        assert_eq!(v.upper, Some(f64::INFINITY));
        assert_eq!(v.outcome, Outcome::Fail, "{}", v.summary);
        assert!(v.summary.contains("and unbounded"), "{}", v.summary);
    }

    #[test]
    fn p95_without_a_baseline_is_not_evidence() {
        let w = reading(sample(1000, &[], 300.0), Sample::default());
        let v = judge_one(&w, Duration::from_secs(600), TriggerKind::P95Latency);
        assert_eq!(v.outcome, Outcome::NotEnoughEvidence);
        assert!(
            v.summary.contains("baseline has 0 of 100 requests"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn reported_quantiles_are_judged_as_they_stand_and_nan_is_no_data() {
        let quantile = |requests, p95: f64| Sample {
            requests,
            reported_p95_ms: Some(p95),
            ..Sample::default()
        };
        let w = reading(quantile(1000, 300.0), quantile(9000, 100.0));
        let v = judge_one(&w, Duration::from_secs(600), TriggerKind::P95Latency);
        assert_eq!(v.outcome, Outcome::Fail, "{}", v.summary);
        assert!(
            v.summary.contains("reported quantiles, no bounds"),
            "{}",
            v.summary
        );
        let w = reading(quantile(1000, 150.0), quantile(9000, 100.0));
        let v = judge_one(&w, Duration::from_secs(600), TriggerKind::P95Latency);
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            let w = reading(quantile(1000, bad), quantile(9000, 100.0));
            let v = judge_one(&w, Duration::from_secs(600), TriggerKind::P95Latency);
            assert_eq!(
                v.outcome,
                Outcome::NotEnoughEvidence,
                "{bad}: {}",
                v.summary
            );
        }
    }

    #[test]
    fn unhealthy_instances_fail_at_once_without_requests() {
        let t = defaults::triggers();
        let a = defaults::analysis();
        let w = Reading::default();
        let find = |v: Vec<Verdict>| {
            v.into_iter()
                .find(|v| v.trigger == TriggerKind::UnhealthyInstances)
                .unwrap()
        };
        let u = find(judge(&t, &a, &w, Duration::ZERO, Some(&instances(3, 1))));
        assert_eq!(u.outcome, Outcome::Fail);
        assert_eq!(
            u.summary,
            "1 of 4 new instances failing health checks (25.0 %, limit 10.0 %)"
        );
        // 9.1 % <= 10 %
        let u = find(judge(&t, &a, &w, Duration::ZERO, Some(&instances(10, 1))));
        assert_eq!(u.outcome, Outcome::Pass);
        let u = find(judge(&t, &a, &w, Duration::ZERO, None));
        assert_eq!(u.outcome, Outcome::NotEnoughEvidence);
    }

    #[test]
    fn new_error_kind_fails_after_five_minutes() {
        // 40 of 2 000: R 100 * qbeta(0.01, 40.5, 1960.5) = 1.36 > 0.5
        let w = reading(
            sample(2000, &[("TimeoutException", 40), ("http_500", 2)], 20.0),
            sample(2000, &[("http_500", 2)], 20.0),
        );
        let early = judge_one(&w, Duration::from_secs(299), TriggerKind::NewErrorKind);
        assert_eq!(early.outcome, Outcome::NotEnoughEvidence);
        assert!(early.summary.ends_with("4:59 of 5:00"), "{}", early.summary);
        let late = judge_one(&w, Duration::from_secs(300), TriggerKind::NewErrorKind);
        assert_eq!(late.outcome, Outcome::Fail);
        assert!(
            late.summary
                .starts_with("new error kind `TimeoutException` on 40 of 2 000 requests (2.0 %)"),
            "{}",
            late.summary
        );
    }

    #[test]
    fn status_classes_are_the_error_rate_triggers_not_new_kinds() {
        let w = reading(
            sample(2000, &[("http_503", 60), ("connect", 40)], 20.0),
            sample(2000, &[], 20.0),
        );
        let v = judge_one(&w, Duration::from_secs(600), TriggerKind::NewErrorKind);
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
        assert!(
            is_named_error_kind("http_client_gone") && is_named_error_kind("NullPointerException")
        );
    }

    #[test]
    fn known_or_rare_error_kinds_pass() {
        // 5 of 2 000: R 100 * qbeta(0.99, 5.5, 1995.5) = 0.62 <= 1
        let w = reading(
            sample(2000, &[("http_500", 100), ("Rare", 5)], 20.0),
            sample(2000, &[("http_500", 2)], 20.0),
        );
        let v = judge_one(&w, Duration::ZERO, TriggerKind::NewErrorKind);
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
    }

    #[test]
    fn confidence_and_tolerance_come_from_the_configuration() {
        // 8 of 150: at 99 % between +1.5 and +11.5, straddling; at 80 % the
        // lower bound is +3.2 (R: 100 * (qbeta(0.1, 8.5, 142.5) -
        // qbeta(0.9, 1.5, 1349.5))), over a tolerated +1.25.
        let w = reading(
            sample(150, &[("http_500", 8)], 20.0),
            sample(1350, &[("http_500", 1)], 20.0),
        );
        let strict = judge_one(&w, Duration::ZERO, TriggerKind::ErrorRate);
        assert_eq!(
            strict.outcome,
            Outcome::NotEnoughEvidence,
            "{}",
            strict.summary
        );
        let mut analysis = defaults::analysis();
        analysis.confidence = 0.8;
        analysis.tolerance = 0.25;
        let loose = judge(&defaults::triggers(), &analysis, &w, Duration::ZERO, None);
        assert_eq!(loose[0].outcome, Outcome::Fail, "{}", loose[0].summary);
        assert_eq!(loose[0].tolerated, Some(1.25));
        assert!(
            loose[0].summary.contains("80 % between"),
            "{}",
            loose[0].summary
        );
    }

    #[test]
    fn disabled_triggers_are_left_out() {
        let mut t = defaults::triggers();
        t.p95_latency.enabled = false;
        t.new_error_kind.enabled = false;
        let v = judge(
            &t,
            &defaults::analysis(),
            &Reading::default(),
            Duration::ZERO,
            None,
        );
        let kinds: Vec<_> = v.iter().map(|v| v.trigger).collect();
        assert_eq!(
            kinds,
            vec![TriggerKind::ErrorRate, TriggerKind::UnhealthyInstances]
        );
    }
}
