//! Family `late-onset`: the new version is healthy at first, then regresses
//! for good — +10 points of errors, or a x2 p95 — minutes after its weight
//! was applied. The verdict must hold for the whole release: a late fault
//! caught as quickly as an early one, and no false rollback before it.

use helmsman::config::defaults;

use crate::policies::{POLICIES, Policy, RunResult};
use crate::summary::{
    after_start, before_columns, before_start, median_or_never, median_p95, met, out, percent,
    rate_pct, share_of, top_trigger,
};
use crate::world::{Fault, Scenario};

const TRAFFIC_RPS: [u32; 3] = [10, 100, 1000];
const WEIGHT_PCT: u8 = 10;
const BASELINE_ERROR_RATE: f64 = 0.001;
/// How long a run lasts after the onset.
const AFTER_ONSET_S: u64 = 600;

const ERROR_DELTA_PTS: f64 = 10.0;
const ERROR_ONSETS_S: [u64; 3] = [0, 300, 1200];
const LATENCY_FACTOR: f64 = 2.0;
const LATENCY_ONSETS_S: [u64; 2] = [300, 900];

const TARGET_RPS: u32 = 100;
const TARGET_MEDIAN_S: u64 = 30;
const TARGET_MAX_EARLY: f64 = 0.01;
const TARGET_P95_CAUGHT: f64 = 0.99;

pub fn scenarios() -> Vec<Scenario> {
    let mut cells = Vec::new();
    let faults = ERROR_ONSETS_S
        .iter()
        .map(|&at| Fault::late(at, ERROR_DELTA_PTS, 1.0))
        .chain(
            LATENCY_ONSETS_S
                .iter()
                .map(|&at| Fault::late(at, 0.0, LATENCY_FACTOR)),
        );
    for fault in faults {
        for rps in TRAFFIC_RPS {
            cells.push(Scenario {
                rps,
                weight: WEIGHT_PCT,
                baseline_error_rate: BASELINE_ERROR_RATE,
                fault,
                horizon_s: fault.start_s + AFTER_ONSET_S,
            });
        }
    }
    cells
}

fn is_error_regression(cell: &Scenario) -> bool {
    cell.fault.error_delta_pts > 0.0
}

/// The p95 trigger's `after` plus one reading interval.
fn latency_deadline_s() -> u64 {
    (defaults::triggers().p95_latency.after + defaults::analysis().interval).as_secs()
}

pub fn report(cells: &[Scenario], results: &[Vec<RunResult>], s: &mut String) {
    let deadline_s = latency_deadline_s();
    out!(s);
    out!(
        s,
        "## Late onset: a regression that begins after the weight is applied"
    );
    out!(s);
    out!(
        s,
        "Weight {WEIGHT_PCT} %, baseline error rate 0.1 %. The new version behaves like the \
         baseline until the **onset** (seconds after its weight was applied), then regresses \
         for good; a run lasts until {} min after the onset. Per cell and policy: **rb** share \
         of runs rolled back after the onset; **time** seconds from the onset to the rollback \
         decision, median / p95 over those runs; **failed** failed requests on the new version \
         from the onset to the decision (or the horizon), median / p95 over all runs; **by** \
         the trigger (check) that decided most of those rollbacks; **before onset** the share \
         of runs rolled back before the onset — a false rollback of a version that was still \
         healthy — and by what.",
        AFTER_ONSET_S / 60,
    );
    out!(s);
    out!(s, "### +{ERROR_DELTA_PTS} points of errors");
    out!(s);
    out!(
        s,
        "| requests/s | onset | policy | rb | time | failed | by | before onset | by |"
    );
    out!(s, "|--:|--:|:--|--:|--:|--:|:--|--:|:--|");
    for (cell, runs) in cells
        .iter()
        .zip(results)
        .filter(|(c, _)| is_error_regression(c))
    {
        let start = cell.fault.start_s;
        for policy in POLICIES {
            let outcomes = || runs.iter().map(|r| r.of(policy));
            let times: Vec<u64> = outcomes().filter_map(|o| after_start(o, start)).collect();
            let failed: Vec<u64> = runs
                .iter()
                .map(|r| r.failed_after_fault_start(policy, start))
                .collect();
            out!(
                s,
                "| {} | {start} s | {} | {} | {} | {} | {} | {} |",
                cell.rps,
                policy.name(),
                percent(times.len() as f64 / runs.len().max(1) as f64),
                median_p95(times),
                median_p95(failed),
                top_trigger(outcomes().filter(|o| after_start(o, start).is_some())),
                before_columns(runs, policy, start),
            );
        }
    }
    out!(s);
    out!(s, "### x{LATENCY_FACTOR} p95 latency (no error regression)");
    out!(s);
    out!(
        s,
        "**≤ {deadline_s} s**: share of runs rolled back by the policy's latency check (helmsman's \
         p95 trigger, threshold-only's p95 check, Flagger's request-duration) within \
         {deadline_s} s of the onset: the p95 trigger's {}-s `after` plus one {}-s reading \
         interval. The comparison policies cannot roll back sooner than {} s after a check \
         first fails.",
        defaults::triggers().p95_latency.after.as_secs(),
        defaults::analysis().interval.as_secs(),
        crate::policies::CHECK_EVERY_S * u64::from(crate::policies::FAILED_CHECKS_TO_ROLL_BACK - 1),
    );
    out!(s);
    out!(
        s,
        "| requests/s | onset | policy | rb | ≤ {deadline_s} s | time | by | before onset | by |"
    );
    out!(s, "|--:|--:|:--|--:|--:|--:|:--|--:|:--|");
    for (cell, runs) in cells
        .iter()
        .zip(results)
        .filter(|(c, _)| !is_error_regression(c))
    {
        let start = cell.fault.start_s;
        for policy in POLICIES {
            let outcomes = || runs.iter().map(|r| r.of(policy));
            let times: Vec<u64> = outcomes().filter_map(|o| after_start(o, start)).collect();
            out!(
                s,
                "| {} | {start} s | {} | {} | {} | {} | {} | {} |",
                cell.rps,
                policy.name(),
                percent(times.len() as f64 / runs.len().max(1) as f64),
                percent(caught_by_latency(runs, policy, start, deadline_s)),
                median_p95(times),
                top_trigger(outcomes().filter(|o| after_start(o, start).is_some())),
                before_columns(runs, policy, start),
            );
        }
    }
    targets(cells, results, s);
}

