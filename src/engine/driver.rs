//! The imperative shell around the pure [`Release`]: one tokio task per
//! release that feeds it commands, timer ticks and provider results, runs
//! its effects through the provider traits, and publishes what happens.
//!
//! ```text
//!  commands (mpsc) ──►┐                       ┌──► watch<Snapshot>
//!  provider results ─►│  Release::handle  ────┤
//!  ticks (next_wake) ─►┘                       └──► mpsc<Event> (unbounded)
//!        ▲                     │ effects
//!        │   reads: spawned tasks (never block a command)
//!        └── writes: one writer task, in order
//! ```
//!
//! Reads run in spawned tasks with a timeout and come back through a
//! channel, so a hanging metrics provider never delays an operator's
//! rollback. Traffic writes go through a single writer task so they reach
//! the backend in the order the machine emitted them; when a rollback
//! starts, the write still in flight (a prepare or a batch waiting for a
//! rollout) is abandoned, so the rollback never queues behind it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::engine::clock::Clock;
use crate::engine::machine::{Effect, Input, Release, ReleaseSpec, TrafficWrite, WriteError};
use crate::engine::plan::Job;
use crate::engine::types::{Command, CommandReply, Event, Phase, ReleaseResult, Snapshot};
use crate::metrics::Reading;
use crate::observed::{CheckResult, CheckStatus, TrafficState};
use crate::providers::{Check, Metrics, ProviderError, Traffic};

/// Longest a blue-green smoke check may take before it counts as failed.
const SMOKE_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Reads time out after the analysis interval, within these bounds.
const MIN_READ_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The backends one release talks to.
#[derive(Clone)]
pub struct Providers {
    pub traffic: Arc<dyn Traffic>,
    pub metrics: Arc<dyn Metrics>,
    /// Run against the blue-green preview, with no user traffic.
    pub smoke_checks: Vec<Arc<dyn Check>>,
}

/// What a front end holds on a running release.
pub struct ReleaseHandle {
    /// Send a command with a reply channel: the answer is Accepted or
    /// Refused with a reason, never silence.
    pub commands: mpsc::Sender<(Command, oneshot::Sender<CommandReply>)>,
    pub snapshots: watch::Receiver<Snapshot>,
    /// Every event, in order, to one reader (the pipeline, which journals
    /// them): unbounded, so a reader that falls behind (a journal write
    /// waiting on a disk or a lock) loses none of the report's timeline.
    /// A release emits a few per step, so what waits stays small.
    pub events: mpsc::UnboundedReceiver<Arc<Event>>,
    /// Ends when the release finishes, with how it ended.
    pub task: JoinHandle<ReleaseResult>,
}

impl ReleaseHandle {
    /// Sends a command and waits for the engine's answer. `None` if the
    /// release has already finished (its task no longer takes commands).
    pub async fn send(&self, command: Command) -> Option<CommandReply> {
        send_command(&self.commands, command).await
    }
}

/// Sends a command on a release's command channel and waits for the reply.
pub async fn send_command(
    commands: &mpsc::Sender<(Command, oneshot::Sender<CommandReply>)>,
    command: Command,
) -> Option<CommandReply> {
    let (tx, rx) = oneshot::channel();
    commands.send((command, tx)).await.ok()?;
    rx.await.ok()
}

/// Starts driving a release on the current tokio runtime.
pub fn spawn_release(
    spec: ReleaseSpec,
    providers: Providers,
    clock: Arc<dyn Clock>,
) -> ReleaseHandle {
    let release = Release::new(spec, clock.now());
    spawn_machine(release, providers, clock)
}

/// Starts driving `release` as it stands (one resumed at a step, say).
pub fn spawn_machine(
    release: Release,
    providers: Providers,
    clock: Arc<dyn Clock>,
) -> ReleaseHandle {
    let (commands_tx, commands_rx) = mpsc::channel(64);
    let (snapshots_tx, snapshots_rx) = watch::channel(release.snapshot().clone());
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let driver = Driver {
        release,
        providers,
        clock,
        snapshots: snapshots_tx,
        events: events_tx,
    };
    let task = tokio::spawn(driver.run(commands_rx));
    ReleaseHandle {
        commands: commands_tx,
        snapshots: snapshots_rx,
        events: events_rx,
        task,
    }
}

/// A provider result on its way back to the machine. Readings are boxed:
/// a channel allocates its slots 32 at a time, each as large as the
/// largest result, for each of the hundreds of releases a host drives.
enum Feedback {
    Metrics(Box<Result<Reading, ProviderError>>),
    Traffic(Box<Result<TrafficState, ProviderError>>),
    Applied(Result<(), WriteError>),
    SmokeChecks(Vec<CheckResult>),
    JobDone {
        step: usize,
        runs: Vec<crate::jobs::JobRun>,
    },
}

