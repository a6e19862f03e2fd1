use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::analysis::sequences;
use crate::config::defaults;
use crate::metrics::Sample;
use crate::observed::Instance;

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

fn on_its_own(window: &Reading, kind: TriggerKind) -> Verdict {
    judge_window(&defaults::triggers(), &defaults::analysis(), window, None)
        .into_iter()
        .find(|v| v.trigger == kind)
        .unwrap()
}

fn error_rate(new: Sample, baseline: Sample) -> Verdict {
    on_its_own(&reading(new, baseline), TriggerKind::ErrorRate)
}

fn instances(healthy: usize, unhealthy: usize) -> TrafficState {
    let new = (0..healthy + unhealthy)
        .map(|i| Instance {
            name: format!("new-{i}"),
            in_rotation: true,
            healthy: i < healthy,
        })
        .collect();
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
fn error_rate_fails_with_its_confidence_sequence() {
    let e = error_rate(
        sample(1240, &[("http_500", 98)], 20.0),
        sample(5000, &[("http_500", 10)], 20.0),
    );
    assert_eq!(e.outcome, Outcome::Fail, "{}", e.summary);
    let (lower, upper) = sequences::difference((98.0, 1240.0), (10.0, 5000.0), 0.01);
    assert_eq!(
        (e.lower, e.upper),
        (Some(lower * 100.0), Some(upper * 100.0))
    );
    assert_eq!(
        e.summary,
        format!(
            "error rate 7.9 % vs baseline 0.2 % over 1 240 requests: +7.7 points, \
             99 % between {:+.1} and {:+.1} (limit +5.0, tolerated +2.5)",
            lower * 100.0,
            upper * 100.0
        )
    );
    assert_eq!((e.tolerated, e.confidence), (Some(2.5), Some(0.99)));
    assert_eq!((e.new_requests, e.baseline_requests), (1240, 5000));
}

#[test]
fn a_regression_under_the_threshold_passes_and_one_at_it_is_not_passed() {
    let e = error_rate(
        sample(5000, &[("http_500", 55)], 20.0),
        sample(45000, &[("http_500", 45)], 20.0),
    );
    assert_eq!(e.outcome, Outcome::Pass, "{}", e.summary);
    let e = error_rate(
        sample(2000, &[("http_500", 102)], 20.0),
        sample(18000, &[("http_500", 18)], 20.0),
    );
    assert_ne!(e.outcome, Outcome::Pass, "{}", e.summary);
}

#[test]
fn bounds_that_straddle_the_limit_hold_the_step() {
    let e = error_rate(
        sample(150, &[("http_500", 6)], 20.0),
        sample(1350, &[("http_500", 1)], 20.0),
    );
    assert_eq!(e.outcome, Outcome::NotEnoughEvidence);
    assert!(
        e.summary
            .ends_with("not enough evidence yet (the bounds straddle the limit)"),
        "{}",
        e.summary
    );
}

#[test]
fn zero_errors_on_both_sides_pass_without_nan() {
    let e = error_rate(sample(400, &[], 20.0), sample(4000, &[], 20.0));
    assert_eq!(e.outcome, Outcome::Pass, "{}", e.summary);
    assert!(e.lower.unwrap().is_finite() && e.lower.unwrap() <= 0.0);
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
    let e = error_rate(
        sample(10, &[("http_503", 9)], 20.0),
        sample(1000, &[], 20.0),
    );
    assert_eq!(e.outcome, Outcome::NotEnoughEvidence);
}

#[test]
fn thin_baseline_traffic_holds_instead_of_comparing_with_zero() {
    // 30 of 500 failing (6 %) against a baseline nobody measured: the old
    // judge held it against 0 % and failed it.
    let e = error_rate(sample(500, &[("http_500", 30)], 20.0), Sample::default());
    assert_eq!(e.outcome, Outcome::NotEnoughEvidence);
    assert!(
        e.summary
            .ends_with("not enough baseline traffic (0 of 100 requests)"),
        "{}",
        e.summary
    );
    let e = error_rate(
        sample(500, &[("http_500", 30)], 20.0),
        sample(40, &[("http_500", 2)], 20.0),
    );
    assert!(e.summary.contains("(40 of 100 requests)"), "{}", e.summary);
}

#[test]
fn p95_judged_on_its_own_window() {
    let slow = reading(sample(1000, &[], 300.0), sample(1000, &[], 100.0));
    let v = on_its_own(&slow, TriggerKind::P95Latency);
    assert_eq!(v.outcome, Outcome::Fail, "{}", v.summary);
    assert!(v.lower.unwrap() > 1.5, "{}", v.summary);
    assert!(v.summary.contains("(limit ×2.0, tolerated ×1.50)"));
    let close = reading(sample(1000, &[], 120.0), sample(1000, &[], 100.0));
    let v = on_its_own(&close, TriggerKind::P95Latency);
    assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
}

#[test]
fn p95_ties_and_small_increases_pass() {
    let tied = reading(sample(1000, &[], 45.0), sample(1000, &[], 45.0));
    let v = on_its_own(&tied, TriggerKind::P95Latency);
    assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
    // ×2.2, but 7.1 ms against 3.3 ms: under the 50 ms minimum increase.
    let small = reading(sample(1000, &[], 7.1), sample(1000, &[], 3.3));
    let v = on_its_own(&small, TriggerKind::P95Latency);
    assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
    assert!(
        v.summary.contains("under the 50 ms minimum increase"),
        "{}",
        v.summary
    );
}

#[test]
fn p95_in_the_overflow_bucket_is_unbounded_above() {
    let mut new = sample(1000, &[], 100.0);
    for _ in 0..200 {
        new.latency.record_ms(120_000.0); // past the last bucket
    }
    new.requests += 200;
    let v = on_its_own(
        &reading(new, sample(1000, &[], 100.0)),
        TriggerKind::P95Latency,
    );
    assert_eq!(v.upper, Some(f64::INFINITY));
    assert_eq!(v.outcome, Outcome::Fail, "{}", v.summary);
    assert!(v.summary.contains("and unbounded"), "{}", v.summary);
}

#[test]
fn p95_without_a_baseline_holds() {
    let w = reading(sample(1000, &[], 300.0), Sample::default());
    let v = on_its_own(&w, TriggerKind::P95Latency);
    assert_eq!(v.outcome, Outcome::NotEnoughEvidence);
    assert!(
        v.summary
            .contains("not enough baseline traffic (0 of 100 requests)"),
        "{}",
        v.summary
    );
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
    let u = find(judge_window(&t, &a, &w, Some(&instances(3, 1))));
    assert_eq!(u.outcome, Outcome::Fail);
    assert_eq!(
        u.summary,
        "1 of 4 new instances failing health checks (25.0 %, limit 10.0 %)"
    );
    // 9.1 % <= 10 %
    let u = find(judge_window(&t, &a, &w, Some(&instances(10, 1))));
    assert_eq!(u.outcome, Outcome::Pass);
    let u = find(judge_window(&t, &a, &w, None));
    assert_eq!(u.outcome, Outcome::NotEnoughEvidence);
}

#[test]
fn status_classes_are_the_error_rate_triggers_not_new_kinds() {
    let w = reading(
        sample(2000, &[("http_503", 60), ("connect", 40)], 20.0),
        sample(2000, &[], 20.0),
    );
    let v = on_its_own(&w, TriggerKind::NewErrorKind);
    assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
}

#[test]
fn known_or_rare_error_kinds_pass() {
    let w = reading(
        sample(4000, &[("http_500", 100), ("Rare", 5)], 20.0),
        sample(4000, &[("http_500", 2)], 20.0),
    );
    let v = on_its_own(&w, TriggerKind::NewErrorKind);
    assert_eq!(v.outcome, Outcome::Pass, "{}", v.summary);
}

#[test]
fn confidence_and_tolerance_come_from_the_configuration() {
    let w = reading(
        sample(150, &[("http_500", 12)], 20.0),
        sample(1350, &[("http_500", 1)], 20.0),
    );
    let strict = on_its_own(&w, TriggerKind::ErrorRate);
    assert_eq!(
        strict.outcome,
        Outcome::NotEnoughEvidence,
        "{}",
        strict.summary
    );
    let mut analysis = defaults::analysis();
    analysis.confidence = 0.8;
    analysis.tolerance = 0.25;
    let loose = judge_window(&defaults::triggers(), &analysis, &w, None);
    assert_eq!(loose[0].outcome, Outcome::Fail, "{}", loose[0].summary);
    assert_eq!(loose[0].tolerated, Some(1.25));
    assert!(
        loose[0].summary.contains("80 % between"),
        "{}",
        loose[0].summary
    );
    // A trigger's own tolerance wins over the analysis-wide one.
    let mut triggers = defaults::triggers();
    triggers.error_rate.tolerance = Some(0.9);
    let own = judge_window(&triggers, &analysis, &w, None);
    assert_eq!(own[0].tolerated, Some(4.5));
}

#[test]
fn disabled_triggers_are_left_out() {
    let mut t = defaults::triggers();
    t.p95_latency.enabled = false;
    t.new_error_kind.enabled = false;
    let v = judge_window(&t, &defaults::analysis(), &Reading::default(), None);
    let kinds: Vec<_> = v.iter().map(|v| v.trigger).collect();
    assert_eq!(
        kinds,
        vec![TriggerKind::ErrorRate, TriggerKind::UnhealthyInstances]
    );
}

// ----- a release watched reading by reading --------------------------------

fn at(seconds: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(seconds as i64)
}

/// What one version serves in one 10-second reading.
#[derive(Clone, Copy)]
struct Serving {
    requests: u64,
    errors: u64,
    latency_ms: f64,
    kind: Option<(&'static str, u64)>,
}

const HEALTHY_NEW: Serving = Serving {
    requests: 100,
    errors: 0,
    latency_ms: 45.0,
    kind: None,
};
const HEALTHY_BASE: Serving = Serving {
    requests: 900,
    errors: 1,
    latency_ms: 45.0,
    kind: None,
};

fn serve(into: &mut Sample, s: Serving) {
    into.requests += s.requests;
    into.errors += s.errors;
    if s.errors > 0 {
        *into.errors_by_kind.entry("http_500".into()).or_default() += s.errors;
    }
    if let Some((kind, n)) = s.kind {
        into.errors += n;
        *into.errors_by_kind.entry(kind.into()).or_default() += n;
    }
    // 95 % at the latency, 5 % a little slower: a p95 inside one bucket.
    let slow = s.requests / 20;
    for _ in 0..s.requests - slow {
        into.latency.record_ms(s.latency_ms * 0.9);
    }
    for _ in 0..slow {
        into.latency.record_ms(s.latency_ms);
    }
}

/// Feeds `readings` 10-second readings, the new version serving
/// `new(reading)` (1-based); returns the verdict of `kind` at every reading.
fn watch(
    triggers: &Triggers,
    readings: u64,
    new: impl Fn(u64) -> Serving,
    base: impl Fn(u64) -> Serving,
    kind: TriggerKind,
) -> Vec<Verdict> {
    watch_after(Sample::default(), triggers, readings, new, base, kind)
}

/// [`watch`], the baseline having served `before` before the release.
fn watch_after(
    before: Sample,
    triggers: &Triggers,
    readings: u64,
    new: impl Fn(u64) -> Serving,
    base: impl Fn(u64) -> Serving,
    kind: TriggerKind,
) -> Vec<Verdict> {
    let analysis = defaults::analysis();
    let mut w = Watch::new(at(0), triggers, before);
    let mut window = Reading::default();
    (1..=readings)
        .map(|r| {
            serve(&mut window.new, new(r));
            serve(&mut window.baseline, base(r));
            w.judge(triggers, &analysis, at(r * 10), &window, None)
                .into_iter()
                .find(|v| v.trigger == kind)
                .unwrap()
        })
        .collect()
}

fn first_fail(verdicts: &[Verdict]) -> Option<u64> {
    verdicts
        .iter()
        .position(|v| v.outcome == Outcome::Fail)
        .map(|i| i as u64 + 1)
}

#[test]
fn a_fault_that_begins_late_is_caught_within_readings_of_its_onset() {
    // Twenty minutes clean, then 10 % of requests failing.
    let bad = |r: u64| Serving {
        errors: if r > 120 { 10 } else { 0 },
        ..HEALTHY_NEW
    };
    let verdicts = watch(
        &defaults::triggers(),
        150,
        bad,
        |_| HEALTHY_BASE,
        TriggerKind::ErrorRate,
    );
    let failed = first_fail(&verdicts).expect("rolled back");
    assert!(failed > 120 && failed <= 124, "failed at reading {failed}");
    let v = &verdicts[failed as usize - 1];
    // The verdict speaks of the recent window, not of the diluted whole.
    assert!(v.summary.contains("over the last 0:"), "{}", v.summary);
    assert!(v.new_value.unwrap() > 5.0, "{}", v.summary);
    // The cumulative rate was still under the tolerated +2.5 points.
    assert!(verdicts[failed as usize - 2].outcome == Outcome::Pass || failed > 121);
}

/// Ten minutes of the stable version at 100 requests/s and 0.1 % errors.
fn ten_minutes_before() -> Sample {
    Sample {
        requests: 60_000,
        errors: 60,
        ..Sample::default()
    }
}

#[test]
fn the_baseline_before_the_release_lets_the_first_reading_decide() {
    let bad = |_| Serving {
        errors: 11,
        ..HEALTHY_NEW
    };
    let t = defaults::triggers();
    let base = |_| HEALTHY_BASE;
    let alone = watch(&t, 6, bad, base, TriggerKind::ErrorRate);
    let informed = watch_after(
        ten_minutes_before(),
        &t,
        6,
        bad,
        base,
        TriggerKind::ErrorRate,
    );
    assert_eq!(first_fail(&informed), Some(1), "{:?}", informed[0].summary);
    let later = first_fail(&alone).expect("rolled back without it too");
    assert!(later > 1, "{:?}", alone[0].summary);
}

#[test]
fn a_last_step_at_100_percent_is_judged_against_the_baseline_from_before() {
    // The canary reached 100 % before the stable version served
    // min_requests during the release: from then on it serves nothing.
    let mut before = Sample::default();
    serve(&mut before, HEALTHY_BASE);
    serve(
        &mut before,
        Serving {
            requests: 50_000,
            errors: 50,
            ..HEALTHY_BASE
        },
    );
    let all_of_it = |errors| {
        move |_| Serving {
            requests: 1000,
            errors,
            ..HEALTHY_NEW
        }
    };
    let nothing = |_| Serving {
        requests: 0,
        errors: 0,
        ..HEALTHY_BASE
    };
    let t = defaults::triggers();
    for kind in [
        TriggerKind::ErrorRate,
        TriggerKind::P95Latency,
        TriggerKind::NewErrorKind,
    ] {
        let healthy = watch_after(before.clone(), &t, 6, all_of_it(1), nothing, kind);
        let last = healthy.last().unwrap();
        assert_eq!(last.outcome, Outcome::Pass, "{kind:?}: {}", last.summary);
        // Without the stable version's past there is nothing to compare with.
        let unknown = watch(&t, 6, all_of_it(1), nothing, kind);
        let last = unknown.last().unwrap();
        if kind != TriggerKind::NewErrorKind {
            assert_eq!(last.outcome, Outcome::NotEnoughEvidence, "{kind:?}");
            assert!(
                last.summary
                    .contains("not enough baseline traffic (0 of 100 requests)")
            );
        }
    }
    // A regression at 100 % is still caught against the past.
    let failing = watch_after(
        before,
        &t,
        6,
        all_of_it(100),
        nothing,
        TriggerKind::ErrorRate,
    );
    assert_eq!(first_fail(&failing), Some(1), "{}", failing[0].summary);
}

#[test]
fn a_baseline_worse_than_its_past_is_not_held_to_its_past() {
    // Since the release began the stable version fails 5 % of requests
    // (0.1 % before it), in readings too thin to judge on their own; the
    // new version fails 7 %, within the tolerated 2.5 points.
    let verdicts = watch_after(
        ten_minutes_before(),
        &defaults::triggers(),
        120,
        |_| Serving {
            errors: 7,
            ..HEALTHY_NEW
        },
        |r| Serving {
            requests: 90,
            errors: 4 + r % 2,
            ..HEALTHY_BASE
        },
        TriggerKind::ErrorRate,
    );
    assert_eq!(first_fail(&verdicts), None, "{:?}", verdicts.last());
}

#[test]
fn a_failure_shared_with_the_baseline_does_not_roll_back() {
    // A dependency fails 8 % of both versions' requests from minute 5.
    let shared = |errors_per_100: u64| {
        move |r: u64| Serving {
            errors: if r > 30 { errors_per_100 } else { 0 },
            ..HEALTHY_NEW
        }
    };
    let base = |r: u64| Serving {
        errors: if r > 30 { 72 } else { 1 },
        ..HEALTHY_BASE
    };
    let verdicts = watch(
        &defaults::triggers(),
        90,
        shared(8),
        base,
        TriggerKind::ErrorRate,
    );
    assert_eq!(first_fail(&verdicts), None, "{}", verdicts[89].summary);
}

#[test]
fn p95_rolls_back_when_the_regression_holds_for_two_minutes_not_before() {
    let slow_from = |onset: u64, until: u64| {
        move |r: u64| Serving {
            latency_ms: if r > onset && r <= until { 300.0 } else { 45.0 },
            ..HEALTHY_NEW
        }
    };
    // From reading 31 (300 s) on for good: fails 2:00 after its onset.
    let verdicts = watch(
        &defaults::triggers(),
        60,
        slow_from(30, u64::MAX),
        |_| HEALTHY_BASE,
        TriggerKind::P95Latency,
    );
    let failed = first_fail(&verdicts).expect("rolled back");
    assert_eq!(failed, 42, "{}", verdicts[failed as usize - 1].summary);
    let held = &verdicts[failed as usize - 3];
    assert!(
        held.summary
            .ends_with("over the tolerated effect for 1:40, rolls back if it holds for 2:00"),
        "{}",
        held.summary
    );
    assert!(
        verdicts[failed as usize - 1]
            .summary
            .ends_with("held for 2:00")
    );
    // A one-minute spike at minute 3 clears before it has held 2:00.
    let spike = watch(
        &defaults::triggers(),
        60,
        slow_from(18, 24),
        |_| HEALTHY_BASE,
        TriggerKind::P95Latency,
    );
    assert_eq!(first_fail(&spike), None);
    // Once it is over the trigger passes again.
    assert_eq!(spike[59].outcome, Outcome::Pass, "{}", spike[59].summary);
}

#[test]
fn reported_p95s_are_timed_from_the_first_reading_over_the_threshold() {
    let triggers = defaults::triggers();
    let analysis = defaults::analysis();
    let mut w = Watch::new(at(0), &triggers, Sample::default());
    let quantile = |requests, p95: f64| Sample {
        requests,
        reported_p95_ms: Some(p95),
        ..Sample::default()
    };
    let mut outcome_at = |r: u64, new_p95: f64| {
        let window = reading(quantile(1000 * r, new_p95), quantile(9000 * r, 100.0));
        let v = w.judge(&triggers, &analysis, at(r * 10), &window, None);
        v.into_iter()
            .find(|v| v.trigger == TriggerKind::P95Latency)
            .unwrap()
    };
    assert_eq!(outcome_at(1, 150.0).outcome, Outcome::Pass);
    assert_eq!(outcome_at(2, 300.0).outcome, Outcome::NotEnoughEvidence);
    assert_eq!(outcome_at(13, 300.0).outcome, Outcome::NotEnoughEvidence);
    let v = outcome_at(14, 300.0);
    assert_eq!(v.outcome, Outcome::Fail, "{}", v.summary);
    assert!(
        v.summary.contains("reported quantiles, no bounds"),
        "{}",
        v.summary
    );
    // It clears, and the clock restarts.
    assert_eq!(outcome_at(15, 120.0).outcome, Outcome::Pass);
    assert_eq!(outcome_at(16, 300.0).outcome, Outcome::NotEnoughEvidence);
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        assert_ne!(outcome_at(17, bad).outcome, Outcome::Fail, "{bad}");
    }
}

#[test]
fn a_new_error_kind_rolls_back_once_it_held_five_minutes() {
    // From reading 11 on, 3 of every 100 requests throw a new exception.
    let kind = |r: u64| Serving {
        kind: (r > 10).then_some(("TimeoutException", 3)),
        ..HEALTHY_NEW
    };
    let verdicts = watch(
        &defaults::triggers(),
        60,
        kind,
        |_| HEALTHY_BASE,
        TriggerKind::NewErrorKind,
    );
    let failed = first_fail(&verdicts).expect("rolled back");
    assert_eq!(failed, 40, "{}", verdicts[failed as usize - 1].summary);
    assert!(
        verdicts[failed as usize - 1]
            .summary
            .starts_with("new error kind `TimeoutException` on "),
        "{}",
        verdicts[failed as usize - 1].summary
    );
}

#[test]
fn a_new_kind_under_its_threshold_never_rolls_back() {
    // 0.7 % of requests, for half an hour at 1 000 new requests a reading.
    let kind = |_| Serving {
        requests: 1000,
        kind: Some(("TimeoutException", 7)),
        ..HEALTHY_NEW
    };
    let verdicts = watch(
        &defaults::triggers(),
        180,
        kind,
        |_| HEALTHY_BASE,
        TriggerKind::NewErrorKind,
    );
    assert_eq!(first_fail(&verdicts), None);
}

#[test]
fn a_rollback_compares_against_the_baseline_its_detector_used() {
    // The stable version's counters stop moving while the fault builds —
    // a metrics source scraped less often than it is read reports no
    // baseline requests for the last readings. The detector judged the
    // new version against everything the baseline served; so must the
    // rollback's numbers, never against an empty recent baseline.
    let bad = |r: u64| Serving {
        errors: if r > 12 { 20 } else { 0 },
        ..HEALTHY_NEW
    };
    let quiet_late = |r: u64| Serving {
        requests: if r > 12 { 0 } else { 900 },
        errors: if r > 12 { 0 } else { 1 },
        ..HEALTHY_BASE
    };
    let verdicts = watch(
        &defaults::triggers(),
        40,
        bad,
        quiet_late,
        TriggerKind::ErrorRate,
    );
    let failed = first_fail(&verdicts).expect("rolled back");
    let v = &verdicts[failed as usize - 1];
    assert!(v.summary.contains("over the last 0:"), "{}", v.summary);
    assert_eq!(v.baseline_requests, 12 * 900, "{}", v.summary);
    assert_eq!(v.baseline_value, Some(12.0 / (12.0 * 900.0) * 100.0));
}
