//! Family `first-step`: the fault is there from the onset (the moment the
//! canary's weight is applied) and stays; 10-minute horizon.

use helmsman::config::defaults;
use helmsman::engine::TriggerKind;

use crate::policies::{POLICIES, Policy, RunResult};
use crate::summary::{median_or_never, met, out, percent, rate_pct, share_of, summary_columns};
use crate::world::{Fault, Scenario};

const TRAFFIC_RPS: [u32; 3] = [10, 100, 1000];
const WEIGHTS_PCT: [u8; 3] = [5, 10, 25];
const ERROR_DELTAS_PTS: [f64; 5] = [0.0, 1.0, 5.0, 10.0, 20.0];
const LATENCY_FACTORS: [f64; 4] = [1.0, 1.5, 2.0, 3.0];
const BASELINE_ERROR_RATE: f64 = 0.001;
const HORIZON_S: u64 = 600;

/// The targets' cell and limits.
const TARGET_RPS: u32 = 100;
const TARGET_WEIGHT: u8 = 10;
const TARGET_DELTA_PTS: f64 = 10.0;
const TARGET_MEDIAN_S: u64 = 20;
const TARGET_MEDIAN_FAILED: u64 = 20;
const TARGET_WITHIN_S: u64 = 30;
const TARGET_BLAST_SHARE: f64 = 0.1;
const TARGET_UNDER_THRESHOLD_DELTA_PTS: f64 = 1.0;
const TARGET_MAX_MISTAKES: f64 = 0.01;
const TARGET_P95_FACTOR: f64 = 2.0;
const TARGET_P95_CAUGHT: f64 = 0.99;

pub fn scenarios() -> Vec<Scenario> {
    let mut cells = Vec::new();
    for rps in TRAFFIC_RPS {
        for weight in WEIGHTS_PCT {
            for error_delta_pts in ERROR_DELTAS_PTS {
                for latency_factor in LATENCY_FACTORS {
                    cells.push(Scenario {
                        rps,
                        weight,
                        baseline_error_rate: BASELINE_ERROR_RATE,
                        fault: Fault::from_onset(error_delta_pts, latency_factor),
                        horizon_s: HORIZON_S,
                    });
                }
            }
        }
    }
    cells
}

pub fn report(cells: &[Scenario], results: &[Vec<RunResult>], s: &mut String) {
    out!(s);
    out!(s, "## First step: a fault from the onset");
    out!(s);
    out!(
        s,
        "Baseline error rate 0.1 %; the new version's fault (+ points of errors, x latency) is there \
         from the onset (the moment weight w is applied) to the {}-minute horizon. Per cell \
         and policy: **rb** share of runs rolled back within {} min; **time** seconds from the \
         onset to the rollback decision, median / p95 over the rolled-back runs; **failed** \
         failed requests on the new version until the decision (or the horizon), median / p95 \
         over all runs; **by** the trigger (check) that decided most rollbacks.",
        HORIZON_S / 60,
        HORIZON_S / 60,
    );
    for rps in TRAFFIC_RPS {
        out!(s);
        out!(s, "### {rps} requests/s");
        out!(s);
        let mut header = "| w | error | latency |".to_string();
        let mut rule = "|--:|--:|--:|".to_string();
        for policy in POLICIES {
            header.push_str(&format!(" {} rb | time | failed | by |", policy.name()));
            rule.push_str("--:|--:|--:|:--|");
        }
        out!(s, "{header}");
        out!(s, "{rule}");
        for (cell, runs) in cells.iter().zip(results).filter(|(c, _)| c.rps == rps) {
            let columns: Vec<String> = POLICIES.iter().map(|&p| summary_columns(runs, p)).collect();
            out!(
                s,
                "| {} % | +{} | x{} | {} |",
                cell.weight,
                cell.fault.error_delta_pts,
                cell.fault.latency_factor,
                columns.join(" | "),
            );
        }
    }
    out!(s);
    out!(s, "### Targets (first step)");
    out!(s);
    fast_rollback_target(cells, results, s);
    under_threshold_target(cells, results, s);
    p95_target(cells, results, s);
    out!(
        s,
        "- healthy canaries: see the `healthy` family (30-minute releases, three baseline \
         error rates, the tolerated edge)."
    );
}

fn find<'r>(
    cells: &[Scenario],
    results: &'r [Vec<RunResult>],
    pick: impl Fn(&Scenario) -> bool,
) -> Vec<(Scenario, &'r [RunResult])> {
    cells
        .iter()
        .zip(results)
        .filter(|(c, _)| pick(c))
        .map(|(c, r)| (*c, r.as_slice()))
        .collect()
}

fn median_failed(runs: &[RunResult], policy: Policy) -> u64 {
    let mut failed: Vec<u64> = runs.iter().map(|r| r.of(policy).failed_requests).collect();
    failed.sort_unstable();
    crate::summary::nearest_rank(&failed, 0.5).unwrap_or(0)
}

