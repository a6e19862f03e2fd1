//! Family `spikes`: the new version's latencies triple for a while, then
//! recover. A 1-minute spike is noise the p95 trigger's sustained-breach
//! window should ride out; a 3-minute one outlasts it and must be caught.

use crate::policies::{POLICIES, Policy, RunResult};
use crate::summary::{
    after_start, before_columns, median_p95, met, out, percent, rate_pct, share_of, top_trigger,
};
use crate::world::{Fault, Scenario};

const TRAFFIC_RPS: [u32; 2] = [100, 1000];
const WEIGHT_PCT: u8 = 10;
const BASELINE_ERROR_RATE: f64 = 0.001;
const LATENCY_FACTOR: f64 = 3.0;
const SPIKE_START_S: u64 = 180;
const SPIKE_LENGTHS_S: [u64; 2] = [60, 180];
const HORIZON_S: u64 = 600;

/// Targets: the short spike rolled back in at most this share of runs, the
/// long one in at least that share.
const SHORT_SPIKE_S: u64 = 60;
const TARGET_MAX_SHORT: f64 = 0.01;
const TARGET_MIN_LONG: f64 = 0.99;

pub fn scenarios() -> Vec<Scenario> {
    let mut cells = Vec::new();
    for length in SPIKE_LENGTHS_S {
        for rps in TRAFFIC_RPS {
            cells.push(Scenario {
                rps,
                weight: WEIGHT_PCT,
                baseline_error_rate: BASELINE_ERROR_RATE,
                fault: Fault {
                    start_s: SPIKE_START_S,
                    end_s: Some(SPIKE_START_S + length),
                    error_delta_pts: 0.0,
                    latency_factor: LATENCY_FACTOR,
                },
                horizon_s: HORIZON_S,
            });
        }
    }
    cells
}

fn length_s(cell: &Scenario) -> u64 {
    cell.fault.end_s.unwrap_or(cell.horizon_s) - cell.fault.start_s
}

/// The share of runs rolled back after the spike began.
fn rolled_back_after_start(runs: &[RunResult], policy: Policy) -> f64 {
    share_of(runs, |r| after_start(r.of(policy), SPIKE_START_S).is_some())
}

pub fn report(cells: &[Scenario], results: &[Vec<RunResult>], s: &mut String) {
    out!(s);
    out!(
        s,
        "## Latency spikes: x{LATENCY_FACTOR} for a while, then recovered"
    );
    out!(s);
    out!(
        s,
        "Weight {WEIGHT_PCT} %, baseline error rate 0.1 %, no error regression; the new \
         version's latencies are x{LATENCY_FACTOR} from {SPIKE_START_S} s after its weight was \
         applied, for the spike's length, and the baseline's again after it; {}-minute horizon. \
         Per cell and policy: **rb** share of runs rolled back after the spike began; **during** \
         of those, the share decided before it ended; **time** seconds from the spike's start to \
         the decision, median / p95 over those runs; **by** the trigger (check) that decided \
         most of them; **before** the share rolled back before the spike, and by what.",
        HORIZON_S / 60,
    );
    out!(s);
    out!(
        s,
        "| requests/s | spike | policy | rb | during | time | by | before | by |"
    );
    out!(s, "|--:|--:|:--|--:|--:|--:|:--|--:|:--|");
    for (cell, runs) in cells.iter().zip(results) {
        let start = cell.fault.start_s;
        let length = length_s(cell);
        for policy in POLICIES {
            let outcomes = || runs.iter().map(|r| r.of(policy));
            let times: Vec<u64> = outcomes().filter_map(|o| after_start(o, start)).collect();
            let during = times.iter().filter(|&&t| t <= length).count();
            out!(
                s,
                "| {} | {length} s | {} | {} | {} | {} | {} | {} |",
                cell.rps,
                policy.name(),
                percent(times.len() as f64 / runs.len().max(1) as f64),
                percent(during as f64 / times.len().max(1) as f64),
                median_p95(times),
                top_trigger(outcomes().filter(|o| after_start(o, start).is_some())),
                before_columns(runs, policy, start),
            );
        }
    }
    out!(s);
    out!(s, "### Targets (spikes)");
    out!(s);
    for long in [false, true] {
        let mut all_met = true;
        let mut parts = Vec::new();
        let mut length = 0;
        for (cell, runs) in cells
            .iter()
            .zip(results)
            .filter(|(c, _)| (length_s(c) > SHORT_SPIKE_S) == long)
        {
            length = length_s(cell);
            let share = if long {
                rolled_back_after_start(runs, Policy::Helmsman)
            } else {
                share_of(runs, |r| r.of(Policy::Helmsman).decided_at_s.is_some())
            };
            all_met &= if long {
                share >= TARGET_MIN_LONG
            } else {
                share <= TARGET_MAX_SHORT
            };
            parts.push(format!("{} requests/s: {}", cell.rps, percent(share)));
        }
        if parts.is_empty() {
            continue;
        }
        let goal = if long {
            format!(
                "rolled back after it began in >= {}",
                rate_pct(TARGET_MIN_LONG)
            )
        } else {
            format!(
                "rolled back (at any time) in <= {}",
                rate_pct(TARGET_MAX_SHORT)
            )
        };
        out!(
            s,
            "- {length}-s spike, helmsman: {goal} of runs: {} — **{}**",
            parts.join("; "),
            met(all_met),
        );
    }
}
