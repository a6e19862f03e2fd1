//! Insights as text: the four reflection figures against their 100 %
//! target, DORA's four keys, then a row per environment and per service
//! with a bar chart of its deployments. What `helmsman insights` prints
//! and the cockpit's insights screen shows.

use std::collections::VecDeque;

use super::{Figures, Insights, Rate, Row};
use crate::cli::table;
use crate::tui::view::gauge::sparkline;

const HEADER: [&str; 11] = [
    "", "DEPLOYS", "SUCCESS", "NO-DOWN", "READY", "CHECKED", "PROD/DAY", "LEAD", "FAILED",
    "RESTORE", "CHART",
];

/// The insights as lines of text, without trailing newlines.
pub fn render(insights: &Insights) -> Vec<String> {
    let mut out = Vec::new();
    let scope = match (&insights.env, &insights.service) {
        (None, None) => "every environment and service".to_string(),
        (Some(env), None) => format!("environment {env}"),
        (None, Some(service)) => format!("service {service}"),
        (Some(env), Some(service)) => format!("{env}/{service}"),
    };
    let days = (insights.until - insights.since).num_days().max(1);
    out.push(format!(
        "Delivery insights, {} → {} ({days} days), {scope}",
        insights.since.format("%Y-%m-%d %H:%M"),
        insights.until.format("%Y-%m-%d %H:%M"),
    ));
    let overall = &insights.overall;
    let skipped = &insights.not_counted;
    let mut counted = format!(
        "{} deployment{} counted",
        overall.deployments,
        if overall.deployments == 1 { "" } else { "s" }
    );
    if skipped.unfinished + skipped.refused > 0 {
        counted.push_str(&format!(
            "; not counted: {} unfinished, {} refused before anything ran",
            skipped.unfinished, skipped.refused
        ));
    }
    out.push(counted);
    out.push(String::new());
    out.push("Reflection (target 100 %)".into());
    let reflection = [
        (
            "deployment success",
            overall.success,
            "succeeded, or rolled back by a trigger and verified",
        ),
        (
            "zero downtime",
            overall.zero_downtime,
            "no failed user request",
        ),
        (
            "rollback readiness",
            overall.rollback_readiness,
            "stable healthy as it began; every rollback verified",
        ),
        (
            "environment validation",
            overall.environment_validation,
            "every environment checked before traffic moved",
        ),
    ];
    let rows: Vec<[String; 4]> = reflection
        .iter()
        .map(|(name, rate, meaning)| {
            [
                format!("  {name}"),
                format!("{:>7}", pct(rate)),
                format!("{} of {}", rate.count, rate.of),
                (*meaning).to_string(),
            ]
        })
        .collect();
    out.extend(lines(table::render(["", "", "", ""], &rows)).skip(1));
    out.push(String::new());
    out.push("DORA four keys (production releases)".into());
    let dora = &overall.dora;
    let keys = [
        [
            "  deployment frequency".to_string(),
            format!(
                "{:.2} a day ({} succeeded in {days} days)",
                dora.deployments_per_day, dora.production_successes
            ),
        ],
        [
            "  lead time".to_string(),
            dora.lead_time_median_seconds
                .map_or("-".into(), |s| format!("median {}", duration(s))),
        ],
        [
            "  change failure rate".to_string(),
            format!(
                "{} ({} of {})",
                pct(&dora.change_failure),
                dora.change_failure.count,
                dora.change_failure.of
            ),
        ],
        [
            "  time to restore".to_string(),
            match dora.time_to_restore_median_seconds {
                Some(s) => format!(
                    "median {} ({} rollback{})",
                    duration(s),
                    dora.restores,
                    if dora.restores == 1 { "" } else { "s" }
                ),
                None => "- (no rollback)".into(),
            },
        ],
    ];
    out.extend(lines(table::render(["", ""], &keys)).skip(1));
    let period = match insights.period_days {
        1 => "a bar a day".to_string(),
        n => format!("a bar per {n} days"),
    };
    for (title, rows) in [
        ("ENVIRONMENT", &insights.environments),
        ("SERVICE", &insights.services),
    ] {
        if rows.is_empty() {
            continue;
        }
        out.push(String::new());
        let mut header = HEADER;
        header[0] = title;
        let cells: Vec<[String; 11]> = rows.iter().map(row).collect();
        out.extend(lines(table::render(header, &cells)));
    }
    out.push(String::new());
    out.push(format!(
        "PROD/DAY, LEAD, FAILED and RESTORE are DORA's keys for the row's production releases; \
         CHART: deployments, {period}."
    ));
    out
}

fn lines(text: String) -> impl Iterator<Item = String> {
    text.lines()
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter()
}

fn row(row: &Row) -> [String; 11] {
    let f: &Figures = &row.figures;
    let heights: VecDeque<f64> = f.per_period.iter().map(|&n| f64::from(n)).collect();
    // A period without a deployment is a dot, not the lowest bar.
    let bars: String = sparkline(&heights, 0.0, heights.len())
        .chars()
        .zip(&f.per_period)
        .map(|(bar, &n)| if n == 0 { '·' } else { bar })
        .collect();
    [
        row.name.clone(),
        f.deployments.to_string(),
        pct(&f.success),
        pct(&f.zero_downtime),
        pct(&f.rollback_readiness),
        pct(&f.environment_validation),
        format!("{:.2}", f.dora.deployments_per_day),
        f.dora.lead_time_median_seconds.map_or("-".into(), duration),
        pct(&f.dora.change_failure),
        f.dora
            .time_to_restore_median_seconds
            .map_or("-".into(), duration),
        bars,
    ]
}

/// "92.9 %", or "-" where nothing was measured.
fn pct(rate: &Rate) -> String {
    rate.pct.map_or("-".into(), |p| format!("{p:.1} %"))
}

/// "40ms", "12.4s", "42m10s", "3h05m", "2d03h".
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 1.0 {
        return format!("{:.0}ms", s * 1000.0);
    }
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let whole = s.round() as u64;
    let (d, h, m, sec) = (
        whole / 86_400,
        whole % 86_400 / 3600,
        whole % 3600 / 60,
        whole % 60,
    );
    match (d, h) {
        (0, 0) => format!("{m}m{sec:02}s"),
        (0, h) => format!("{h}h{m:02}m"),
        (d, h) => format!("{d}d{h:02}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(0.04), "40ms");
        assert_eq!(duration(12.44), "12.4s");
        assert_eq!(duration(2530.0), "42m10s");
        assert_eq!(duration(3.0 * 3600.0 + 300.0), "3h05m");
        assert_eq!(duration(2.0 * 86_400.0 + 3.0 * 3600.0), "2d03h");
    }
}
