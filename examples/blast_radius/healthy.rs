//! Family `healthy`: a new version as good as its baseline, or worse by
//! the tolerated edge, over 30-minute releases: how often is it rolled back
//! by mistake?

use helmsman::config::defaults;

use crate::policies::{POLICIES, Policy, RunResult};
use crate::summary::{met, out, percent, rate_pct, rolled_back_by, top_trigger};
use crate::world::{Fault, Scenario};

const BASELINE_ERROR_RATES: [f64; 3] = [0.001, 0.01, 0.05];
const TRAFFIC_RPS: [u32; 3] = [10, 100, 1000];
const WEIGHTS_PCT: [u8; 3] = [5, 10, 50];
/// +0, and the tolerated edge: the error-rate trigger tolerates `tolerance`
/// (0.5) of its threshold (5 points) by default.
const ERROR_DELTAS_PTS: [f64; 2] = [0.0, TOLERATED_EDGE_PTS];
const TOLERATED_EDGE_PTS: f64 = 2.5;
const HORIZON_S: u64 = 1800;
/// Shares rolled back by these times are reported.
const BY_S: [u64; 3] = [120, 600, 1800];
const TARGET_MAX_MISTAKES: f64 = 0.01;

pub fn scenarios() -> Vec<Scenario> {
    let mut cells = Vec::new();
    for baseline_error_rate in BASELINE_ERROR_RATES {
        for rps in TRAFFIC_RPS {
            for weight in WEIGHTS_PCT {
                for error_delta_pts in ERROR_DELTAS_PTS {
                    cells.push(Scenario {
                        rps,
                        weight,
                        baseline_error_rate,
                        fault: Fault::from_onset(error_delta_pts, 1.0),
                        horizon_s: HORIZON_S,
                    });
                }
            }
        }
    }
    cells
}

/// "0 % / 0 % / 0.5 %": the shares rolled back by each of `BY_S`.
fn by_times(runs: &[RunResult], policy: Policy) -> String {
    BY_S.iter()
        .map(|&at| percent(rolled_back_by(runs, policy, at)))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn mistakes(runs: &[RunResult]) -> f64 {
    rolled_back_by(runs, Policy::Helmsman, HORIZON_S)
}

pub fn report(cells: &[Scenario], results: &[Vec<RunResult>], s: &mut String) {
    let minutes: Vec<String> = BY_S.iter().map(|at| (at / 60).to_string()).collect();
    let minutes = minutes.join(" / ");
    out!(s);
    out!(s, "## Healthy and tolerated edge: 30-minute releases");
    out!(s);
    out!(
        s,
        "The new version's error rate is the baseline's (+0) or +{TOLERATED_EDGE_PTS} points \
         over it (the tolerated edge: the error-rate trigger tolerates {} of its {}-point \
         threshold); its \
         latency is the baseline's. One {}-minute run per simulated release. **by {minutes} \
         min**: share of runs rolled back by then; **by**: the trigger (check) that decided \
         most of the rollbacks; **≤ {}**: helmsman's target, at most {} of the runs rolled \
         back by {} min. A rollback by minute 2 (or 10) of a 30-minute run is the decision a \
         2-minute (10-minute) release would have taken: the engine judges each reading on the \
         window observed so far and for how long it has been observed, never on the plan's \
         length, which only decides when the run stops.",
        defaults::analysis().tolerance,
        defaults::triggers().error_rate.threshold,
        HORIZON_S / 60,
        rate_pct(TARGET_MAX_MISTAKES),
        rate_pct(TARGET_MAX_MISTAKES),
        HORIZON_S / 60,
    );
    for base in BASELINE_ERROR_RATES {
        out!(s);
        out!(s, "### Baseline error rate {}", rate_pct(base));
        out!(s);
        let mut header = "| requests/s | w | new |".to_string();
        let mut rule = "|--:|--:|--:|".to_string();
        for policy in POLICIES {
            header.push_str(&format!(" {} by {minutes} min | by |", policy.name()));
            rule.push_str("--:|:--|");
            if policy == Policy::Helmsman {
                header.push_str(&format!(" ≤ {} |", rate_pct(TARGET_MAX_MISTAKES)));
                rule.push_str(":--|");
            }
        }
        out!(s, "{header}");
        out!(s, "{rule}");
        for (cell, runs) in cells
            .iter()
            .zip(results)
            .filter(|(c, _)| c.baseline_error_rate == base)
        {
            let mut row = format!(
                "| {} | {} % | +{} |",
                cell.rps, cell.weight, cell.fault.error_delta_pts
            );
            for policy in POLICIES {
                let outcomes = runs.iter().map(|r| r.of(policy));
                row.push_str(&format!(
                    " {} | {} |",
                    by_times(runs, policy),
                    top_trigger(outcomes)
                ));
                if policy == Policy::Helmsman {
                    row.push_str(&format!(
                        " {} |",
                        met(mistakes(runs) <= TARGET_MAX_MISTAKES)
                    ));
                }
            }
            out!(s, "{row}");
        }
    }
    out!(s);
    out!(s, "### Target (healthy)");
    out!(s);
    let scored: Vec<(&Scenario, f64, usize)> = cells
        .iter()
        .zip(results)
        .map(|(c, runs)| (c, mistakes(runs), runs.len()))
        .collect();
    let cells_met = scored
        .iter()
        .filter(|(_, m, _)| *m <= TARGET_MAX_MISTAKES)
        .count();
    let Some(&(worst, worst_share, runs)) = scored.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        return;
    };
    out!(
        s,
        "- helmsman: share of runs rolled back by {} min at most {} in every cell ({runs} runs \
         per cell): {cells_met} of {} cells met; worst cell: baseline {}, {} requests/s, {} %, \
         +{} points: {} — **{}**",
        HORIZON_S / 60,
        rate_pct(TARGET_MAX_MISTAKES),
        scored.len(),
        rate_pct(worst.baseline_error_rate),
        worst.rps,
        worst.weight,
        worst.fault.error_delta_pts,
        percent(worst_share),
        met(cells_met == scored.len()),
    );
}
