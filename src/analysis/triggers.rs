//! The four automatic rollback triggers of PRODUCT.md, judged over one
//! observation window.
//!
//! Rules shared by all of them:
//! - A verdict is never a bare boolean: it carries the measured values, the
//!   threshold, the sample sizes and a one-line summary with the numbers.
//! - A handful of requests is not evidence: below `analysis.min_requests` on
//!   the new version a metric trigger says `NotEnoughEvidence` ("38 of 100
//!   requests"), with one exception — a new version answering mostly errors
//!   (more than 50 % of at least 20 requests) fails at once, because waiting
//!   for more evidence would only hurt more users.
//! - A trigger with an `after` window says `NotEnoughEvidence` ("observing
//!   0:45 of 2:00") until the new version has been observed that long.
//! - The instance-health trigger needs no request minimum: it judges the
//!   instances the backend reports, not requests.

use std::time::Duration;

use crate::config::{Analysis, Trigger, Triggers};
use crate::engine::types::{Outcome, TriggerKind, Verdict};
use crate::metrics::{Reading, Sample};
use crate::providers::TrafficState;

use super::numbers::{clock, count, ms, pct};

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
    let mut verdicts = Vec::with_capacity(4);
    if triggers.error_rate.enabled {
        verdicts.push(error_rate(
            &triggers.error_rate,
            analysis,
            window,
            observed_for,
        ));
    }
    if triggers.p95_latency.enabled {
        verdicts.push(p95_latency(
            &triggers.p95_latency,
            analysis,
            window,
            observed_for,
        ));
    }
    if triggers.unhealthy_instances.enabled {
        verdicts.push(unhealthy_instances(&triggers.unhealthy_instances, traffic));
    }
    if triggers.new_error_kind.enabled {
        verdicts.push(new_error_kind(
            &triggers.new_error_kind,
            analysis,
            window,
            observed_for,
        ));
    }
    verdicts
}

/// The first failing verdict, if any: the one a rollback names.
pub fn first_failure(verdicts: &[Verdict]) -> Option<&Verdict> {
    verdicts.iter().find(|v| v.outcome == Outcome::Fail)
}

/// Why the evidence is still too thin, if it is: the `after` window first
/// (the longer wait), then the request minimum.
fn thin_evidence(
    trigger: &Trigger,
    analysis: &Analysis,
    new: &Sample,
    observed_for: Duration,
) -> Option<String> {
    if observed_for < trigger.after {
        return Some(format!(
            "observing {} of {}",
            clock(observed_for),
            clock(trigger.after)
        ));
    }
    if new.requests < analysis.min_requests {
        return Some(format!(
            "{} of {} requests",
            count(new.requests),
            count(analysis.min_requests)
        ));
    }
    None
}

fn verdict(
    trigger: TriggerKind,
    outcome: Outcome,
    new_value: Option<f64>,
    baseline_value: Option<f64>,
    threshold: f64,
    window: &Reading,
    summary: String,
) -> Verdict {
    Verdict {
        trigger,
        outcome,
        new_value,
        baseline_value,
        threshold,
        new_requests: window.new.requests,
        baseline_requests: window.baseline.requests,
        summary,
    }
}