fn fast_rollback_target(cells: &[Scenario], results: &[Vec<RunResult>], s: &mut String) {
    let found = find(cells, results, |c| {
        c.rps == TARGET_RPS
            && c.weight == TARGET_WEIGHT
            && c.fault.error_delta_pts == TARGET_DELTA_PTS
            && c.fault.latency_factor == 1.0
    });
    let Some(&(_, runs)) = found.first() else {
        return;
    };
    let median_s = median_or_never(runs.iter().map(|r| r.of(Policy::Helmsman).decided_at_s));
    let failed = median_failed(runs, Policy::Helmsman);
    let within = share_of(runs, |r| {
        r.of(Policy::Helmsman)
            .decided_at_s
            .is_some_and(|at| at <= TARGET_WITHIN_S)
    });
    out!(
        s,
        "- {TARGET_RPS} requests/s, {TARGET_WEIGHT} %, +{TARGET_DELTA_PTS} points, x1 ({} runs): \
         median onset → rollback decision {} (target <= {TARGET_MEDIAN_S} s), median blast \
         radius {failed} failed requests (target <= {TARGET_MEDIAN_FAILED}); {} of runs rolled \
         back within {TARGET_WITHIN_S} s — **{}** (medians over all runs, a run without \
         rollback counting as never)",
        runs.len(),
        median_s.map_or_else(|| "never".to_string(), |m| format!("{m} s")),
        percent(within),
        met(median_s.is_some_and(|m| m <= TARGET_MEDIAN_S) && failed <= TARGET_MEDIAN_FAILED),
    );
    let theirs = median_failed(runs, Policy::ThresholdOnly);
    let flagger = median_failed(runs, Policy::FlaggerBuiltins);
    out!(
        s,
        "- same cell: blast radius under a tenth of the threshold-only policy's: median \
         {failed} vs {theirs} failed requests ({:.3} of it; Flagger built-ins: {flagger}) — \
         **{}**",
        failed as f64 / theirs.max(1) as f64,
        met((failed as f64) < TARGET_BLAST_SHARE * theirs as f64),
    );
}

fn by_trigger(r: &RunResult, trigger: TriggerKind) -> bool {
    r.of(Policy::Helmsman).trigger.as_deref() == Some(trigger.to_string().as_str())
}

fn under_threshold_target(cells: &[Scenario], results: &[Vec<RunResult>], s: &mut String) {
    let found = find(cells, results, |c| {
        c.fault.error_delta_pts == TARGET_UNDER_THRESHOLD_DELTA_PTS && c.fault.latency_factor == 1.0
    });
    let mut worst: f64 = 0.0;
    let mut lines = Vec::new();
    for (cell, runs) in &found {
        let by_errors = share_of(runs, |r| by_trigger(r, TriggerKind::ErrorRate));
        let by_any = share_of(runs, |r| r.of(Policy::Helmsman).decided_at_s.is_some());
        worst = worst.max(by_errors);
        lines.push(format!(
            "  - {} requests/s, {} %: {} by the error-rate trigger ({} by any trigger)",
            cell.rps,
            cell.weight,
            percent(by_errors),
            percent(by_any),
        ));
    }
    out!(
        s,
        "- +{TARGET_UNDER_THRESHOLD_DELTA_PTS} point (x1), below the threshold: share rolled \
         back by the error-rate trigger, worst cell {} (expected ~0; criterion < {}) — **{}**",
        percent(worst),
        rate_pct(TARGET_MAX_MISTAKES),
        met(worst < TARGET_MAX_MISTAKES),
    );
    for line in lines {
        out!(s, "{line}");
    }
}

fn p95_target(cells: &[Scenario], results: &[Vec<RunResult>], s: &mut String) {
    let triggers = defaults::triggers();
    let deadline_s = (triggers.p95_latency.after + defaults::analysis().interval).as_secs();
    let found = find(cells, results, |c| {
        c.fault.error_delta_pts == 0.0 && c.fault.latency_factor == TARGET_P95_FACTOR
    });
    let mut target_met = false;
    let mut lines = Vec::new();
    for (cell, runs) in &found {
        let caught = share_of(runs, |r| {
            by_trigger(r, TriggerKind::P95Latency)
                && r.of(Policy::Helmsman)
                    .decided_at_s
                    .is_some_and(|at| at <= deadline_s)
        });
        let ever = share_of(runs, |r| by_trigger(r, TriggerKind::P95Latency));
        if cell.rps == TARGET_RPS && cell.weight == TARGET_WEIGHT {
            target_met = caught >= TARGET_P95_CAUGHT;
        }
        lines.push(format!(
            "  - {} requests/s, {} %: {} by {deadline_s} s ({} within {} min)",
            cell.rps,
            cell.weight,
            percent(caught),
            percent(ever),
            HORIZON_S / 60,
        ));
    }
    out!(
        s,
        "- x{TARGET_P95_FACTOR} latency (+0): share caught by the p95 trigger by the end of its \
         {}-s window plus one reading (decision at <= {deadline_s} s), target >= {} at \
         {TARGET_RPS} requests/s and {TARGET_WEIGHT} % — **{}**",
        triggers.p95_latency.after.as_secs(),
        rate_pct(TARGET_P95_CAUGHT),
        met(target_met),
    );
    for line in lines {
        out!(s, "{line}");
    }
}
