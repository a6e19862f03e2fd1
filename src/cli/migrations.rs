//! `helmsman migrations status | contract`: where each service's database
//! migrations stand, and the contract a human runs in production once a
//! release succeeded (the point of no return).

use serde::Serialize;

use super::event_line::Printer;
use super::{ExitCode, OutputFormat};
use crate::config::{Config, is_prod};
use crate::engine::Target;
use crate::jobs::Context;
use crate::pipeline::contract::{self, ContractError};
use crate::store::{History, Holder, MigrationState};

const HEADER: [&str; 6] = ["TARGET", "PHASE", "VERSIONS", "SET", "SINCE", "DETAIL"];

/// One service with migrations, as `migrations status` lists it.
#[derive(Debug, Serialize)]
pub struct Row {
    pub target: Target,
    /// None: its migrations never ran there.
    pub state: Option<MigrationState>,
    /// The last line the migrations' own `status` command printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_says: Option<String>,
}

/// Every configured service with migrations (in `env`, of `service` if
/// given), with its state from the journal and its tool's own word.
pub async fn status(
    config: &Config,
    history: &History,
    env: Option<&str>,
    service: Option<&str>,
    output: OutputFormat,
) -> ExitCode {
    let mut rows = Vec::new();
    for environment in &config.environments {
        if env.is_some_and(|e| e != environment.name) {
            continue;
        }
        for svc in &environment.services {
            let Some(migrations) = &svc.migrations else {
                continue;
            };
            if service.is_some_and(|s| s != svc.name) {
                continue;
            }
            let target = Target {
                env: environment.name.clone(),
                service: svc.name.clone(),
            };
            let state = match history.migration_state(&target) {
                Ok(state) => state,
                Err(e) => {
                    crate::errln!("error: {e}");
                    return ExitCode::Runtime;
                }
            };
            let tool_says = match migrations.status.as_deref() {
                Some(_) => {
                    let context = Context {
                        env: target.env.clone(),
                        service: target.service.clone(),
                        version: state
                            .as_ref()
                            .map(|s| s.version.clone())
                            .unwrap_or_default(),
                        previous_version: state
                            .as_ref()
                            .map(|s| s.previous_version.clone())
                            .unwrap_or_default(),
                        preview_urls: Vec::new(),
                    };
                    let run = crate::jobs::migrations::run(
                        migrations,
                        crate::config::migrations::Phase::Status,
                        &context,
                        &svc.workdir,
                    )
                    .await;
                    run.map(|r| r.summary)
                }
                None => None,
            };
            rows.push(Row {
                target,
                state,
                tool_says,
            });
        }
    }
    super::table::print(&rows, output, HEADER, row, "no service has migrations");
    if output == OutputFormat::Text {
        for r in &rows {
            if let Some(state) = &r.state
                && state.phase == crate::store::MigrationPhase::ContractPending
            {
                crate::outln!(
                    "{}: contract pending — the point of no return; run `helmsman migrations \
                     contract --env {} --service {}`",
                    r.target,
                    r.target.env,
                    r.target.service
                );
            }
        }
    }
    ExitCode::Ok
}

fn row(r: &Row) -> [String; 6] {
    let detail = match (&r.state, &r.tool_says) {
        (Some(s), Some(tool)) => format!("{}; the tool says: {tool}", s.detail),
        (Some(s), None) => s.detail.clone(),
        (None, Some(tool)) => format!("the tool says: {tool}"),
        (None, None) => String::new(),
    };
    match &r.state {
        Some(s) => [
            r.target.to_string(),
            s.phase.words().to_string(),
            format!("{} → {}", s.previous_version, s.version),
            s.digest[..12].to_string(),
            s.at.format("%Y-%m-%d %H:%M").to_string(),
            detail,
        ],
        None => [
            r.target.to_string(),
            "never ran".to_string(),
            "-".into(),
            "-".into(),
            "-".into(),
            detail,
        ],
    }
}

/// Runs the pending contract of `target`: in production only once
/// confirmed (`--yes`, or an answer on the terminal).
pub async fn contract(
    config: &Config,
    history: &mut History,
    target: Target,
    yes: bool,
    output: OutputFormat,
) -> ExitCode {
    if is_prod(&target.env) && !yes {
        let question =
            "run the contract, after which the previous version no longer fits the schema";
        match super::steer::confirmed(&target, "contract", question) {
            Ok(true) => {}
            Ok(false) => {
                crate::errln!("{target}: contract cancelled");
                return ExitCode::Runtime;
            }
            Err(why) => {
                crate::errln!("error: {why}");
                return ExitCode::Usage;
            }
        }
    }
    let mut printer = Printer(output);
    let holder = Holder::this_process(super::operator::current(), "contract");
    match contract::run(config, &target, holder, history, &mut printer).await {
        Ok(run) if run.passed => ExitCode::Ok,
        Ok(_) => ExitCode::Runtime,
        Err(e @ (ContractError::Unknown { .. } | ContractError::NoContract { .. })) => {
            crate::errln!("error: {e}");
            ExitCode::Usage
        }
        Err(e) => {
            crate::errln!("error: {e}");
            ExitCode::Runtime
        }
    }
}
