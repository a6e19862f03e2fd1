//! Releases one version of a service through environments in order
//! (dev → staging → prod), enforcing `requires` and each environment's
//! preflight checks (run just before it starts), recording each outcome in
//! the history, and stopping at the first environment that does not
//! succeed. Shared by `helmsman release`, `helmsman demo` and the cockpit.

mod around;
pub mod backends;
pub mod contract;
mod error;
pub mod plan;
mod preflight_gate;
pub mod recover;
pub mod result_record;
pub mod status;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::config::{Backend, Config, Environment, MetricsSource, Service, Strategy};
use crate::engine::clock::TokioClock;
use crate::engine::driver::{ReleaseHandle, spawn_release};
use crate::engine::machine::ReleaseSpec;
use crate::engine::{Actor, Command, CommandKind, Event, ReleaseResult, Target};
use crate::providers::metrics::prometheus;
use crate::providers::traffic::kubernetes::lease::{self, LeaseError, LeaseHold};
use crate::store::{DeploymentStart, History, Holder, ReleaseRecord, ReleaseStart};
use crate::strategy::StrategyKind;

use around::Around;
pub use error::PipelineError;

/// What to release where.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    pub service: String,
    pub version: String,
    /// Environments in the order to release them.
    pub envs: Vec<String>,
    /// Overrides the configured strategy kind (`--strategy`).
    pub strategy: Option<StrategyKind>,
    pub actor: Actor,
    /// Release even what a contract left behind (`--force`).
    pub force: bool,
}

/// The strategy a release of `service` will use.
pub fn effective_strategy(service: &Service, kind: Option<StrategyKind>) -> Strategy {
    match kind {
        Some(kind) => service.strategy.of_kind(kind, &service.name),
        None => service.strategy.clone(),
    }
}

/// Checks a release request against the configuration before anything moves.
pub fn check_request(config: &Config, request: &ReleaseRequest) -> Result<(), PipelineError> {
    for env in &request.envs {
        let Some(environment) = config.environment(env) else {
            return Err(PipelineError::UnknownEnvironment {
                env: env.clone(),
                config: config.source.clone(),
                known: config.environments.iter().map(|e| e.name.clone()).collect(),
            });
        };
        let Some(service) = environment
            .services
            .iter()
            .find(|s| s.name == request.service)
        else {
            return Err(PipelineError::UnknownService {
                env: env.clone(),
                service: request.service.clone(),
                known: environment
                    .services
                    .iter()
                    .map(|s| s.name.clone())
                    .collect(),
            });
        };
        let target = Target {
            env: env.clone(),
            service: request.service.clone(),
        };
        let strategy = effective_strategy(service, request.strategy);
        let known: Option<Vec<String>> = match &service.backend {
            crate::config::Backend::Local(b) => Some(b.versions.keys().cloned().collect()),
            crate::config::Backend::HaProxy(b) => Some(b.versions.keys().cloned().collect()),
            crate::config::Backend::Flagd(f) => Some(f.plane.versions.keys().cloned().collect()),
            crate::config::Backend::Kubernetes(_) => None,
        };
        if let Some(known) = known
            && !known.contains(&request.version)
        {
            return Err(PipelineError::UnknownVersion {
                target,
                version: request.version.clone(),
                known,
            });
        }
        match &service.backend {
            crate::config::Backend::Local(_)
            | crate::config::Backend::HaProxy(_)
            | crate::config::Backend::Flagd(_) => {}
            // Any image tag can be released; the Deployment reports a bad one.
            crate::config::Backend::Kubernetes(k) => {
                if !k.split.runs(&strategy) {
                    return Err(PipelineError::TrafficCannotRun {
                        target,
                        traffic: k.split.kind(),
                        strategy: strategy.name(),
                        kinds: crate::config::kubernetes_kinds_for(strategy.name()),
                    });
                }
            }
        }
        // What any backend cannot do for the strategy (the Kubernetes
        // pairing above says it in Kubernetes' words first).
        let traffic = backends::traffic_for(service);
        let needs = strategy.rollout().needs();
        if let Some(missing) = needs.iter().find(|need| !traffic.can(**need)) {
            return Err(PipelineError::BackendLacks {
                target,
                strategy: strategy.name(),
                missing: *missing,
                backend: traffic.describe(),
            });
        }
    }
    Ok(())
}

