//! Releases whose driver died (a host or a `release` process killed, a
//! crash, a power cut): the journal holds them unfinished and nobody holds
//! their lock. A release host that starts takes each one over so that none
//! is left undriven or unknown:
//!
//! - when the backend already serves the new version as stable with
//!   nothing else staged, the release had finished before its driver died
//!   (only its record was lost): it is recorded as succeeded;
//! - with `on_restart = resume` (the default), a release whose backend is
//!   where its journal left it (the same versions, the same weight, the
//!   same plan; for blue-green and rolling, the instances the
//!   configuration lists) is resumed at the step it was on: the step
//!   starts again from its beginning, once a fresh reading is in;
//! - otherwise the backend's state cannot be trusted to match a step of
//!   the plan, and it is rolled back by the engine with the strategy's own
//!   revert, verified, and recorded.
//!
//! Each is journaled ("interrupted at step 3/5, 25 %; …") under the
//! release's own id.

use chrono::Utc;

use super::around::Around;
use super::result_record::Outcome;
use super::{
    LeaseLost, PipelineError, ReleaseRequest, StartedRelease, Steering, Watcher, backends, plan,
    steer_to_end, take_lease, traffic_state,
};
use crate::config::{Config, Service};
use crate::engine::clock::{Clock, TokioClock};
use crate::engine::driver::{spawn_machine, spawn_release};
use crate::engine::machine::{Release, ReleaseSpec};
use crate::engine::plan::{Fleet, configured_fleet, plan as engine_plan};
use crate::engine::{Actor, Command, CommandKind, Event, Phase, ReleaseResult, Target};
use crate::observed::TrafficState;
use crate::store::{Entry, History, Holder, ReleaseRecord, ReleaseStart};
use crate::strategy::StrategyKind;

/// The unfinished releases in the journal that nobody drives, oldest first.
pub fn undriven(history: &History) -> Result<Vec<Entry>, crate::store::StoreError> {
    let mut entries: Vec<Entry> = history
        .unfinished(&crate::store::Filter::default())?
        .into_iter()
        .filter(|entry| history.driver(&entry.start.target).is_none())
        .collect();
    entries.reverse();
    Ok(entries)
}

/// What a host does with a release it takes over that had not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnRestart {
    /// Resume a release at the step it was on when the backend is where
    /// its journal left it; roll back anything else.
    #[default]
    Resume,
    /// Roll back every one.
    Rollback,
}

/// Takes over the interrupted release `entry` and brings it to an end, as
/// the module says.
pub async fn take_over(
    config: &Config,
    entry: &Entry,
    policy: OnRestart,
    history: &mut History,
    watcher: &mut dyn Watcher,
) -> Result<ReleaseResult, PipelineError> {
    let target = entry.start.target.clone();
    let service = configured(config, &target, &entry.start.strategy)?;
    let _hold = history.hold(
        &target,
        Holder::this_process(Actor::Engine, &entry.start.new_version),
    )?;
    let lease = take_lease(&target.env, &service, &Actor::Engine).await?;
    let lost = lease.as_ref().map(|lease| lease.lost());
    // Its news goes to the `[[notify]]` targets as a release's would.
    let request = ReleaseRequest {
        service: target.service.clone(),
        version: entry.start.new_version.clone(),
        envs: vec![target.env.clone()],
        strategy: None,
        actor: Actor::Engine,
        force: false,
    };
    let deployment = entry.start.deployment.as_deref().unwrap_or(&entry.start.id);
    let mut watcher = crate::notify::Notifying::new(watcher, config, &request, deployment);
    let result = bring_to_an_end(service, entry, policy, lost, history, &mut watcher).await;
    if let Err(e) = &result
        && Outcome::of_error(e) == Outcome::Error
    {
        watcher.failed(&e.to_string());
    }
    watcher.finish();
    if let Some(lease) = lease {
        lease.release().await;
    }
    end_deployment(history, entry, &result);
    result
}

/// The deployment of a release taken over ends with it: its driver died,
/// so no later environment of it runs.
fn end_deployment(
    history: &mut History,
    entry: &Entry,
    result: &Result<ReleaseResult, PipelineError>,
) {
    let Some(deployment) = &entry.start.deployment else {
        return;
    };
    let (outcome, why) = match result {
        Ok(result) => (Outcome::of_result(*result), String::new()),
        Err(e) => (Outcome::of_error(e), format!(": {e}")),
    };
    let reason = format!(
        "its driver died in {}; the host took the release over{why}, and no later \
         environment ran",
        entry.start.target.env
    );
    if let Err(e) = history.deployment_end(deployment, outcome.word(), &reason, Utc::now()) {
        tracing::warn!("{e}");
    }
}

