//! Preflight: what must hold before a release starts in an environment —
//! its quality gate, its own checks and the released service's
//! (`[environments.gate]`, `[[environments.checks]]`,
//! `[[environments.services.checks]]`). The pipeline runs them before
//! anything moves; `helmsman validate` and the cockpit run them on demand.
//!
//! One file per check kind turns a configured probe into a [`Finding`]:
//! pass, warn or fail, and the value it measured. `runner.rs` runs the
//! checks concurrently, each under its own timeout; a check that times out
//! or panics is a failure that says so.

pub mod command;
mod disk;
mod env;
pub mod http;
mod quantity;
mod quota;
mod runner;
mod tcp;
mod tls;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{CheckKind, Scope};
pub use crate::observed::CheckStatus;
pub use runner::{ReleaseOf, Selection, run};

/// What one check found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub status: CheckStatus,
    /// The measured value in words: "HTTP 200 in 12 ms", "12.3 % free".
    pub value: String,
}

impl Finding {
    pub fn pass(value: impl Into<String>) -> Finding {
        Finding {
            status: CheckStatus::Pass,
            value: value.into(),
        }
    }

    pub fn warn(value: impl Into<String>) -> Finding {
        Finding {
            status: CheckStatus::Warn,
            value: value.into(),
        }
    }

    pub fn fail(value: impl Into<String>) -> Finding {
        Finding {
            status: CheckStatus::Fail,
            value: value.into(),
        }
    }
}

/// `text` trimmed, on one line, cut to `limit` characters ("…" when cut):
/// what a server or a command said, quoted in a value.
pub(crate) fn shorten(text: &str, limit: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= limit {
        return line;
    }
    let mut cut: String = line.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// One check, run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub name: String,
    #[serde(flatten)]
    pub scope: Scope,
    pub kind: CheckKind,
    pub status: CheckStatus,
    pub value: String,
    #[serde(rename = "duration_ms", with = "crate::observed::duration_ms")]
    pub duration: Duration,
}

impl CheckOutcome {
    /// "check `db` (tcp)", "the gate `ci` (command)".
    pub fn title(&self) -> String {
        match self.scope {
            Scope::Gate => format!("the gate `{}` ({})", self.name, self.kind),
            _ => format!("check `{}` ({})", self.name, self.kind),
        }
    }
}

/// The checks of one environment, run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub env: String,
    /// The worst status (pass when nothing was checked).
    pub status: CheckStatus,
    /// In configuration order: the gate, the environment's checks, the services'.
    pub checks: Vec<CheckOutcome>,
}

impl Report {
    pub fn new(env: String, checks: Vec<CheckOutcome>) -> Report {
        let status = checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(CheckStatus::Pass);
        Report {
            env,
            status,
            checks,
        }
    }

    pub fn count(&self, status: CheckStatus) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// Why a release may not start, naming every failed check and its
    /// value; `None` when nothing failed (warnings do not block).
    pub fn refusal(&self) -> Option<String> {
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .map(|c| format!("{} failed: {}", c.title(), c.value))
            .collect();
        if failed.is_empty() {
            return None;
        }
        Some(format!(
            "{}; nothing was changed (`helmsman validate --env {}` runs every check again)",
            failed.join("; "),
            self.env
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, scope: Scope, status: CheckStatus) -> CheckOutcome {
        CheckOutcome {
            name: name.into(),
            scope,
            kind: CheckKind::Tcp,
            status,
            value: "connection refused".into(),
            duration: Duration::from_millis(3),
        }
    }

    #[test]
    fn a_report_is_as_bad_as_its_worst_check_and_names_each_failure() {
        let report = Report::new(
            "prod".into(),
            vec![
                outcome("ci", Scope::Gate, CheckStatus::Fail),
                outcome("db", Scope::Environment, CheckStatus::Warn),
                outcome("cache", Scope::Service("web".into()), CheckStatus::Fail),
            ],
        );
        assert_eq!(report.status, CheckStatus::Fail);
        assert_eq!(report.count(CheckStatus::Fail), 2);
        let refusal = report.refusal().unwrap();
        assert!(
            refusal.starts_with(
                "the gate `ci` (tcp) failed: connection refused; check `cache` (tcp) failed"
            ),
            "{refusal}"
        );
        assert!(
            refusal.contains("helmsman validate --env prod"),
            "{refusal}"
        );

        let fine = Report::new(
            "dev".into(),
            vec![outcome("db", Scope::Environment, CheckStatus::Warn)],
        );
        assert_eq!(fine.refusal(), None, "warnings do not block");
        assert_eq!(Report::new("dev".into(), vec![]).status, CheckStatus::Pass);
        let json = serde_json::to_value(&report.checks[2]).unwrap();
        assert_eq!(json["scope"], "service");
        assert_eq!(json["service"], "web");
        assert_eq!(json["status"], "fail");
        assert_eq!(json["duration_ms"], 3);
    }
}
