//! Figures over one cell's runs, and how the report writes them.

use std::collections::BTreeMap;

use crate::policies::{Outcome, Policy, RunResult};

/// Appends one line to a report section.
macro_rules! out {
    ($report:expr) => {
        $report.push('\n')
    };
    ($report:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        writeln!($report, $($arg)*).expect("a String takes any text")
    }};
}
pub(crate) use out;

/// The nearest-rank `q` quantile of sorted values.
pub fn nearest_rank(sorted: &[u64], q: f64) -> Option<u64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

pub fn median_and_p95(mut values: Vec<u64>) -> Option<(u64, u64)> {
    values.sort_unstable();
    Some((nearest_rank(&values, 0.5)?, nearest_rank(&values, 0.95)?))
}

/// "median / p95", or "—" without values.
pub fn median_p95(values: Vec<u64>) -> String {
    median_and_p95(values).map_or_else(
        || "—".to_string(),
        |(median, p95)| format!("{median} / {p95}"),
    )
}

/// The median of values where `None` is "never" (later than any value):
/// `None` when at least half of them are never.
pub fn median_or_never(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    let mut values: Vec<u64> = values.map(|v| v.unwrap_or(u64::MAX)).collect();
    values.sort_unstable();
    nearest_rank(&values, 0.5).filter(|&v| v != u64::MAX)
}

pub fn most_frequent<'a>(items: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(name, _)| name)
}

/// The trigger that decided most of the outcomes picked, or "—".
pub fn top_trigger<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> String {
    most_frequent(outcomes.filter_map(|o| o.trigger.as_deref()))
        .unwrap_or("—")
        .to_string()
}

pub fn share_of(runs: &[RunResult], pick: impl Fn(&RunResult) -> bool) -> f64 {
    if runs.is_empty() {
        return 0.0;
    }
    runs.iter().filter(|r| pick(r)).count() as f64 / runs.len() as f64
}

/// The share of runs the policy rolled back at or before `second`.
pub fn rolled_back_by(runs: &[RunResult], policy: Policy, second: u64) -> f64 {
    share_of(runs, |r| {
        r.of(policy).decided_at_s.is_some_and(|at| at <= second)
    })
}

/// One policy's usual columns over one cell's runs: share rolled back,
/// time to the decision (median / p95 over the rolled-back runs), failed
/// requests (median / p95 over all runs), the trigger that decided most.
pub fn summary_columns(runs: &[RunResult], policy: Policy) -> String {
    let outcomes = || runs.iter().map(|r| r.of(policy));
    let times: Vec<u64> = outcomes().filter_map(|o| o.decided_at_s).collect();
    let share = times.len() as f64 / runs.len().max(1) as f64;
    format!(
        "{} | {} | {} | {}",
        percent(share),
        median_p95(times),
        median_p95(outcomes().map(|o| o.failed_requests).collect()),
        top_trigger(outcomes()),
    )
}

pub fn percent(share: f64) -> String {
    const EPS: f64 = 1e-9;
    let p = share * 100.0;
    // Near 0 and 100 % a rounded figure would hide what matters (0.05 % is
    // not 0 %, 1.05 % is over a 1 % target, 99.6 % is not every run): more
    // decimals there, rounded towards 50 % so that neither end, nor a
    // limit near it, is reached by rounding.
    let edge = p.min(100.0 - p);
    let decimals = if edge <= EPS {
        0
    } else if edge < 0.1 - EPS {
        2
    } else if edge < 10.0 - EPS {
        1
    } else {
        0
    };
    let scale = 10f64.powi(decimals);
    let shown = if decimals == 0 {
        p
    } else if p > 50.0 {
        (p * scale + EPS).floor() / scale
    } else {
        (p * scale - EPS).ceil() / scale
    };
    format!("{shown:.prec$} %", prec = decimals as usize)
}

/// "0.1 %", "5 %": a rate as the report writes it.
pub fn rate_pct(share: f64) -> String {
    format!("{} %", (share * 1000.0).round() / 10.0)
}

pub fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// Seconds from `start_s` to the decision, for a decision after it. A
/// reading at `start_s` holds no traffic from second `start_s` on, so a
/// decision at `start_s` came before the change it would be about.
pub fn after_start(outcome: &Outcome, start_s: u64) -> Option<u64> {
    outcome
        .decided_at_s
        .filter(|&at| at > start_s)
        .map(|at| at - start_s)
}

/// Whether the decision came before anything from `start_s` on was seen.
pub fn before_start(outcome: &Outcome, start_s: u64) -> bool {
    outcome.decided_at_s.is_some_and(|at| at <= start_s)
}

/// Columns about rollbacks decided before `start_s`: the share of runs, and
/// the trigger that decided most of them.
pub fn before_columns(runs: &[RunResult], policy: Policy, start_s: u64) -> String {
    let early = || {
        runs.iter()
            .map(|r| r.of(policy))
            .filter(|o| before_start(o, start_s))
    };
    format!(
        "{} | {}",
        percent(early().count() as f64 / runs.len().max(1) as f64),
        top_trigger(early()),
    )
}