/// Runs the release through `request.envs` in order. Every event goes to
/// the watcher. A stop request ([`crate::interrupt`]: Ctrl-C, SIGTERM,
/// SIGHUP, or output that can no longer be written) while a release runs
/// asks the engine to roll it back (a release is never left half-way); one
/// that came earlier keeps the next environment from starting.
pub async fn run(
    config: &Config,
    request: &ReleaseRequest,
    history: &mut History,
    watcher: &mut dyn Watcher,
) -> Result<ReleaseResult, PipelineError> {
    check_request(config, request)?;
    let deployment = begin_deployment(history, request);
    let mut watcher = crate::notify::Notifying::new(watcher, config, request, &deployment);
    let outcome = run_checked(config, request, &deployment, history, &mut watcher).await;
    let (word, reason) = match &outcome {
        Ok(result) => (result_record::Outcome::of_result(*result), String::new()),
        Err(e) => (result_record::Outcome::of_error(e), e.to_string()),
    };
    if word == result_record::Outcome::Error {
        watcher.failed(&reason);
    }
    watcher.finish();
    if let Err(e) = history.deployment_end(&deployment, word.word(), &reason, Utc::now()) {
        tracing::warn!("{e}");
    }
    outcome
}

/// Journals a deployment's start: what its report is read from. A journal
/// that cannot take it is said in the log; the releases still run.
fn begin_deployment(history: &mut History, request: &ReleaseRequest) -> String {
    let started_at = Utc::now();
    let id = journal_id(started_at, &request.service, &request.version);
    let start = DeploymentStart {
        id: id.clone(),
        service: request.service.clone(),
        version: request.version.clone(),
        envs: request.envs.clone(),
        strategy: request.strategy.map(|s| s.name().to_string()),
        started_by: request.actor.clone(),
        started_at,
    };
    if let Err(e) = history.deployment_begin(&start) {
        tracing::warn!("{e}");
    }
    id
}

/// [`run`], once the request is known to fit the configuration.
async fn run_checked(
    config: &Config,
    request: &ReleaseRequest,
    deployment: &str,
    history: &mut History,
    watcher: &mut dyn Watcher,
) -> Result<ReleaseResult, PipelineError> {
    for env in &request.envs {
        let environment = config.environment(env).expect("checked above");
        let service = config
            .service(env, &request.service)
            .expect("checked above");
        for required in &environment.requires {
            if !history.succeeded(required, &request.service, &request.version) {
                return Err(PipelineError::NotYetIn {
                    target: Target {
                        env: env.clone(),
                        service: request.service.clone(),
                    },
                    version: request.version.clone(),
                    required: required.clone(),
                });
            }
        }
        not_interrupted(env, request)?;
        preflight_gate::before(environment, request, deployment, history, watcher).await?;
        not_interrupted(env, request)?;
        let result =
            release_one(environment, service, request, deployment, history, watcher).await?;
        if result != ReleaseResult::Succeeded {
            return Ok(result);
        }
    }
    Ok(ReleaseResult::Succeeded)
}

/// A stop asked for before `env`'s release started keeps it from starting.
fn not_interrupted(env: &str, request: &ReleaseRequest) -> Result<(), PipelineError> {
    match crate::interrupt::requested() {
        Some(reason) => Err(PipelineError::Interrupted {
            target: Target {
                env: env.to_string(),
                service: request.service.clone(),
            },
            reason,
        }),
        None => Ok(()),
    }
}

/// What a front end sees of the releases a pipeline runs: every event,
/// each release's preflight checks, and each release as it starts, to
/// steer it. A closure over events is a watcher that does not steer.
pub trait Watcher: Send {
    fn event(&mut self, event: &Event);
    fn preflight(&mut self, _report: &crate::preflight::Report) {}
    fn started(&mut self, _release: Attached) {}
    /// Something to tell the operator that is not the release's own news
    /// (a notification that could not be delivered).
    fn notice(&mut self, _text: &str) {}
}

impl<F: FnMut(&Event) + Send> Watcher for F {
    fn event(&mut self, event: &Event) {
        self(event)
    }
}

/// A running release, as a front end holds it: its commands, its latest
/// state, and its plan as `helmsman plan` prints it.
pub struct Attached {
    pub target: Target,
    pub commands: CommandSender,
    pub snapshots: tokio::sync::watch::Receiver<crate::engine::Snapshot>,
    pub plan: Arc<plan::Plan>,
}

/// Where a release takes its commands, each with a channel for the reply.
pub type CommandSender =
    tokio::sync::mpsc::Sender<(Command, oneshot::Sender<crate::engine::CommandReply>)>;