/// New error rate minus baseline error rate, in percentage points.
///
/// The baseline: when it served fewer than `min_requests` in the window
/// (after a blue-green switch it serves nothing, at a canary's 100 % step
/// neither), its rate is unknown and the new version is held against 0 % —
/// an absolute "no more than +threshold points of errors". That can only
/// make the trigger stricter than a known, worse baseline would, which is
/// the safe side for a rollback trigger.
fn error_rate(
    trigger: &Trigger,
    analysis: &Analysis,
    window: &Reading,
    observed_for: Duration,
) -> Verdict {
    let kind = TriggerKind::ErrorRate;
    let new_rate = window.new.error_rate_pct();
    let baseline_known = window.baseline.requests >= analysis.min_requests.max(1);
    let baseline_rate = if baseline_known {
        window.baseline.error_rate_pct().unwrap_or(0.0)
    } else {
        0.0
    };
    let baseline_words = if baseline_known {
        format!("baseline {}", pct(baseline_rate))
    } else {
        format!(
            "baseline unknown ({} requests), held against 0 %",
            count(window.baseline.requests)
        )
    };
    let limit = format!("limit +{:.1} points", trigger.threshold);

    // The hard ceiling comes before the evidence rules on purpose.
    if let Some(rate) = new_rate
        && window.new.requests >= HARD_CEILING_MIN_REQUESTS
        && rate > HARD_CEILING_ERROR_PCT
    {
        return verdict(
            kind,
            Outcome::Fail,
            Some(rate),
            Some(baseline_rate),
            trigger.threshold,
            window,
            format!(
                "error rate {} vs {baseline_words} over {} requests (more than half failing)",
                pct(rate),
                count(window.new.requests)
            ),
        );
    }
    if let Some(thin) = thin_evidence(trigger, analysis, &window.new, observed_for) {
        return verdict(
            kind,
            Outcome::NotEnoughEvidence,
            new_rate,
            Some(baseline_rate),
            trigger.threshold,
            window,
            format!("error rate: not enough evidence yet ({thin})"),
        );
    }
    let rate = new_rate.unwrap_or(0.0);
    let outcome = if rate - baseline_rate > trigger.threshold {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    verdict(
        kind,
        outcome,
        Some(rate),
        Some(baseline_rate),
        trigger.threshold,
        window,
        format!(
            "error rate {} vs {baseline_words} over {} requests ({limit})",
            pct(rate),
            count(window.new.requests)
        ),
    )
}

/// New p95 over baseline p95, as a ratio. Without enough baseline requests
/// there is nothing to form a ratio with, so the verdict says so.
fn p95_latency(
    trigger: &Trigger,
    analysis: &Analysis,
    window: &Reading,
    observed_for: Duration,
) -> Verdict {
    let kind = TriggerKind::P95Latency;
    let new_p95 = window.new.p95_ms();
    let baseline_p95 = window.baseline.p95_ms();
    let numbers = match (new_p95, baseline_p95) {
        (Some(n), Some(b)) => format!("p95 latency {} vs baseline {}", ms(n), ms(b)),
        (Some(n), None) => format!("p95 latency {} vs no baseline", ms(n)),
        _ => "p95 latency".to_string(),
    };
    let thin = thin_evidence(trigger, analysis, &window.new, observed_for).or_else(|| {
        (window.baseline.requests < analysis.min_requests.max(1)).then(|| {
            format!(
                "baseline has {} of {} requests",
                count(window.baseline.requests),
                count(analysis.min_requests)
            )
        })
    });
    let (Some(new), Some(base), None) = (new_p95, baseline_p95, thin.as_ref()) else {
        let thin = thin.unwrap_or_else(|| "no latency recorded".to_string());
        return verdict(
            kind,
            Outcome::NotEnoughEvidence,
            new_p95,
            baseline_p95,
            trigger.threshold,
            window,
            format!("{numbers}: not enough evidence yet ({thin})"),
        );
    };
    let ratio = new / base.max(P95_BASELINE_FLOOR_MS);
    let outcome = if ratio > trigger.threshold {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    verdict(
        kind,
        outcome,
        Some(new),
        Some(base),
        trigger.threshold,
        window,
        format!(
            "{numbers} (×{ratio:.1}, limit ×{:.1}) over {} requests",
            trigger.threshold,
            count(window.new.requests)
        ),
    )
}

/// Share of the new version's instances (staged or in rotation) failing
/// their health checks, in percent. Judged from the backend's instance
/// list, so it needs no request minimum and no observation time.
fn unhealthy_instances(trigger: &Trigger, traffic: Option<&TrafficState>) -> Verdict {
    let kind = TriggerKind::UnhealthyInstances;
    let empty = Reading::default();
    let Some(state) = traffic else {
        return verdict(
            kind,
            Outcome::NotEnoughEvidence,
            None,
            None,
            trigger.threshold,
            &empty,
            "unhealthy instances: the backend has not reported its instances yet".to_string(),
        );
    };
    let total = state.new.len();
    if total == 0 {
        // A flag backend, for one, has no instances of its own: nothing to
        // health-check is not a failure, and must not block a gate forever.
        return verdict(
            kind,
            Outcome::Pass,
            Some(0.0),
            None,
            trigger.threshold,
            &empty,
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
        kind,
        outcome,
        Some(share),
        stable_share,
        trigger.threshold,
        &empty,
        format!(
            "{failing} of {total} new instances failing health checks ({}, limit {})",
            pct(share),
            pct(trigger.threshold)
        ),
    )
}

/// The most frequent error kind seen on the new version but never on the
/// baseline, as a share of the new version's requests.
fn new_error_kind(
    trigger: &Trigger,
    analysis: &Analysis,
    window: &Reading,
    observed_for: Duration,
) -> Verdict {
    let kind = TriggerKind::NewErrorKind;
    let worst = window
        .new
        .errors_by_kind
        .iter()
        .filter(|(name, n)| **n > 0 && !window.baseline.errors_by_kind.contains_key(*name))
        .max_by_key(|(_, n)| **n)
        .map(|(name, n)| (name.clone(), *n));
    let share = |n: u64| {
        if window.new.requests == 0 {
            0.0
        } else {
            n as f64 * 100.0 / window.new.requests as f64
        }
    };
    if let Some(thin) = thin_evidence(trigger, analysis, &window.new, observed_for) {
        let seen = match &worst {
            Some((name, n)) => format!("`{name}` on {} requests so far", count(*n)),
            None => "none so far".to_string(),
        };
        return verdict(
            kind,
            Outcome::NotEnoughEvidence,
            worst.as_ref().map(|(_, n)| share(*n)),
            Some(0.0),
            trigger.threshold,
            window,
            format!("new error kind: {seen}; not enough evidence yet ({thin})"),
        );
    }
    let Some((name, n)) = worst else {
        return verdict(
            kind,
            Outcome::Pass,
            Some(0.0),
            Some(0.0),
            trigger.threshold,
            window,
            format!(
                "no error kind unseen on the baseline over {} requests",
                count(window.new.requests)
            ),
        );
    };
    let value = share(n);
    let outcome = if value > trigger.threshold {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    verdict(
        kind,
        outcome,
        Some(value),
        Some(0.0),
        trigger.threshold,
        window,
        format!(
            "new error kind `{name}` on {} of {} requests ({}, limit {}), never seen on the baseline",
            count(n),
            count(window.new.requests),
            pct(value),
            pct(trigger.threshold)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::defaults;
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

    fn find(verdicts: &[Verdict], kind: TriggerKind) -> &Verdict {
        verdicts.iter().find(|v| v.trigger == kind).unwrap()
    }

    fn judge_defaults(window: &Reading, observed_for: Duration) -> Vec<Verdict> {
        judge(
            &defaults::triggers(),
            &defaults::analysis(),
            window,
            observed_for,
            None,
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
        }
    }

    #[test]
    fn error_rate_fails_at_once_with_its_numbers() {
        let w = reading(
            sample(1240, &[("http_500", 98)], 20.0),
            sample(5000, &[("http_500", 10)], 20.0),
        );
        let v = judge_defaults(&w, Duration::ZERO);
        let e = find(&v, TriggerKind::ErrorRate);
        assert_eq!(e.outcome, Outcome::Fail);
        assert_eq!(
            e.summary,
            "error rate 7.9 % vs baseline 0.2 % over 1 240 requests (limit +5.0 points)"
        );
        assert_eq!((e.new_requests, e.baseline_requests), (1240, 5000));
        assert_eq!(first_failure(&v).unwrap().trigger, TriggerKind::ErrorRate);
    }

    #[test]
    fn error_rate_passes_within_the_limit() {
        let w = reading(
            sample(1000, &[("http_500", 30)], 20.0),
            sample(1000, &[("http_500", 5)], 20.0),
        );
        let e = find(&judge_defaults(&w, Duration::ZERO), TriggerKind::ErrorRate).clone();
        assert_eq!(e.outcome, Outcome::Pass);
        assert!((e.new_value.unwrap() - 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_handful_of_requests_is_not_evidence() {
        let w = reading(
            sample(38, &[("http_500", 5)], 20.0),
            sample(1000, &[], 20.0),
        );
        let e = find(&judge_defaults(&w, Duration::ZERO), TriggerKind::ErrorRate).clone();
        assert_eq!(e.outcome, Outcome::NotEnoughEvidence);
        assert!(e.summary.contains("38 of 100 requests"), "{}", e.summary);
    }

    #[test]
    fn mostly_errors_fails_without_waiting_for_the_minimum() {
        let w = reading(
            sample(30, &[("http_503", 20)], 20.0),
            sample(1000, &[], 20.0),
        );
        let e = find(&judge_defaults(&w, Duration::ZERO), TriggerKind::ErrorRate).clone();
        assert_eq!(e.outcome, Outcome::Fail, "{}", e.summary);
        // …but not on fewer than 20 requests.
        let w = reading(
            sample(10, &[("http_503", 9)], 20.0),
            sample(1000, &[], 20.0),
        );
        let e = find(&judge_defaults(&w, Duration::ZERO), TriggerKind::ErrorRate).clone();
        assert_eq!(e.outcome, Outcome::NotEnoughEvidence);
    }

    #[test]
    fn an_unknown_baseline_is_held_against_zero() {
        let w = reading(sample(500, &[("http_500", 30)], 20.0), Sample::default());
        let e = find(&judge_defaults(&w, Duration::ZERO), TriggerKind::ErrorRate).clone();
        assert_eq!(e.outcome, Outcome::Fail);
        assert!(
            e.summary.contains("baseline unknown (0 requests)"),
            "{}",
            e.summary
        );
        let w = reading(sample(500, &[("http_500", 10)], 20.0), Sample::default());
        let e = find(&judge_defaults(&w, Duration::ZERO), TriggerKind::ErrorRate).clone();
        assert_eq!(e.outcome, Outcome::Pass);
    }

    #[test]
    fn p95_waits_for_its_two_minute_window_then_fails() {
        let w = reading(sample(1000, &[], 300.0), sample(1000, &[], 100.0));
        let early = find(
            &judge_defaults(&w, Duration::from_secs(45)),
            TriggerKind::P95Latency,
        )
        .clone();
        assert_eq!(early.outcome, Outcome::NotEnoughEvidence);
        assert!(
            early.summary.contains("observing 0:45 of 2:00"),
            "{}",
            early.summary
        );
        let just_before = find(
            &judge_defaults(&w, Duration::from_millis(119_999)),
            TriggerKind::P95Latency,
        )
        .clone();
        assert_eq!(just_before.outcome, Outcome::NotEnoughEvidence);
        let on_time = find(
            &judge_defaults(&w, Duration::from_secs(120)),
            TriggerKind::P95Latency,
        )
        .clone();
        assert_eq!(on_time.outcome, Outcome::Fail, "{}", on_time.summary);
        assert!(on_time.new_value.unwrap() > 250.0);
        assert!(
            on_time.summary.contains("limit ×2.0"),
            "{}",
            on_time.summary
        );
    }

    #[test]
    fn p95_passes_when_close_to_baseline_and_ignores_submillisecond_jitter() {
        let w = reading(sample(1000, &[], 120.0), sample(1000, &[], 100.0));
        let v = find(
            &judge_defaults(&w, Duration::from_secs(600)),
            TriggerKind::P95Latency,
        )
        .clone();
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
        let w = reading(sample(1000, &[], 0.9), sample(1000, &[], 0.3));
        let v = find(
            &judge_defaults(&w, Duration::from_secs(600)),
            TriggerKind::P95Latency,
        )
        .clone();
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
    }

    #[test]
    fn p95_without_a_baseline_is_not_evidence() {
        let w = reading(sample(1000, &[], 300.0), Sample::default());
        let v = find(
            &judge_defaults(&w, Duration::from_secs(600)),
            TriggerKind::P95Latency,
        )
        .clone();
        assert_eq!(v.outcome, Outcome::NotEnoughEvidence);
        assert!(
            v.summary.contains("baseline has 0 of 100 requests"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn unhealthy_instances_fail_at_once_without_requests() {
        let t = defaults::triggers();
        let a = defaults::analysis();
        let w = Reading::default();
        let state = instances(3, 1);
        let v = judge(&t, &a, &w, Duration::ZERO, Some(&state));
        let u = find(&v, TriggerKind::UnhealthyInstances);
        assert_eq!(u.outcome, Outcome::Fail);
        assert_eq!(
            u.summary,
            "1 of 4 new instances failing health checks (25.0 %, limit 10.0 %)"
        );
        let state = instances(10, 1); // 9.1 % ≤ 10 %
        let v = judge(&t, &a, &w, Duration::ZERO, Some(&state));
        assert_eq!(
            find(&v, TriggerKind::UnhealthyInstances).outcome,
            Outcome::Pass
        );
        let v = judge(&t, &a, &w, Duration::ZERO, None);
        assert_eq!(
            find(&v, TriggerKind::UnhealthyInstances).outcome,
            Outcome::NotEnoughEvidence
        );
    }

    #[test]
    fn new_error_kind_waits_five_minutes_then_fails() {
        let w = reading(
            sample(2000, &[("TimeoutException", 40), ("http_500", 2)], 20.0),
            sample(2000, &[("http_500", 2)], 20.0),
        );
        let early = find(
            &judge_defaults(&w, Duration::from_secs(299)),
            TriggerKind::NewErrorKind,
        )
        .clone();
        assert_eq!(early.outcome, Outcome::NotEnoughEvidence);
        assert!(
            early.summary.contains("observing 4:59 of 5:00"),
            "{}",
            early.summary
        );
        let late = find(
            &judge_defaults(&w, Duration::from_secs(300)),
            TriggerKind::NewErrorKind,
        )
        .clone();
        assert_eq!(late.outcome, Outcome::Fail);
        assert!(
            late.summary
                .contains("`TimeoutException` on 40 of 2 000 requests (2.0 %")
        );
    }

    #[test]
    fn known_or_rare_error_kinds_pass() {
        let w = reading(
            sample(2000, &[("http_500", 100), ("Rare", 5)], 20.0),
            sample(2000, &[("http_500", 2)], 20.0),
        );
        let v = find(
            &judge_defaults(&w, Duration::from_secs(600)),
            TriggerKind::NewErrorKind,
        )
        .clone();
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
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
