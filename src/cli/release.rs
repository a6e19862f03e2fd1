//! `helmsman release --headless`: drives a real release against the
//! configured backend, printing one line per event and per preflight check,
//! then one final result record, whatever happened (refused, blocked and
//! failed releases included): the outcome, the exit code and, for each
//! environment asked, the versions from and to and how it ended there.
//! As JSON the record is the last line:
//! `{"result": {"outcome": "rolled-back", "exit_code": 3, "environments":
//! [{"env": "dev", "from": "v1", "to": "v2", "outcome": "rolled-back"}, …]}}`.

use std::path::Path;

use serde::Serialize;

use super::event_line::Printer;
use super::{ExitCode, OutputFormat};
use crate::config::Config;
use crate::engine::{Event, Phase, ReleaseResult, Snapshot};
use crate::pipeline::{self, Attached, PipelineError, ReleaseRequest, Watcher};
use crate::preflight::Report;
use crate::store::History;
use crate::strategy::StrategyKind;

pub struct ReleaseOptions {
    pub envs: Vec<String>,
    pub service: String,
    pub version: String,
    pub strategy: Option<StrategyKind>,
    pub output: OutputFormat,
}

pub async fn run(config: &Config, state_dir: &Path, options: ReleaseOptions) -> ExitCode {
    let request = ReleaseRequest {
        service: options.service,
        version: options.version,
        envs: options.envs,
        strategy: options.strategy,
        actor: super::operator::current(),
    };
    let mut recorder = Recorder {
        printer: Printer(options.output),
        started: Vec::new(),
    };
    let outcome = match History::open(state_dir) {
        Ok(mut history) => pipeline::run(config, &request, &mut history, &mut recorder).await,
        Err(e) => Err(PipelineError::from(e)),
    };
    if let Err(e) = &outcome {
        crate::errln!("error: {e}");
    }
    let result = ResultRecord::new(&request, &recorder.started, &outcome);
    let line = match options.output {
        // A record of strings and numbers always serializes; should it
        // not, the consumer still gets a JSON line saying so.
        OutputFormat::Json => {
            serde_json::to_string(&FinalLine { result: &result }).unwrap_or_else(|e| {
                serde_json::json!({ "error": format!("the result cannot be written: {e}") })
                    .to_string()
            })
        }
        OutputFormat::Text => result.text(),
    };
    // A closed stdout loses the record, never the exit code.
    crate::outln!("{line}");
    result.exit_code
}

/// Prints as the pipeline goes, and keeps each started release for the
/// final record.
struct Recorder {
    printer: Printer,
    started: Vec<Started>,
}

/// A release that started: the version serving then, and its latest state.
struct Started {
    from: String,
    snapshots: tokio::sync::watch::Receiver<Snapshot>,
}

impl Watcher for Recorder {
    fn event(&mut self, event: &Event) {
        self.printer.event(event);
    }

    fn preflight(&mut self, report: &Report) {
        self.printer.preflight(report);
    }

    fn started(&mut self, release: Attached) {
        self.started.push(Started {
            from: release.snapshots.borrow().stable_version.clone(),
            snapshots: release.snapshots.clone(),
        });
        self.printer.started(release);
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

    fn of_result(result: ReleaseResult) -> Outcome {
        match result {
            ReleaseResult::Succeeded => Outcome::Succeeded,
            ReleaseResult::RolledBack => Outcome::RolledBack,
            ReleaseResult::Aborted => Outcome::Aborted,
        }
    }

    fn of_error(error: &PipelineError) -> Outcome {
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

#[derive(Debug, Serialize)]
pub struct EnvironmentResult {
    pub env: String,
    /// The version that served when the release started; null when it
    /// never started.
    pub from: Option<String>,
    pub to: String,
    pub outcome: Outcome,
}

/// The last line of `--output json`.
#[derive(Serialize)]
struct FinalLine<'r> {
    result: &'r ResultRecord,
}

#[derive(Debug, Serialize)]
pub struct ResultRecord {
    pub outcome: Outcome,
    pub exit_code: ExitCode,
    /// Why it stopped, when it stopped on an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub environments: Vec<EnvironmentResult>,
}

impl ResultRecord {
    /// The record of `request`, given the releases that started (in
    /// order) and what the pipeline returned.
    fn new(
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