/// A release spawned on the current runtime, with what it was started from.
pub struct StartedRelease {
    pub spec: ReleaseSpec,
    pub handle: ReleaseHandle,
    pub started_at: DateTime<Utc>,
}

/// Starts driving a release of `request.version` of `service` in `env`:
/// reads the backend's traffic state (the stable version it runs), refuses
/// a release of the version already stable, and spawns the engine with the
/// service's providers on the current tokio runtime. Does not wait for the
/// release, does not check `requires` and records nothing: see [`run`].
pub async fn start_release(
    env: &str,
    service: &Service,
    request: &ReleaseRequest,
) -> Result<StartedRelease, PipelineError> {
    Ok(spawn(specify(env, service, request).await?))
}

/// What [`start_release`] starts: the spec of a release from the version
/// the backend runs now, refused if that is the version asked for.
async fn specify(
    env: &str,
    service: &Service,
    request: &ReleaseRequest,
) -> Result<ReleaseSpec, PipelineError> {
    let target = Target {
        env: env.to_string(),
        service: service.name.clone(),
    };
    let running = running_version(&target, service).await?;
    if running == request.version {
        return Err(PipelineError::AlreadyRuns {
            target,
            version: request.version.clone(),
        });
    }
    let mut service = service.clone();
    service.strategy = effective_strategy(&service, request.strategy);
    let release_id = journal_id(Utc::now(), &target.env, &target.service);
    Ok(ReleaseSpec {
        target,
        release_id,
        stable_version: running,
        new_version: request.version.clone(),
        service,
        started_by: request.actor.clone(),
    })
}

/// Spawns the engine of `spec` with its service's providers.
fn spawn(spec: ReleaseSpec) -> StartedRelease {
    let providers = backends::providers_for(&spec);
    let started_at = Utc::now();
    let handle = spawn_release(spec.clone(), providers, Arc::new(TokioClock::new()));
    StartedRelease {
        spec,
        handle,
        started_at,
    }
}

/// A journal id: the start, to the millisecond (two releases of a service
/// in one second — a rollback takes milliseconds — each get their own
/// entry), then what it is of: `20261130T101500.123-dev-checkout`.
fn journal_id(at: DateTime<Utc>, first: &str, second: &str) -> String {
    format!("{}-{first}-{second}", at.format("%Y%m%dT%H%M%S%.3f"))
}

/// The version `service` runs in `target` now, as its traffic backend
/// says: what a release starts from, and what a front end shows.
pub async fn running_version(target: &Target, service: &Service) -> Result<String, PipelineError> {
    Ok(traffic_state(target, service).await?.stable_version)
}

/// The traffic state of `service` in `target`, as its backend reports it.
async fn traffic_state(
    target: &Target,
    service: &Service,
) -> Result<crate::observed::TrafficState, PipelineError> {
    backends::traffic_for(service)
        .state()
        .await
        .map_err(|source| PipelineError::TrafficUnreadable {
            target: target.clone(),
            source,
        })
}

/// The version a service runs as far as the release `snapshot` shows:
/// the new one once it has succeeded, else the stable one.
pub fn running_after(snapshot: &crate::engine::Snapshot) -> &str {
    match snapshot.phase {
        crate::engine::Phase::Succeeded => &snapshot.new_version,
        _ => &snapshot.stable_version,
    }
}

async fn release_one(
    environment: &Environment,
    service: &Service,
    request: &ReleaseRequest,
    deployment: &str,
    history: &mut History,
    watcher: &mut dyn Watcher,
) -> Result<ReleaseResult, PipelineError> {
    // One driver per service: held until this function returns.
    let _hold = history.hold(
        &Target {
            env: environment.name.clone(),
            service: service.name.clone(),
        },
        Holder::this_process(request.actor.clone(), &request.version),
    )?;
    // One driver across machines for a Kubernetes service: its Lease,
    // renewed until the release ends and then cleared.
    let lease = take_lease(&environment.name, service, &request.actor).await?;
    let lost = lease.as_ref().map(LeaseHold::lost);
    let result = drive(
        environment,
        service,
        request,
        deployment,
        lost,
        history,
        watcher,
    )
    .await;
    if let Some(lease) = lease {
        lease.release().await;
    }
    result
}