/// What a provider says may echo a secret (a server repeating the
/// `Authorization` header in its error body): it is masked here, before it
/// reaches an event, the cockpit, JSON output or the history.
impl From<Feedback> for Input {
    fn from(feedback: Feedback) -> Input {
        match feedback {
            Feedback::Metrics(r) => Input::Metrics((*r).map_err(masked)),
            Feedback::Traffic(r) => Input::Traffic((*r).map_err(masked)),
            Feedback::Applied(r) => Input::Applied(r.map_err(|e| match e {
                WriteError::Provider(e) => WriteError::Provider(masked(e)),
                abandoned @ WriteError::Abandoned { .. } => abandoned,
            })),
            Feedback::SmokeChecks(r) => Input::SmokeChecks(
                r.into_iter()
                    .map(|c| CheckResult {
                        detail: mask(c.detail),
                        ..c
                    })
                    .collect(),
            ),
            Feedback::JobDone { step, runs } => Input::JobDone {
                step,
                runs: runs
                    .into_iter()
                    .map(|run| crate::jobs::JobRun {
                        summary: mask(run.summary),
                        output: mask(run.output),
                        ..run
                    })
                    .collect(),
            },
        }
    }
}

fn mask(text: String) -> String {
    crate::redact::redact(&text).into_owned()
}

/// `error` with its words masked, its variant (what the machine judges) kept.
fn masked(mut error: ProviderError) -> ProviderError {
    use ProviderError::*;
    let mask_in_place = |text: &mut String| *text = mask(std::mem::take(text));
    match &mut error {
        Unreachable { provider, detail }
        | Rejected { provider, detail }
        | Invalid { provider, detail }
        | NoData { provider, detail }
        | Failed { provider, detail }
        | Unsupported {
            provider,
            what: detail,
        } => {
            mask_in_place(provider);
            mask_in_place(detail);
        }
        TimedOut { provider, .. } => mask_in_place(provider),
    }
    error
}

struct Driver {
    release: Release,
    providers: Providers,
    clock: Arc<dyn Clock>,
    snapshots: watch::Sender<Snapshot>,
    events: mpsc::UnboundedSender<Arc<Event>>,
}

/// A traffic write on its way to the writer, with the number of rollbacks
/// started before it was emitted: a write from before the latest rollback
/// is abandoned.
struct Queued {
    write: TrafficWrite,
    rollbacks: u64,
}

/// The spawned pieces of one running release.
struct Spawned {
    feedback: mpsc::UnboundedSender<Feedback>,
    writes: mpsc::UnboundedSender<Queued>,
    /// Rollbacks started so far, watched by the writer.
    rollbacks: watch::Sender<u64>,
    /// Whether the release was rolling back after the last input.
    rolling_back: bool,
    reads: JoinSet<()>,
    read_timeout: Duration,
}

impl Spawned {
    /// Runs a reading in its own task, each read bounded by the read
    /// timeout, and feeds each result (or the timeout, naming the
    /// provider) back as soon as it is in. A periodic reading asks for
    /// the traffic and the metrics together, so both go in one task; read
    /// through one call (a local data plane), they come back together.
    fn spawn_reading(
        &mut self,
        traffic: Option<Arc<dyn Traffic>>,
        metrics: Option<Arc<dyn Metrics>>,
    ) {
        let feedback = self.feedback.clone();
        let limit = self.read_timeout;
        self.reads.spawn(async move {
            let traffic = async {
                if let Some(p) = traffic {
                    let result = bounded(limit, || p.describe(), p.state()).await;
                    let _ = feedback.send(Feedback::Traffic(Box::new(result)));
                }
            };
            let metrics = async {
                if let Some(p) = metrics {
                    let result = bounded(limit, || p.describe(), p.read()).await;
                    let _ = feedback.send(Feedback::Metrics(Box::new(result)));
                }
            };
            tokio::join!(traffic, metrics);
        });
    }
}

/// `read`, or a timeout naming the provider. The provider is named only
/// then: a host reads hundreds of them a second.
async fn bounded<T>(
    limit: Duration,
    provider: impl FnOnce() -> String,
    read: impl std::future::Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    match tokio::time::timeout(limit, read).await {
        Ok(r) => r,
        Err(_) => Err(ProviderError::TimedOut {
            provider: provider(),
            after: limit,
        }),
    }
}