/// The share of runs the policy's latency check rolled back within
/// `deadline_s` after `start_s`.
fn caught_by_latency(runs: &[RunResult], policy: Policy, start_s: u64, deadline_s: u64) -> f64 {
    share_of(runs, |r| {
        let outcome = r.of(policy);
        outcome
            .trigger
            .as_deref()
            .is_some_and(|t| policy.is_latency_trigger(t))
            && after_start(outcome, start_s).is_some_and(|after| after <= deadline_s)
    })
}

fn targets(cells: &[Scenario], results: &[Vec<RunResult>], s: &mut String) {
    let deadline_s = latency_deadline_s();
    let at_target = || {
        cells
            .iter()
            .zip(results)
            .filter(|(c, _)| c.rps == TARGET_RPS && c.weight == WEIGHT_PCT)
    };
    out!(s);
    out!(s, "### Targets (late onset)");
    out!(s);
    let mut all_met = true;
    let mut parts = Vec::new();
    for (cell, runs) in at_target().filter(|(c, _)| is_error_regression(c)) {
        let start = cell.fault.start_s;
        // A run rolled back before the onset, or never, was not caught.
        let median = median_or_never(
            runs.iter()
                .map(|r| after_start(r.of(Policy::Helmsman), start)),
        );
        all_met &= median.is_some_and(|m| m <= TARGET_MEDIAN_S);
        parts.push(format!(
            "onset {start} s: {}",
            median.map_or_else(|| "never".to_string(), |m| format!("{m} s"))
        ));
    }
    out!(
        s,
        "- +{ERROR_DELTA_PTS} points, {TARGET_RPS} requests/s, {WEIGHT_PCT} %: median onset → \
         rollback decision <= {TARGET_MEDIAN_S} s for every onset (over all runs; a run rolled \
         back before the onset, or not at all, counts as never): {} — **{}**",
        parts.join("; "),
        met(all_met),
    );
    let worst = cells
        .iter()
        .zip(results)
        .map(|(cell, runs)| {
            let start = cell.fault.start_s;
            (
                cell,
                share_of(runs, |r| before_start(r.of(Policy::Helmsman), start)),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((cell, share)) = worst {
        out!(
            s,
            "- helmsman's rollbacks before the onset (false rollbacks; expected ~0, criterion <= \
             {} as in the healthy family): worst cell {} requests/s, onset {} s, {}: {} — **{}**",
            rate_pct(TARGET_MAX_EARLY),
            cell.rps,
            cell.fault.start_s,
            if is_error_regression(cell) {
                format!("+{ERROR_DELTA_PTS} points")
            } else {
                format!("x{LATENCY_FACTOR} p95")
            },
            percent(share),
            met(share <= TARGET_MAX_EARLY),
        );
    }
    let mut all_met = true;
    let mut parts = Vec::new();
    for (cell, runs) in at_target().filter(|(c, _)| !is_error_regression(c)) {
        let start = cell.fault.start_s;
        let caught = caught_by_latency(runs, Policy::Helmsman, start, deadline_s);
        all_met &= caught >= TARGET_P95_CAUGHT;
        parts.push(format!("onset {start} s: {}", percent(caught)));
    }
    out!(
        s,
        "- x{LATENCY_FACTOR} p95, {TARGET_RPS} requests/s, {WEIGHT_PCT} %: share rolled back by \
         the p95 trigger within {deadline_s} s of the onset >= {}: {} — **{}**",
        rate_pct(TARGET_P95_CAUGHT),
        parts.join("; "),
        met(all_met),
    );
}