/// A Kubernetes service's Lease (`helmsman-<service>` in its namespace);
/// other backends have none.
async fn take_lease(
    env: &str,
    service: &Service,
    actor: &Actor,
) -> Result<Option<LeaseHold>, PipelineError> {
    let Backend::Kubernetes(backend) = &service.backend else {
        return Ok(None);
    };
    let user = match actor {
        Actor::Operator { user, .. } => user.as_str(),
        Actor::Engine => "engine",
    };
    let target = || Target {
        env: env.to_string(),
        service: service.name.clone(),
    };
    lease::take(backend, &service.name, &lease::identity(user))
        .await
        .map(Some)
        .map_err(|e| match e {
            LeaseError::Held(held) => PipelineError::LeaseHeld {
                target: target(),
                held: Box::new(held),
            },
            LeaseError::Unavailable { source, .. } => PipelineError::LeaseUnavailable {
                target: target(),
                source,
            },
        })
}

/// Runs one release whose holds are taken, to its end.
async fn drive(
    environment: &Environment,
    service: &Service,
    request: &ReleaseRequest,
    deployment: &str,
    lease_lost: Option<LeaseLost>,
    history: &mut History,
    watcher: &mut dyn Watcher,
) -> Result<ReleaseResult, PipelineError> {
    let spec = specify(&environment.name, service, request).await?;
    let around = Around::new(
        spec.target.clone(),
        service,
        &request.version,
        &spec.stable_version,
        deployment,
    );
    around.check(environment, request, history)?;
    around.before(history, watcher).await?;
    let started = spawn(spec);
    let spec = &started.spec;
    // The engine runs already: a journal that cannot take the start must
    // not leave it undriven. Said in the log; the outcome is written at the end.
    if let Err(e) = history.begin(&ReleaseStart {
        id: spec.release_id.clone(),
        deployment: Some(deployment.to_string()),
        target: spec.target.clone(),
        strategy: spec.service.strategy.name().to_string(),
        stable_version: spec.stable_version.clone(),
        new_version: spec.new_version.clone(),
        started_by: request.actor.clone(),
        started_at: started.started_at,
    }) {
        tracing::warn!("{e}");
    }
    let plan = plan::build(
        &environment.name,
        &environment.requires,
        service,
        &request.version,
        request.strategy,
        plan::Stable::read(spec.stable_version.clone()),
        history,
    );
    let steering = Steering {
        actor: &request.actor,
        why: None,
        lease_lost,
    };
    let result = steer_to_end(started, plan, steering, Some(&around), history, watcher).await?;
    around.after(result, history, watcher).await;
    Ok(result)
}

/// Says why once a release's Lease is lost.
type LeaseLost = tokio::sync::watch::Receiver<Option<String>>;

/// Who a release is steered for, and what else can stop it.
struct Steering<'a> {
    /// Who a rollback on a stop request is credited to.
    actor: &'a Actor,
    /// Leads the recorded reason, when given.
    why: Option<&'a str>,
    /// The release's Lease: once it is lost, the release is paused (another
    /// bastion may be driving the service) and a human decides.
    lease_lost: Option<LeaseLost>,
}