impl Driver {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<(Command, oneshot::Sender<CommandReply>)>,
    ) -> ReleaseResult {
        let (feedback_tx, mut feedback_rx) = mpsc::unbounded_channel();
        let (writes_tx, writes_rx) = mpsc::unbounded_channel();
        let (rollbacks_tx, rollbacks_rx) = watch::channel(0);
        let writer = tokio::spawn(run_writer(
            self.providers.traffic.clone(),
            self.release.spec().new_version.clone(),
            writes_rx,
            rollbacks_rx,
            feedback_tx.clone(),
        ));
        let interval = self.release.spec().service.analysis.interval;
        let mut shell = Spawned {
            feedback: feedback_tx,
            writes: writes_tx,
            rollbacks: rollbacks_tx,
            rolling_back: false,
            reads: JoinSet::new(),
            read_timeout: interval.clamp(MIN_READ_TIMEOUT, MAX_READ_TIMEOUT),
        };

        let now = self.clock.now();
        let effects = self.release.handle(Input::Start, now);
        self.execute(effects, &mut shell);
        self.publish();

        let mut commands_open = true;
        let result = loop {
            if let Some(result) = self.release.result() {
                break result;
            }
            let wake = self
                .release
                .next_wake()
                .map(|at| (at - self.clock.now()).to_std().unwrap_or(Duration::ZERO));
            let sleep = async move {
                match wake {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            // Commands first: an operator's rollback never waits behind a
            // backlog of provider results.
            tokio::select! {
                biased;
                command = commands.recv(), if commands_open => match command {
                    Some((command, reply)) => {
                        let (answer, effects) = self.release.command(command, self.clock.now());
                        // Effects and snapshot before the reply: when the
                        // caller hears "accepted", the rollback is already
                        // on its way and every watcher sees it.
                        self.execute(effects, &mut shell);
                        self.publish();
                        let _ = reply.send(answer);
                    }
                    // Every front end detached: the release carries on
                    // unattended, as it must.
                    None => commands_open = false,
                },
                feedback = feedback_rx.recv() => {
                    if let Some(feedback) = feedback {
                        let effects = self.release.handle(feedback.into(), self.clock.now());
                        self.execute(effects, &mut shell);
                    }
                }
                () = sleep => {
                    let effects = self.release.handle(Input::Tick, self.clock.now());
                    self.execute(effects, &mut shell);
                }
            }
            // Results that arrived meanwhile (a reading's traffic and
            // counters come back together) are taken in before the
            // snapshot goes out: one copy for every watcher instead of one
            // per result, which a host driving hundreds of releases feels.
            while let Ok(feedback) = feedback_rx.try_recv() {
                let effects = self.release.handle(feedback.into(), self.clock.now());
                self.execute(effects, &mut shell);
            }
            self.publish();
            while shell.reads.try_join_next().is_some() {}
        };

        // Let the last writes (a discard after an abort) reach the backend.
        let Spawned { writes, reads, .. } = shell;
        drop(writes);
        drop(reads);
        let write_timeout = self.providers.traffic.write_timeout();
        let _ = tokio::time::timeout(write_timeout * 2, writer).await;
        self.publish();
        tracing::info!(target = %self.release.spec().target, ?result, "release finished");
        result
    }

    fn execute(&mut self, effects: Vec<Effect>, shell: &mut Spawned) {
        let rolling_back = self.release.snapshot().phase == Phase::RollingBack;
        if rolling_back && !shell.rolling_back {
            // Before the rollback's own writes go out.
            shell.rollbacks.send_modify(|n| *n += 1);
        }
        shell.rolling_back = rolling_back;
        let (mut read_traffic, mut read_metrics) = (None, None);
        for effect in effects {
            match effect {
                Effect::Emit(event) => {
                    tracing::info!(
                        target = %self.release.spec().target,
                        from = %event.from,
                        to = %event.to,
                        reason = %event.reason,
                        "release event"
                    );
                    // No reader is not an error: a handle may not listen.
                    let _ = self.events.send(Arc::new(event));
                }
                // Traffic writes go to the writer, in order; it lives until
                // the driver drops this sender.
                Effect::Write(write) => {
                    let rollbacks = *shell.rollbacks.borrow();
                    let _ = shell.writes.send(Queued { write, rollbacks });
                }
                Effect::ReadTraffic => read_traffic = Some(self.providers.traffic.clone()),
                Effect::ReadMetrics => read_metrics = Some(self.providers.metrics.clone()),
                Effect::RunSmokeChecks => {
                    let checks = self.providers.smoke_checks.clone();
                    let feedback = shell.feedback.clone();
                    let limit = SMOKE_CHECK_TIMEOUT;
                    shell.reads.spawn(async move {
                        let results = futures::future::join_all(
                            checks.iter().map(|check| run_check(check.clone(), limit)),
                        )
                        .await;
                        let _ = feedback.send(Feedback::SmokeChecks(results));
                    });
                }
                // A job outlives no driver: the task (and with it the
                // job's processes) ends when the release does.
                Effect::RunJob { step, job } => {
                    let spec = self.release.spec().clone();
                    let feedback = shell.feedback.clone();
                    shell.reads.spawn(async move {
                        let runs = run_job(&spec, job).await;
                        let _ = feedback.send(Feedback::JobDone { step, runs });
                    });
                }
            }
        }
        if read_traffic.is_some() || read_metrics.is_some() {
            shell.spawn_reading(read_traffic, read_metrics);
        }
    }

    /// Sends the snapshot to its watchers, unless it only says that time
    /// passed (a tick that asked for a reading): a host driving hundreds
    /// of releases copies one for every watcher on every change.
    fn publish(&self) {
        let snapshot = self.release.snapshot();
        self.snapshots.send_if_modified(|published| {
            if snapshot.only_later_than(published) {
                return false;
            }
            *published = snapshot.clone();
            true
        });
    }
}

async fn run_check(check: Arc<dyn Check>, limit: Duration) -> CheckResult {
    match tokio::time::timeout(limit, check.run()).await {
        Ok(result) => result,
        Err(_) => CheckResult {
            name: check.name(),
            status: CheckStatus::Fail,
            detail: format!(
                "no answer within {}",
                crate::config::duration::format(limit)
            ),
            took: limit,
        },
    }
}

/// Executes traffic writes one at a time, in order, and reports each
/// outcome. It keeps going after the driver has stopped listening, so the
/// writes already queued (a rollback, a discard) still reach the backend.
/// A write emitted before the latest rollback started is dropped
/// mid-flight (its outcome reported as abandoned, which the machine
/// ignores as superseded): each backend change is one API call, so
/// dropping the wait between two of them leaves nothing half-written.
async fn run_writer(
    traffic: Arc<dyn Traffic>,
    new_version: String,
    mut writes: mpsc::UnboundedReceiver<Queued>,
    mut rollbacks: watch::Receiver<u64>,
    feedback: mpsc::UnboundedSender<Feedback>,
) {
    while let Some(Queued {
        write,
        rollbacks: before,
    }) = writes.recv().await
    {
        let call = apply(&write, traffic.as_ref(), &new_version);
        let limit = traffic.write_timeout();
        let overtaken = rollbacks.wait_for(|started| *started > before);
        let result = tokio::select! {
            outcome = tokio::time::timeout(limit, call) => match outcome {
                Ok(r) => r.map_err(WriteError::from),
                Err(_) => Err(ProviderError::TimedOut {
                    provider: traffic.describe(),
                    after: limit,
                }
                .into()),
            },
            Ok(_) = overtaken => Err(WriteError::Abandoned { what: write.describe() }),
        };
        let _ = feedback.send(Feedback::Applied(result));
    }
}

/// One write, as the backend call that makes it. `'static` because the
/// capability moves (`set_weight`, …) live on `impl dyn Traffic`, which
/// means `dyn Traffic + 'static`.
async fn apply(
    write: &TrafficWrite,
    traffic: &(dyn Traffic + 'static),
    new_version: &str,
) -> Result<(), ProviderError> {
    match write {
        TrafficWrite::Prepare => traffic.prepare(new_version).await,
        TrafficWrite::SetWeight(w) => traffic.set_weight(*w).await,
        TrafficWrite::Switch { to_new } => traffic.switch(*to_new).await,
        TrafficWrite::SetInstances { stable, new } => traffic.set_instances(*stable, *new).await,
        TrafficWrite::SetFlag(p) => traffic.set_flag(*p).await,
        TrafficWrite::Finish => traffic.finish().await,
        TrafficWrite::Discard => traffic.discard().await,
    }
}

/// Runs the job step `job` of the release `spec`.
async fn run_job(spec: &ReleaseSpec, job: Job) -> Vec<crate::jobs::JobRun> {
    use crate::config::HookPoint;
    let service = &spec.service;
    let context = crate::jobs::Context {
        env: spec.target.env.clone(),
        service: spec.target.service.clone(),
        version: spec.new_version.clone(),
        previous_version: spec.stable_version.clone(),
        preview_urls: match job {
            Job::Hooks(HookPoint::Preview) => crate::jobs::preview_urls(service, &spec.new_version),
            _ => Vec::new(),
        },
    };
    match job {
        Job::Migrate => {
            let Some(migrations) = &service.migrations else {
                return Vec::new();
            };
            crate::jobs::migrations::run(
                migrations,
                crate::config::migrations::Phase::Migrate,
                &context,
                &service.workdir,
            )
            .await
            .into_iter()
            .collect()
        }
        Job::Hooks(point) => {
            crate::jobs::hooks::run(&service.hooks, point, &context, &service.workdir).await
        }
    }
}
