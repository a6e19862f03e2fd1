//! A service's database migrations as the cockpit shows them: the phase
//! the journal last recorded when the cockpit opened, moved on by the
//! runs its releases report (each phase's event carries its run).

use crate::engine::{Event, Phase};

/// What the cockpit knows of one service's migrations.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationsInfo {
    /// "expanded", "migrated", "contract pending", "contracted", "rolled
    /// back", "<phase> failed", or "not run".
    pub phase: String,
    /// Contract waits for a human here (production, by default).
    pub contract_waits: bool,
}

impl MigrationsInfo {
    /// The phase after `event`, if it moves it.
    pub fn after(&self, event: &Event) -> Option<String> {
        if let Some(run) = &event.job {
            let (done, failed) = match run.name.as_str() {
                "expand" => ("expanded", "expand failed"),
                "migrate" => ("migrated", "migrate failed"),
                "contract" => ("contracted", "contract failed"),
                "down" => ("rolled back", "down failed"),
                _ => return None,
            };
            return Some(if run.passed { done } else { failed }.to_string());
        }
        let succeeded = event.to == Phase::Succeeded && event.from != Phase::Succeeded;
        let ran = matches!(self.phase.as_str(), "expanded" | "migrated");
        (succeeded && ran && self.contract_waits).then(|| "contract pending".to_string())
    }

    /// The words shown under the service.
    pub fn line(&self) -> String {
        match self.phase.as_str() {
            // `C` (or `helmsman migrations contract`) runs it: said where
            // it is pending, the key first, before a narrow column cuts it.
            "contract pending" => {
                "db: contract pending · C runs it, the point of no return".to_string()
            }
            phase => format!("db: {phase}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Actor;
    use crate::jobs::JobRun;

    fn event(from: Phase, to: Phase, job: Option<(&str, bool)>) -> Event {
        Event {
            at: chrono::Utc::now(),
            env: "prod".into(),
            service: "web".into(),
            from,
            to,
            step: 0,
            steps: 0,
            weight: 0,
            reason: String::new(),
            actor: Actor::Engine,
            verdict: None,
            job: job.map(|(name, passed)| {
                Box::new(JobRun {
                    name: name.into(),
                    passed,
                    summary: String::new(),
                    output: String::new(),
                    started_at: chrono::Utc::now(),
                    took: std::time::Duration::ZERO,
                })
            }),
        }
    }

    #[test]
    fn each_phase_run_moves_it_and_a_success_leaves_contract_pending_where_it_waits() {
        let mut info = MigrationsInfo {
            phase: "not run".into(),
            contract_waits: true,
        };
        for (e, expected) in [
            (
                event(Phase::Pending, Phase::Pending, Some(("expand", true))),
                Some("expanded"),
            ),
            (
                event(
                    Phase::Progressing,
                    Phase::Progressing,
                    Some(("pre_step hook x", false)),
                ),
                None,
            ),
            (
                event(
                    Phase::Progressing,
                    Phase::Progressing,
                    Some(("migrate", true)),
                ),
                Some("migrated"),
            ),
            (
                event(Phase::Promoting, Phase::Succeeded, None),
                Some("contract pending"),
            ),
            (
                event(
                    Phase::Succeeded,
                    Phase::Succeeded,
                    Some(("contract", false)),
                ),
                Some("contract failed"),
            ),
        ] {
            let after = info.after(&e);
            assert_eq!(after.as_deref(), expected, "{:?}", e.job);
            if let Some(phase) = after {
                info.phase = phase;
            }
        }
        assert!(info.line().starts_with("db: contract failed"));
        info.phase = "migrated".into();
        info.contract_waits = false;
        assert_eq!(
            info.after(&event(Phase::Promoting, Phase::Succeeded, None)),
            None
        );
        assert_eq!(
            info.after(&event(
                Phase::RolledBack,
                Phase::RolledBack,
                Some(("down", true))
            ))
            .as_deref(),
            Some("rolled back")
        );
    }
}