/// Runs a release whose engine was spawned (and whose start is in the
/// journal) to its end: every event journaled and passed to the watcher,
/// every command from a front end journaled with its answer, a stop
/// request answered by rolling back, a lost Lease by pausing, and the
/// outcome recorded.
async fn steer_to_end(
    started: StartedRelease,
    plan: plan::Plan,
    steering: Steering<'_>,
    around: Option<&Around<'_>>,
    history: &mut History,
    watcher: &mut dyn Watcher,
) -> Result<ReleaseResult, PipelineError> {
    let Steering {
        actor,
        why,
        lease_lost,
    } = steering;
    let StartedRelease {
        spec,
        mut handle,
        started_at,
    } = started;
    let target = spec.target.clone();
    // Front ends command the release through the pipeline: each command
    // and the engine's answer are journaled before the answer goes back.
    let (commands, mut sent) = tokio::sync::mpsc::channel(COMMAND_QUEUE);
    let (answered_tx, mut answered) = tokio::sync::mpsc::unbounded_channel();
    watcher.started(Attached {
        target: target.clone(),
        commands,
        snapshots: handle.snapshots.clone(),
        plan: Arc::new(plan),
    });
    let mut interruption = std::pin::pin!(crate::interrupt::wait());
    let mut interrupted = false;
    let mut lease_lost = std::pin::pin!(lost(lease_lost));
    let mut paused_for_lease = false;
    let mut events_open = true;
    let mut last_reason = String::new();
    let mut stable_noted = false;
    let result = loop {
        tokio::select! {
            biased;
            Some((command, reply)) = sent.recv() => {
                forward(&handle.commands, command, reply, &answered_tx);
            }
            Some((command, answer, reply)) = answered.recv() => {
                journal_command(history, &spec.release_id, &command, &answer);
                let _ = reply.send(answer);
            }
            event = handle.events.recv(), if events_open => match event {
                Some(event) => {
                    last_reason = event.reason.clone();
                    take_event(&event, &spec.release_id, around, history, watcher);
                }
                // The task ended: only its result is left to collect.
                None => events_open = false,
            },
            finished = &mut handle.task => {
                // Events published just before the task ended are still queued.
                while let Ok(event) = handle.events.try_recv() {
                    last_reason = event.reason.clone();
                    take_event(&event, &spec.release_id, around, history, watcher);
                }
                break finished.map_err(|source| PipelineError::TaskFailed {
                    target: target.clone(),
                    source,
                })?;
            }
            changed = handle.snapshots.changed(), if !stable_noted => {
                // The stable version as the release first read it: its
                // rollback path, which delivery insights judge.
                let closed = changed.is_err();
                let first = (!closed)
                    .then(|| stable_when_read(&handle.snapshots.borrow_and_update()))
                    .flatten();
                stable_noted = closed || first.is_some();
                if let Some(stable) = first
                    && let Err(e) = history.stable_at_start(&spec.release_id, &stable)
                {
                    tracing::warn!("{e}");
                }
            }
            why = &mut lease_lost, if !paused_for_lease => {
                paused_for_lease = true;
                tracing::warn!("{target}: pausing: {why}");
                let event = lease_lost_event(&handle.snapshots.borrow(), &why);
                journal(history, &spec.release_id, &event);
                watcher.event(&event);
                let (reply, _answer) = oneshot::channel();
                let command = Command {
                    target: target.clone(),
                    kind: CommandKind::Pause,
                    actor: Actor::Engine,
                };
                let _ = handle.commands.send((command, reply)).await;
            }
            reason = &mut interruption, if !interrupted => {
                interrupted = true;
                tracing::warn!("{target}: rolling back: stopped by {reason}");
                let (reply, _answer) = oneshot::channel();
                let command = Command {
                    target: target.clone(),
                    kind: CommandKind::Rollback,
                    actor: actor.clone(),
                };
                let _ = handle.commands.send((command, reply)).await;
            }
        }
    };
    // Answers that came in as the release ended.
    while let Ok((command, answer, reply)) = answered.try_recv() {
        journal_command(history, &spec.release_id, &command, &answer);
        let _ = reply.send(answer);
    }
    let reason = match why {
        Some(why) => format!("{why}; {last_reason}"),
        None => last_reason,
    };
    // What the report reads of how it ended: the figures and verdicts of
    // its last state, and the bands they are read against.
    let last = handle.snapshots.borrow().clone();
    let resources = resource_use(&spec).await;
    if let Err(e) = history.last_state(&spec.release_id, &last, &spec.service.bands, &resources) {
        tracing::warn!("{e}");
    }
    history.record(ReleaseRecord {
        id: spec.release_id,
        target,
        strategy: spec.service.strategy.name().to_string(),
        stable_version: spec.stable_version,
        new_version: spec.new_version,
        result,
        reason,
        started_by: spec.started_by,
        started_at,
        finished_at: Utc::now(),
    })?;
    Ok(result)
}

/// One event of release `release_id`: journaled (with the job run it
/// carries, if any), then passed to the watcher.
fn take_event(
    event: &Event,
    release_id: &str,
    around: Option<&Around<'_>>,
    history: &mut History,
    watcher: &mut dyn Watcher,
) {
    journal(history, release_id, event);
    if let (Some(around), Some(run)) = (around, &event.job) {
        around.engine_ran(release_id, run, history);
    }
    watcher.event(event);
}

/// The stable version's instances, once the release has read the backend.
fn stable_when_read(snapshot: &crate::engine::Snapshot) -> Option<crate::engine::InstanceCounts> {
    let read = snapshot.actual_weight.is_some() || snapshot.stable_instances.total > 0;
    read.then_some(snapshot.stable_instances)
}