async fn bring_to_an_end(
    service: Service,
    entry: &Entry,
    policy: OnRestart,
    lease_lost: Option<LeaseLost>,
    history: &mut History,
    watcher: &mut dyn Watcher,
) -> Result<ReleaseResult, PipelineError> {
    let start = &entry.start;
    let target = start.target.clone();
    let state = traffic_state(&target, &service).await?;
    let last = history.last_event(&start.id)?;
    let interrupted = interrupted_at(last.as_ref());
    if state.stable_version == start.new_version && state.new_version.is_none() {
        let reason = format!(
            "{interrupted}; it had finished before: {} serves all traffic as stable",
            start.new_version
        );
        let event = closing_event(&target, last.as_ref(), Phase::Succeeded, &reason);
        journal(history, &start.id, &event);
        watcher.event(&event);
        history.record(ReleaseRecord {
            id: start.id.clone(),
            target,
            strategy: start.strategy.clone(),
            stable_version: start.stable_version.clone(),
            new_version: start.new_version.clone(),
            result: ReleaseResult::Succeeded,
            reason,
            started_by: start.started_by.clone(),
            started_at: start.started_at,
            finished_at: Utc::now(),
        })?;
        return Ok(ReleaseResult::Succeeded);
    }
    let spec = ReleaseSpec {
        target: target.clone(),
        release_id: start.id.clone(),
        stable_version: start.stable_version.clone(),
        new_version: start.new_version.clone(),
        service: service.clone(),
        started_by: start.started_by.clone(),
    };
    let clock = std::sync::Arc::new(TokioClock::new());
    let providers = backends::providers_for(&spec);
    let resume_at = match (policy, &last) {
        (OnRestart::Resume, Some(last)) if resumable(&service, &state, start, last) => {
            Some((last.step, last.weight))
        }
        _ => None,
    };
    let (why, handle) = match resume_at {
        Some((step, weight)) => {
            let why = format!(
                "{interrupted}; resumed at step {} by the host that took it over",
                crate::engine::step_of(step, last.as_ref().map_or(0, |e| e.steps))
            );
            let event = closing_event(&target, last.as_ref(), Phase::Pending, &why);
            journal(history, &start.id, &event);
            watcher.event(&event);
            let release =
                Release::resume(spec.clone(), step, weight, Fleet::of(&state), clock.now());
            (why, spawn_machine(release, providers, clock))
        }
        None => {
            let why = format!("{interrupted}; rolled back by the host that took it over");
            let event = closing_event(&target, last.as_ref(), Phase::RollingBack, &why);
            journal(history, &start.id, &event);
            watcher.event(&event);
            let handle = spawn_release(spec.clone(), providers, clock);
            let rollback = Command {
                target: target.clone(),
                kind: CommandKind::Rollback,
                actor: Actor::Engine,
            };
            let _ = handle.send(rollback).await;
            (why, handle)
        }
    };
    let plan = plan::build(
        &target.env,
        &[],
        &service,
        &start.new_version,
        None,
        plan::Stable::read(start.stable_version.clone()),
        history,
    );
    let started = StartedRelease {
        spec,
        handle,
        started_at: start.started_at,
    };
    let steering = Steering {
        actor: &Actor::Engine,
        why: Some(&why),
        lease_lost,
    };
    // What runs after the release runs after a resumed one too: down once
    // a rollback brought the traffic back, contract once it succeeded.
    let deployment = start.deployment.clone().unwrap_or_else(|| start.id.clone());
    let around = Around::new(
        target,
        &service,
        &start.new_version,
        &start.stable_version,
        &deployment,
    );
    let result = steer_to_end(started, plan, steering, Some(&around), history, watcher).await?;
    around.after(result, history, watcher).await;
    Ok(result)
}

/// Whether the backend is where the journal left the release: the same
/// versions staged, the same weight, and a plan of as many steps as the
/// journal counted. A blue-green or rolling plan is built from the fleet:
/// it is rebuilt only where the backend reports the instances the
/// configuration lists (the embedded data plane), not where it alone knows
/// them (a Deployment's replicas at a batch). Anything else (a weight the
/// journal did not see, a plan edited since) cannot be trusted to match a
/// step, and is rolled back.
fn resumable(service: &Service, state: &TrafficState, start: &ReleaseStart, last: &Event) -> bool {
    let rollout = service.strategy.rollout();
    let fleet = Fleet::of(state);
    let fleet_known = !rollout.needs_fleet()
        || configured_fleet(&service.backend, &start.stable_version, &start.new_version)
            == Some(fleet);
    fleet_known
        && engine_plan(&service.strategy, Some(fleet)).len() == last.steps
        && state.stable_version == start.stable_version
        && state.new_version.as_deref() == Some(start.new_version.as_str())
        && rollout.actual_weight(state).unwrap_or(0) == last.weight
        && !last.to.is_finished()
        && last.to != Phase::RollingBack
}

/// The service of `target` in the host's configuration, with the strategy
/// the release was started with (`--strategy` may have overridden it).
fn configured(config: &Config, target: &Target, strategy: &str) -> Result<Service, PipelineError> {
    let service = config
        .service(&target.env, &target.service)
        .ok_or_else(|| PipelineError::UnknownService {
            env: target.env.clone(),
            service: target.service.clone(),
            known: config
                .environment(&target.env)
                .map(|e| e.services.iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default(),
        })?;
    let mut service = service.clone();
    if service.strategy.name() != strategy
        && let Some(kind) = StrategyKind::named(strategy)
    {
        service.strategy = super::effective_strategy(&service, Some(kind));
    }
    Ok(service)
}

/// "interrupted at step 3/5, 25 % (its last event, 14:03:05 UTC)".
fn interrupted_at(last: Option<&Event>) -> String {
    match last {
        Some(e) => format!(
            "interrupted at step {}, {} % ({}, its last event at {})",
            crate::engine::step_of(e.step, e.steps),
            e.weight,
            e.to.words(),
            e.at.format("%H:%M:%S UTC")
        ),
        None => "interrupted before its first step".to_string(),
    }
}

/// The event that says what the host that took a release over did.
fn closing_event(target: &Target, last: Option<&Event>, to: Phase, reason: &str) -> Event {
    Event {
        at: Utc::now(),
        env: target.env.clone(),
        service: target.service.clone(),
        from: last.map_or(Phase::Pending, |e| e.to),
        to,
        step: last.map_or(0, |e| e.step),
        steps: last.map_or(0, |e| e.steps),
        weight: last.map_or(0, |e| e.weight),
        reason: reason.to_string(),
        actor: Actor::Engine,
        verdict: None,
        job: None,
    }
}

fn journal(history: &mut History, release_id: &str, event: &Event) {
    if let Err(e) = history.event(release_id, event) {
        tracing::warn!("{e}");
    }
}
