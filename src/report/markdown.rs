//! The report as Markdown: headings and pipe tables that render in a wiki
//! or a pull request, and read as plain text too.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::{EnvironmentReport, NOT_MEASURED, Report};
use crate::engine::Outcome;
use crate::preflight::CheckStatus;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    header(&mut out, report);
    for env in &report.environments {
        environment(&mut out, env);
    }
    notes(&mut out, report);
    out
}

fn header(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "# Deployment report: {} {}\n",
        r.service, r.new_version
    );
    let envs: Vec<&str> = r.environments.iter().map(|e| e.env.as_str()).collect();
    let rows = [
        ("Deployment", format!("`{}`", r.deployment)),
        ("Date", time(r.started_at)),
        ("Deployer", r.deployer.to_string()),
        ("Strategy", r.strategy.clone()),
        ("Service", r.service.clone()),
        ("Environments", envs.join(" → ")),
        (
            "Versions",
            format!(
                "{} → {}",
                r.previous_version.as_deref().unwrap_or("-"),
                r.new_version
            ),
        ),
        ("Outcome", outcome(&r.outcome)),
        (
            "Duration",
            r.duration_seconds
                .map_or_else(|| "unfinished".to_string(), duration),
        ),
    ];
    table(
        out,
        &["", ""],
        rows.iter().map(|(k, v)| vec![k.to_string(), v.clone()]),
    );
    if !r.reason.is_empty() {
        let _ = writeln!(out, "\n{}", escape(&r.reason));
    }
}

fn environment(out: &mut String, e: &EnvironmentReport) {
    let _ = writeln!(out, "\n## {}: {}\n", e.env, outcome(&e.outcome));
    let validated = match e.validated {
        Some(true) => "✅ validated",
        Some(false) => "❌ not validated",
        None => "no checks configured",
    };
    let when = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_string(), time);
    let _ = writeln!(
        out,
        "{validated} · release `{}` · started {} · finished {} · from {}\n",
        e.release_id.as_deref().unwrap_or("-"),
        when(e.started_at),
        when(e.finished_at),
        e.previous_version.as_deref().unwrap_or("-"),
    );
    if !e.checks.is_empty() {
        let _ = writeln!(out, "### Checks\n");
        table(
            out,
            &["check", "kind", "status", "value", "duration"],
            e.checks.iter().map(|c| {
                let mark = match c.status {
                    CheckStatus::Pass => "✅ pass",
                    CheckStatus::Warn => "⚠️ warn",
                    CheckStatus::Fail => "❌ fail",
                };
                vec![
                    c.name.clone(),
                    c.kind.to_string(),
                    mark.to_string(),
                    c.value.clone(),
                    format!("{} ms", c.duration.as_millis()),
                ]
            }),
        );
        out.push('\n');
    }
    if !e.timeline.is_empty() {
        let _ = writeln!(out, "### Timeline\n");
        table(
            out,
            &["time", "traffic", "what", "by"],
            e.timeline.iter().map(|m| {
                vec![
                    m.at.format("%H:%M:%S").to_string(),
                    m.weight.map_or_else(String::new, |w| format!("{w} %")),
                    m.what.clone(),
                    m.by.to_string(),
                ]
            }),
        );
        out.push('\n');
    }
    if e.release_id.is_some() {
        validation(out, e);
    }
}