/// What each version used of its CPU and memory as the release ended,
/// where the service's metrics source can say (Prometheus with `cpu` and
/// `memory` templates); nothing otherwise.
async fn resource_use(spec: &ReleaseSpec) -> crate::metrics::ResourceUse {
    match &spec.service.metrics {
        MetricsSource::Prometheus(source) => {
            let versions = prometheus::Versions {
                env: &spec.target.env,
                service: &spec.target.service,
                new: &spec.new_version,
                stable: &spec.stable_version,
            };
            prometheus::resource_use(source, &versions).await
        }
        MetricsSource::Local => crate::metrics::ResourceUse::default(),
    }
}

/// Resolves with why, once the Lease is lost; never without a Lease.
async fn lost(lease: Option<LeaseLost>) -> String {
    if let Some(mut lost) = lease
        && let Ok(why) = lost.wait_for(Option::is_some).await
    {
        return why.clone().unwrap_or_default();
    }
    std::future::pending().await
}

/// Said in the journal and to the watcher when a lost Lease pauses a release.
fn lease_lost_event(snapshot: &crate::engine::Snapshot, why: &str) -> Event {
    Event {
        at: Utc::now(),
        env: snapshot.target.env.clone(),
        service: snapshot.target.service.clone(),
        from: snapshot.phase,
        to: snapshot.phase,
        step: snapshot.step,
        steps: snapshot.steps.len(),
        weight: snapshot.desired_weight,
        reason: format!(
            "{why}: pausing — another bastion may be driving this service; resume or roll back \
             once you know who drives it"
        ),
        actor: Actor::Engine,
        verdict: None,
        job: None,
    }
}

/// Commands waiting for the pipeline to pass them on: front ends send one
/// at a time, so a short queue is plenty.
const COMMAND_QUEUE: usize = 16;

/// A command's way to the engine and its answer's way back to the loop,
/// which journals it before replying. Passed on in a task of its own so a
/// busy engine never holds up the loop; a release that has ended drops the
/// reply, which the front end reads as "already finished".
fn forward(
    engine: &CommandSender,
    command: Command,
    reply: oneshot::Sender<crate::engine::CommandReply>,
    answered: &tokio::sync::mpsc::UnboundedSender<Answered>,
) {
    let (engine, answered) = (engine.clone(), answered.clone());
    tokio::spawn(async move {
        let (tx, rx) = oneshot::channel();
        if engine.send((command.clone(), tx)).await.is_err() {
            return;
        }
        if let Ok(answer) = rx.await {
            let _ = answered.send((command, answer, reply));
        }
    });
}

/// A command, the engine's answer, and where the front end waits for it.
type Answered = (
    Command,
    crate::engine::CommandReply,
    oneshot::Sender<crate::engine::CommandReply>,
);

fn journal_command(
    history: &mut History,
    release_id: &str,
    command: &Command,
    answer: &crate::engine::CommandReply,
) {
    if let Err(e) = history.command(release_id, command, answer, Utc::now()) {
        tracing::warn!("{e}");
    }
}

/// Writes an event to the journal. A journal that fails a write is said
/// in the log and the release goes on: its outcome is written at the end,
/// and stopping a release half-way over a lost line would be worse.
fn journal(history: &mut History, release_id: &str, event: &Event) {
    if let Err(e) = history.event(release_id, event) {
        tracing::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const ROLLING_UPDATE: &str = r#"[[environments]]
name = "prod"
[[environments.services]]
name = "checkout"
strategy = "rolling"
[environments.services.backend]
type = "kubernetes"
namespace = "shop"
traffic = "rolling-update"
deployment = "checkout"
image = "registry.example.com/checkout:{version}"
"#;

    fn request(strategy: Option<StrategyKind>) -> ReleaseRequest {
        ReleaseRequest {
            service: "checkout".into(),
            version: "v2".into(),
            envs: vec!["prod".into()],
            strategy,
            actor: Actor::Operator {
                user: "alice".into(),
                origin: None,
            },
            force: false,
        }
    }

    #[test]
    fn a_kubernetes_release_runs_the_strategy_of_its_traffic_kind() {
        let config = crate::config::parse_str(
            &[ROLLING_UPDATE, crate::config::PROMETHEUS_METRICS_TOML].concat(),
            Path::new("h.toml"),
            &|_| None,
        )
        .unwrap();
        assert!(check_request(&config, &request(None)).is_ok());
        let e = check_request(&config, &request(Some(StrategyKind::Canary))).unwrap_err();
        assert!(e.is_usage(), "{e}");
        assert!(
            e.to_string()
                .contains("traffic `rolling-update` cannot run canary releases"),
            "{e}"
        );
    }
}
