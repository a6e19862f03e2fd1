//! `helmsman validate --env ENV`: runs an environment's gate and every
//! preflight check now (the services' included), prints each with its
//! status, measured value and duration, and exits 0 when none failed
//! (warnings allowed) or 4 when one did.

use std::fmt::Write;

use super::{ExitCode, OutputFormat};
use crate::config::Config;
use crate::preflight::{self, CheckStatus, Report, Selection};

/// Longer check names are cut in the table (JSON has them whole).
const NAME_WIDTH: usize = 40;

pub async fn run(config: &Config, env: &str, output: OutputFormat) -> ExitCode {
    let Some(environment) = config.environment(env) else {
        let known: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        crate::errln!(
            "error: no environment `{env}` in {}; known: {}",
            config.source.display(),
            known.join(", ")
        );
        return ExitCode::Usage;
    };
    let report = preflight::run(environment, Selection::Everything).await;
    match output {
        OutputFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialize")
        ),
        OutputFormat::Text => crate::outln!("{}", render(&report).trim_end()),
    }
    if report.status == CheckStatus::Fail {
        ExitCode::ChecksFailed
    } else {
        ExitCode::Ok
    }
}

/// A table, one check a row in configuration order, then one line that
/// sums it up.
pub fn render(report: &Report) -> String {
    if report.checks.is_empty() {
        return format!(
            "{}: nothing to check (no `[environments.gate]` and no checks are configured)\n",
            report.env
        );
    }
    let rows: Vec<[String; 6]> = report
        .checks
        .iter()
        .map(|c| {
            [
                c.status.word().to_string(),
                c.scope.to_string(),
                c.kind.to_string(),
                preflight::shorten(&c.name, NAME_WIDTH),
                format!("{} ms", c.duration.as_millis()),
                c.value.clone(),
            ]
        })
        .collect();
    let header = ["STATUS", "SCOPE", "TYPE", "CHECK", "TIME", "VALUE"].map(String::from);
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        for (i, cell) in row.iter().enumerate().take(5) {
            // TIME is a number: right-aligned.
            if i == 4 {
                let _ = write!(out, "{cell:>w$}  ", w = widths[i]);
            } else {
                let _ = write!(out, "{cell:<w$}  ", w = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", row[5]);
    }
    let (warned, failed) = (
        report.count(CheckStatus::Warn),
        report.count(CheckStatus::Fail),
    );
    let _ = writeln!(
        out,
        "{}: {} check{}: {} passed, {warned} warning{}, {failed} failed{}",
        report.env,
        report.checks.len(),
        if report.checks.len() == 1 { "" } else { "s" },
        report.count(CheckStatus::Pass),
        if warned == 1 { "" } else { "s" },
        if failed > 0 {
            " — a release would be refused"
        } else {
            ""
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckKind, Scope};
    use crate::preflight::CheckOutcome;
    use std::time::Duration;

    #[test]
    fn the_table_lines_up_and_sums_up() {
        let check = |name: &str, scope: Scope, status, value: &str, ms| CheckOutcome {
            name: name.into(),
            scope,
            kind: CheckKind::Http,
            status,
            value: value.into(),
            duration: Duration::from_millis(ms),
        };
        let report = Report::new(
            "prod".into(),
            vec![
                check(
                    "ci",
                    Scope::Gate,
                    CheckStatus::Pass,
                    "HTTP 200 in 80 ms",
                    81,
                ),
                check(
                    "https://checkout.internal/healthz",
                    Scope::Service("checkout".into()),
                    CheckStatus::Warn,
                    "HTTP 200 in 5 ms, health warn",
                    5,
                ),
            ],
        );
        assert_eq!(
            render(&report),
            "STATUS  SCOPE     TYPE  CHECK                               TIME  VALUE\n\
             PASS    gate      http  ci                                 81 ms  HTTP 200 in 80 ms\n\
             WARN    checkout  http  https://checkout.internal/healthz   5 ms  HTTP 200 in 5 ms, health warn\n\
             prod: 2 checks: 1 passed, 1 warning, 0 failed\n"
        );
    }
}