fn validation(out: &mut String, e: &EnvironmentReport) {
    let _ = writeln!(out, "### Validation results\n");
    if e.verdicts.is_empty() && e.figures.is_empty() {
        let _ = writeln!(
            out,
            "No final state recorded (the release did not end here).\n"
        );
    }
    if !e.verdicts.is_empty() {
        table(
            out,
            &["trigger", "verdict", "numbers"],
            e.verdicts.iter().map(|v| {
                let verdict = match v.outcome {
                    Outcome::Pass => "✅ pass",
                    Outcome::Fail => "❌ fail",
                    Outcome::NotEnoughEvidence => "too few",
                };
                vec![
                    v.trigger.to_string(),
                    verdict.to_string(),
                    v.summary.clone(),
                ]
            }),
        );
        out.push('\n');
    }
    if !e.figures.is_empty() {
        figures(out, &e.figures, "new", "baseline");
        out.push('\n');
    }
    if let Some(i) = &e.instances {
        let _ = writeln!(
            out,
            "Healthy instances: new {}/{}, stable {}/{}.\n",
            i.new_healthy, i.new_total, i.stable_healthy, i.stable_total
        );
    }
    let _ = writeln!(out, "### Traffic and users\n");
    match &e.traffic {
        Some(t) => {
            let _ = writeln!(
                out,
                "While observed: {} requests to the new version, {} to the stable one; \
                 **{} failed user requests** (5xx or no answer).\n",
                t.new_requests, t.baseline_requests, t.failed_requests
            );
        }
        None => {
            let _ = writeln!(out, "{NOT_MEASURED}.\n");
        }
    }
    if !e.jobs.is_empty() {
        jobs(out, &e.jobs);
    }
    let _ = writeln!(out, "### Rollback\n");
    match &e.rollback {
        Some(r) => {
            let stable = match r.seconds_to_stable {
                Some(s) => format!("stable verified at 100 % {s:.3} s after it began"),
                None => "the stable version was never verified at 100 %".to_string(),
            };
            let _ = writeln!(
                out,
                "Rolled back by {} at {}; {stable}.\n\n> {}\n",
                r.by,
                time(r.started_at),
                escape(&r.reason)
            );
        }
        None => {
            let _ = writeln!(out, "Not needed.\n");
        }
    }
    if let Some(stable) = &e.stable_at_start {
        let _ = writeln!(
            out,
            "Rollback path as it began: the stable version had {}/{} instances healthy.\n",
            stable.healthy, stable.total
        );
    }
    let _ = writeln!(out, "### Resource use\n");
    let measured = e
        .resources
        .iter()
        .any(|f| f.new.is_some() || f.baseline.is_some());
    if measured {
        figures(out, &e.resources, "new", "stable");
    } else {
        let _ = writeln!(out, "{NOT_MEASURED}.");
    }
}

/// The migration phases and hooks run, then the end of what each printed.
fn jobs(out: &mut String, runs: &[crate::jobs::JobRun]) {
    let _ = writeln!(out, "### Migrations and hooks\n");
    table(
        out,
        &["run", "outcome", "started", "took", "said"],
        runs.iter().map(|run| {
            vec![
                run.name.clone(),
                if run.passed { "passed" } else { "FAILED" }.to_string(),
                time(run.started_at),
                format!("{:.1} s", run.took.as_secs_f64()),
                escape(&run.summary),
            ]
        }),
    );
    for run in runs.iter().filter(|run| !run.output.is_empty()) {
        // A fence longer than any run of backticks in the output.
        let fence = "`".repeat(3.max(longest_backtick_run(&run.output) + 1));
        let _ = writeln!(
            out,
            "\nThe end of {}'s output:\n\n{fence}\n{}\n{fence}",
            run.name, run.output
        );
    }
    let _ = writeln!(out);
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Figures of the new version and the one it is compared with, and the
/// band the new one is in.
fn figures(out: &mut String, figures: &[super::Figure], new: &str, other: &str) {
    let value = |v: Option<f64>, unit: &str| match v {
        Some(v) if unit == "%" => format!("{v:.2} %"),
        Some(v) => format!("{v:.0} {unit}"),
        None => NOT_MEASURED.to_string(),
    };
    table(
        out,
        &["figure", new, other, "band"],
        figures.iter().map(|f| {
            vec![
                f.name.clone(),
                value(f.new, &f.unit),
                value(f.baseline, &f.unit),
                f.band.clone().unwrap_or_else(|| "-".into()),
            ]
        }),
    );
}

fn notes(out: &mut String, r: &Report) {
    let _ = writeln!(out, "\n## Notes\n");
    if r.notes.is_empty() {
        let _ = writeln!(
            out,
            "None. Add one with `helmsman report {} --note \"…\"`.",
            r.deployment
        );
    }
    for note in &r.notes {
        let _ = writeln!(
            out,
            "- {} · {}: {}",
            time(note.at),
            note.by,
            escape(&note.text)
        );
    }
}

fn table(out: &mut String, head: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

/// A cell or line that cannot break the table or start markup.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn outcome(word: &str) -> String {
    let mark = match word {
        "succeeded" => "✅",
        "rolled-back" | "blocked" | "refused" | "error" | "aborted" => "❌",
        _ => "⏳",
    };
    format!("{mark} {word}")
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn duration(seconds: i64) -> String {
    crate::analysis::numbers::clock(std::time::Duration::from_secs(seconds.max(0) as u64))
}
