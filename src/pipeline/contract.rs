//! `helmsman migrations contract`: the point of no return, run by a human
//! once a release succeeded and the old version is retired. Refused while
//! anything but the new version serves, while a release of the service
//! runs, or when there is nothing to contract.

use super::around::Around;
use super::{Watcher, traffic_state};
use crate::config::Config;
use crate::engine::Target;
use crate::jobs::JobRun;
use crate::store::{Filter, History, Holder, MigrationPhase, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{target}: no such service in the configuration")]
    Unknown { target: Target },
    #[error("{target}: its migrations have no `contract` to run")]
    NoContract { target: Target },
    #[error("{target}: nothing to contract: {why}")]
    Nothing { target: Target, why: String },
    #[error(
        "{target}: refused: {why} — contract runs once only {version} serves, so nothing that \
         needs the old schema is left"
    )]
    NotRetired {
        target: Target,
        version: String,
        why: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs the pending contract of `target`'s migrations.
pub async fn run(
    config: &Config,
    target: &Target,
    holder: Holder,
    history: &mut History,
    watcher: &mut dyn Watcher,
) -> Result<JobRun, ContractError> {
    let service = config
        .service(&target.env, &target.service)
        .ok_or_else(|| ContractError::Unknown {
            target: target.clone(),
        })?;
    if service
        .migrations
        .as_ref()
        .is_none_or(|m| m.contract.is_none())
    {
        return Err(ContractError::NoContract {
            target: target.clone(),
        });
    }
    let state = history
        .migration_state(target)?
        .ok_or_else(|| ContractError::Nothing {
            target: target.clone(),
            why: "its migrations never ran here".into(),
        })?;
    let retry = state.phase == MigrationPhase::Failed && state.detail.starts_with("contract");
    if state.phase != MigrationPhase::ContractPending && !retry {
        return Err(ContractError::Nothing {
            target: target.clone(),
            why: format!(
                "its migrations for {} are {}",
                state.version,
                state.phase.words()
            ),
        });
    }
    // No release of the service may start while the schema changes under it.
    let _hold = history.hold(target, holder)?;
    let not_retired = |why: String| ContractError::NotRetired {
        target: target.clone(),
        version: state.version.clone(),
        why,
    };
    let traffic = traffic_state(target, service)
        .await
        .map_err(|e| not_retired(format!("the traffic state cannot be read ({e})")))?;
    if traffic.stable_version != state.version {
        return Err(not_retired(format!("{} serves", traffic.stable_version)));
    }
    if !traffic.new.is_empty() {
        return Err(not_retired(format!(
            "{} instances of another version are staged",
            traffic.new.len()
        )));
    }
    let deployment = deployment_of(history, target, &state.version)?;
    let around = Around::of_state(target.clone(), service, &state, &deployment);
    Ok(around
        .contract(history, watcher)
        .await
        .expect("contract is configured"))
}

/// The deployment that released `version` of `target` last: where the
/// contract's run is journaled.
fn deployment_of(history: &History, target: &Target, version: &str) -> Result<String, StoreError> {
    let filter = Filter {
        env: Some(target.env.clone()),
        service: Some(target.service.clone()),
        limit: None,
    };
    Ok(history
        .entries(&filter)?
        .into_iter()
        .find(|e| e.start.new_version == version)
        .map(|e| e.start.deployment.unwrap_or(e.start.id))
        .unwrap_or_default())
}
