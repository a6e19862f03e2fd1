//! What the cockpit knows of an environment's gate and preflight checks:
//! the latest outcome of each, merged from the reports that arrive (every
//! check at startup, a release's own when it starts), summed up in words.

use crate::config::Scope;
use crate::preflight::{CheckOutcome, CheckStatus, Report};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvChecks {
    /// Checks are running and none has answered yet.
    pub running: bool,
    /// The latest outcome of each check, by scope and name, in arrival order.
    outcomes: Vec<CheckOutcome>,
}

impl EnvChecks {
    pub fn merge(&mut self, report: &Report) {
        self.running = false;
        for new in &report.checks {
            match self
                .outcomes
                .iter_mut()
                .find(|o| o.scope == new.scope && o.name == new.name)
            {
                Some(old) => *old = new.clone(),
                None => self.outcomes.push(new.clone()),
            }
        }
    }

    /// "checks 1 FAIL: db, 1 warn, 4 ok": the worst first, naming its
    /// first check so that a narrow column still shows it, and the worst
    /// status; `None` without checks.
    pub fn checks_summary(&self) -> Option<(CheckStatus, String)> {
        let checks: Vec<&CheckOutcome> = self
            .outcomes
            .iter()
            .filter(|o| o.scope != Scope::Gate)
            .collect();
        let worst = checks.iter().map(|c| c.status).max()?;
        let counts: Vec<String> = [
            (CheckStatus::Fail, "FAIL"),
            (CheckStatus::Warn, "warn"),
            (CheckStatus::Pass, "ok"),
        ]
        .into_iter()
        .filter_map(|(status, word)| {
            let mut matching = checks.iter().filter(|c| c.status == status);
            let first = matching.next()?;
            let count = 1 + matching.count();
            Some(if status == worst && status != CheckStatus::Pass {
                format!("{count} {word}: {}", first.name)
            } else {
                format!("{count} {word}")
            })
        })
        .collect();
        Some((worst, format!("checks {}", counts.join(", "))))
    }

    /// "gate ok: exit 0: success": what the gate said; `None` without a gate.
    pub fn gate_summary(&self) -> Option<(CheckStatus, String)> {
        let gate = self.outcomes.iter().find(|o| o.scope == Scope::Gate)?;
        let word = match gate.status {
            CheckStatus::Pass => "ok",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "FAIL",
        };
        Some((gate.status, format!("gate {word}: {}", gate.value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;
    use std::time::Duration;

    fn outcome(name: &str, scope: Scope, status: CheckStatus, value: &str) -> CheckOutcome {
        CheckOutcome {
            name: name.into(),
            scope,
            kind: CheckKind::Tcp,
            status,
            value: value.into(),
            duration: Duration::from_millis(1),
        }
    }

    #[test]
    fn summaries_count_name_the_worst_and_merge_newer_outcomes() {
        let mut checks = EnvChecks {
            running: true,
            ..EnvChecks::default()
        };
        assert_eq!(checks.checks_summary(), None);
        checks.merge(&Report::new(
            "prod".into(),
            vec![
                outcome("ci", Scope::Gate, CheckStatus::Pass, "exit 0: success"),
                outcome("db", Scope::Environment, CheckStatus::Pass, "connected"),
                outcome(
                    "disk /var",
                    Scope::Environment,
                    CheckStatus::Warn,
                    "12 % free",
                ),
                outcome(
                    "cache",
                    Scope::Service("web".into()),
                    CheckStatus::Fail,
                    "refused",
                ),
            ],
        ));
        assert!(!checks.running);
        assert_eq!(
            checks.checks_summary(),
            Some((
                CheckStatus::Fail,
                "checks 1 FAIL: cache, 1 warn, 1 ok".into()
            ))
        );
        assert_eq!(
            checks.gate_summary(),
            Some((CheckStatus::Pass, "gate ok: exit 0: success".into()))
        );
        // A release of another service re-runs only its own checks: the
        // rest keep their last outcome.
        checks.merge(&Report::new(
            "prod".into(),
            vec![
                outcome("ci", Scope::Gate, CheckStatus::Fail, "exit 1: CI red"),
                outcome(
                    "disk /var",
                    Scope::Environment,
                    CheckStatus::Pass,
                    "30 % free",
                ),
            ],
        ));
        assert_eq!(
            checks.checks_summary(),
            Some((CheckStatus::Fail, "checks 1 FAIL: cache, 2 ok".into()))
        );
        assert_eq!(
            checks.gate_summary(),
            Some((CheckStatus::Fail, "gate FAIL: exit 1: CI red".into()))
        );
    }
}
