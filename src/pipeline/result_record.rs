//! The record a release ends with, whatever happened (refused, blocked and
//! failed releases included): the outcome, the exit code and, for each
//! environment asked, the versions from and to and how it ended there.
//! `helmsman release` prints it last, as text or as the last JSON line
//! `{"result": {"outcome": "rolled-back", "exit_code": 3, "environments":
//! [{"env": "dev", "from": "v1", "to": "v2", "outcome": "rolled-back"}, …]}}`;
//! the release host builds it for the releases it drives and sends it to
//! the client that follows them.

use serde::{Deserialize, Serialize};

use super::{Attached, PipelineError, ReleaseRequest};
use crate::cli::ExitCode;
use crate::engine::{Phase, ReleaseResult, Snapshot};

/// A release that started: the version serving then, and its latest state.
pub struct Started {
    from: String,
    snapshots: tokio::sync::watch::Receiver<Snapshot>,
}

impl Started {
    pub fn of(release: &Attached) -> Started {
        Started {
            from: release.snapshots.borrow().stable_version.clone(),
            snapshots: release.snapshots.clone(),
        }
    }
}

/// How a release, or one environment of it, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    RolledBack,
    Aborted,
    /// Not started: `requires` not met, or the version already serves.
    Refused,
    /// Not started: a preflight check or the quality gate failed.
    Blocked,
    /// Not started: the command names what the configuration does not have.
    Invalid,
    /// A backend, the history or the release task failed.
    Error,
    /// Not started: a signal or a closed terminal asked the process to stop first.
    Interrupted,
    /// An environment never reached: an earlier one did not succeed.
    NotRun,
}

impl Outcome {
    const ALL: [Outcome; 9] = [
        Outcome::Succeeded,
        Outcome::RolledBack,
        Outcome::Aborted,
        Outcome::Refused,
        Outcome::Blocked,
        Outcome::Invalid,
        Outcome::Error,
        Outcome::Interrupted,
        Outcome::NotRun,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::RolledBack => "rolled-back",
            Outcome::Aborted => "aborted",
            Outcome::Refused => "refused",
            Outcome::Blocked => "blocked",
            Outcome::Invalid => "invalid",
            Outcome::Error => "error",
            Outcome::Interrupted => "interrupted",
            Outcome::NotRun => "not-run",
        }
    }

    pub fn of_result(result: ReleaseResult) -> Outcome {
        match result {
            ReleaseResult::Succeeded => Outcome::Succeeded,
            ReleaseResult::RolledBack => Outcome::RolledBack,
            ReleaseResult::Aborted => Outcome::Aborted,
        }
    }

    pub fn of_error(error: &PipelineError) -> Outcome {
        match error {
            e if e.is_usage() => Outcome::Invalid,
            e if e.is_refusal() => Outcome::Refused,
            PipelineError::Blocked { .. } => Outcome::Blocked,
            PipelineError::Interrupted { .. } => Outcome::Interrupted,
            _ => Outcome::Error,
        }
    }

    /// How a started release ended, from its last state.
    fn of_phase(phase: Phase) -> Outcome {
        match phase {
            Phase::Succeeded => Outcome::Succeeded,
            Phase::RolledBack => Outcome::RolledBack,
            Phase::Aborted => Outcome::Aborted,
            // Stopped before it finished: its task failed.
            _ => Outcome::Error,
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.word())
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Outcome, D::Error> {
        let word = String::deserialize(deserializer)?;
        Outcome::ALL
            .into_iter()
            .find(|o| o.word() == word)
            .ok_or_else(|| serde::de::Error::custom(format!("no outcome `{word}`")))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvironmentResult {
    pub env: String,
    /// The version that served when the release started; null when it
    /// never started.
    pub from: Option<String>,
    pub to: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultRecord {
    pub outcome: Outcome,
    pub exit_code: ExitCode,
    /// Why it stopped, when it stopped on an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub environments: Vec<EnvironmentResult>,
}

impl ResultRecord {
    /// The record of `request`, given the releases that started (in
    /// order) and what the pipeline returned.
    pub fn new(
        request: &ReleaseRequest,
        started: &[Started],
        outcome: &Result<ReleaseResult, PipelineError>,
    ) -> ResultRecord {
        // The pipeline goes through the environments in order and stops at
        // the first that does not succeed: the ones started come first, the
        // one it stopped at (if it never started) next, then the rest.
        let mut stop = match outcome {
            // Nothing is started when the command itself is wrong.
            Err(e) if e.is_usage() => None,
            Err(e) => Some(Outcome::of_error(e)),
            Ok(_) => None,
        };
        let environments = request
            .envs
            .iter()
            .enumerate()
            .map(|(i, env)| {
                let (from, outcome) = match started.get(i) {
                    Some(release) => {
                        let outcome = match outcome {
                            Ok(result) if i + 1 == started.len() => Outcome::of_result(*result),
                            _ => Outcome::of_phase(release.snapshots.borrow().phase),
                        };
                        (Some(release.from.clone()), outcome)
                    }
                    None => (None, stop.take().unwrap_or(Outcome::NotRun)),
                };
                EnvironmentResult {
                    env: env.clone(),
                    from,
                    to: request.version.clone(),
                    outcome,
                }
            })
            .collect();
        match outcome {
            Ok(result) => ResultRecord {
                outcome: Outcome::of_result(*result),
                exit_code: ExitCode::from(*result),
                message: None,
                environments,
            },
            Err(e) => ResultRecord {
                outcome: Outcome::of_error(e),
                exit_code: ExitCode::from(e),
                message: Some(e.to_string()),
                environments,
            },
        }
    }

    /// `result: rolled-back, exit 3 (dev v1 → v2: rolled-back; prod: not-run)`
    pub fn text(&self) -> String {
        let environments: Vec<String> = self
            .environments
            .iter()
            .map(|e| match &e.from {
                Some(from) => format!("{} {from} → {}: {}", e.env, e.to, e.outcome.word()),
                None => format!("{}: {}", e.env, e.outcome.word()),
            })
            .collect();
        format!(
            "result: {}, exit {} ({})",
            self.outcome.word(),
            self.exit_code,
            environments.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Actor, Target};

    fn request(envs: &[&str]) -> ReleaseRequest {
        ReleaseRequest {
            service: "web".into(),
            version: "v2".into(),
            envs: envs.iter().map(|e| e.to_string()).collect(),
            strategy: None,
            actor: Actor::Engine,
            force: false,
        }
    }

    #[test]
    fn environments_after_the_one_that_stopped_did_not_run() {
        let blocked = Err(PipelineError::Blocked {
            target: Target {
                env: "dev".into(),
                service: "web".into(),
            },
            why: "check".into(),
        });
        let record = ResultRecord::new(&request(&["dev", "prod"]), &[], &blocked);
        assert_eq!(record.exit_code, ExitCode::ChecksFailed);
        assert_eq!(
            record.text(),
            format!(
                "result: blocked, exit {} (dev: blocked; prod: not-run)",
                ExitCode::ChecksFailed.code()
            )
        );
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["message"], "dev/web: refused: check");
        assert_eq!(json["environments"][1]["outcome"], "not-run");

        let usage = Err(PipelineError::UnknownEnvironment {
            env: "qa".into(),
            config: "h.toml".into(),
            known: vec!["dev".into()],
        });
        let record = ResultRecord::new(&request(&["dev", "qa"]), &[], &usage);
        assert_eq!(
            record.text(),
            "result: invalid, exit 2 (dev: not-run; qa: not-run)"
        );
    }
}
