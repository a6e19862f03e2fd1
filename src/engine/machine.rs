//! The release state machine: pure, sans-IO, time injected.
//!
//! It takes [`Input`]s (a command, a timer tick, a provider result) and
//! returns [`Effect`]s (set a weight, switch, replace instances, read the
//! traffic state or the metrics, emit an event). The driver executes the
//! effects and feeds their results back, so every transition here is
//! unit-testable with plain values and a fake clock.
//!
//! Protocol with the driver:
//! - Traffic writes (`Effect::Write`, one [`TrafficWrite`] each) are
//!   executed in the order emitted, and each one's outcome comes back as
//!   exactly one `Input::Applied`, in the same order.
//! - The machine has at most one `ReadTraffic` and one `ReadMetrics`
//!   outstanding; each comes back as one `Input::Traffic` / `Input::Metrics`.
//! - `Input::Tick` is fed at [`Release::next_wake`] (or later).
//!
//! This file holds the types and the public surface; the behaviour is split
//! by concern: `inputs` (what each input does), `steps` (the step walker),
//! `judging` (trigger verdicts and analysis gates), `rollback`, `commands`
//! (refusals and accepted commands) and `io` (reads and writes).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::analysis;
use crate::config;
use crate::engine::plan::{self, Fleet, PlanStep};
use crate::engine::types::{
    Actor, Command, CommandKind, CommandReply, Event, InstanceCounts, Outcome, Phase,
    ReleaseResult, Snapshot, StepTimer, Target, Verdict,
};
use crate::metrics::{Reading, Sample};
use crate::observed::ProviderError;
use crate::observed::{CheckResult, CheckStatus, TrafficState};

/// A failed write or read is retried after this long (or the analysis
/// interval, if shorter).
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// A prepare that keeps failing (an unknown version, a backend that refuses)
/// aborts the release instead of retrying forever.
const PREPARE_ATTEMPTS: u32 = 3;

/// What to release: one service in one environment, stable → new.
#[derive(Debug, Clone)]
pub struct ReleaseSpec {
    pub target: Target,
    pub release_id: String,
    pub stable_version: String,
    pub new_version: String,
    /// Strategy, analysis, triggers, bands and health of the service.
    pub service: config::Service,
    pub started_by: Actor,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Start,
    Command(Command),
    /// A timer: fed at `next_wake`.
    Tick,
    /// A read's outcome, typed as the provider (or the driver's timeout)
    /// reported it: the machine judges from the variant, never from words.
    Metrics(Result<Reading, ProviderError>),
    Traffic(Result<TrafficState, ProviderError>),
    /// The outcome of the oldest traffic write not yet reported.
    Applied(Result<(), WriteError>),
    SmokeChecks(Vec<CheckResult>),
    /// The runs of the job step `step` asked for, in order.
    JobDone {
        step: usize,
        runs: Vec<crate::jobs::JobRun>,
    },
}

/// Why a traffic write failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The backend failed it, or did not answer in time.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Dropped mid-flight because a rollback started after it was emitted
    /// (the machine ignores it as superseded).
    #[error("{what} abandoned for the rollback")]
    Abandoned { what: String },
}

impl WriteError {
    /// The backend says the change cannot complete (a Deployment past its
    /// progress deadline): retrying will not help, so the release rolls
    /// back (or, before any traffic moved, aborts). Everything else
    /// (timeouts, refusals, outages) may pass if tried again.
    pub fn is_hopeless(&self) -> bool {
        matches!(self, WriteError::Provider(ProviderError::Failed { .. }))
    }
}

// `Emit` carries a whole event; effects live for one `handle` call in a
// short vector, so boxing it would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Run through `Traffic` in order, answered by one `Input::Applied`.
    Write(TrafficWrite),
    ReadTraffic,
    ReadMetrics,
    RunSmokeChecks,
    /// Run `job` for plan step `step`, answered by one `Input::JobDone`.
    RunJob {
        step: usize,
        job: plan::Job,
    },
    Emit(Event),
}

/// A stopwatch that only runs while the release may move: operator pauses
/// and provider outages stop it, so a timed pause never "ends" during them.
#[derive(Debug, Clone, Default)]
struct Stopwatch {
    banked: Duration,
    running_since: Option<DateTime<Utc>>,
}

impl Stopwatch {
    fn elapsed(&self, now: DateTime<Utc>) -> Duration {
        self.banked
            + self
                .running_since
                .map(|since| (now - since).to_std().unwrap_or_default())
                .unwrap_or_default()
    }

    fn set_running(&mut self, running: bool, now: DateTime<Utc>) {
        match (running, self.running_since) {
            (true, None) => self.running_since = Some(now),
            (false, Some(_)) => {
                self.banked = self.elapsed(now);
                self.running_since = None;
            }
            _ => {}
        }
    }

    /// When `length` will have elapsed, if running.
    fn deadline(&self, length: Duration) -> Option<DateTime<Utc>> {
        let since = self.running_since?;
        let left = length.saturating_sub(self.banked);
        Some(later(since, left))
    }
}

/// `at` plus `d`, saturating at the end of time instead of overflowing: a
/// pause longer than the clock's range just never ends by itself.
pub(super) fn later(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The current traffic write, if the step or rollback stage has one.
#[derive(Debug, Clone, PartialEq)]
enum WriteState {
    Idle,
    InFlight(u64),
    Failed(String),
    Done,
}

/// Why a traffic read was asked for: only a read issued *after* a write
/// may confirm that write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ReadPurpose {
    Periodic,
    AfterPrepare,
    VerifyRollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RollbackStage {
    Revert,
    Discard,
    Verify,
}

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Running,
    RollingBack {
        stage: RollbackStage,
        reason: String,
        actor: Actor,
        // Boxed: a verdict with its statistics dwarfs the other variants.
        verdict: Option<Box<Verdict>>,
    },
    Done(ReleaseResult),
}

/// Observation of the new version: the reading the judged window is
/// measured from, and what its triggers found.
#[derive(Debug, Clone)]
struct Observation {
    base: Option<Reading>,
    /// Blue-green: once all traffic is switched, the old version serves
    /// nothing, so its baseline is what it served during the preview,
    /// measured up to the switch.
    frozen_baseline: Option<crate::metrics::Sample>,
    /// The trigger verdicts on the latest reading; `None` until one was
    /// judged. A step that dwells ends only when every one of them passes.
    verdicts: Option<Arc<[Verdict]>>,
    /// What the triggers remember between readings.
    watch: analysis::Watch,
}

/// Per-step progress, reset when a step is entered.
#[derive(Debug, Clone, Default)]
struct StepProgress {
    entered: bool,
    stopwatch: Stopwatch,
    advance_requested: bool,
    /// Analysis gate: the reading the gate's window starts from, whether it
    /// passed, and the hold reason last reported (events only on change).
    gate_base: Option<Reading>,
    gate_passed: Option<Verdict>,
    gate_hold: Option<String>,
    /// The trigger verdict holding the step at its end, last reported
    /// (events only on change).
    evidence_hold: Option<String>,
    /// Blue-green preview: smoke checks came back and all passed.
    smoke_ok: bool,
    /// Prepare: the traffic state was read after the prepare was applied.
    prepared_state_known: bool,
    prepare_attempts: u32,
    /// A job step's run.
    job: jobs::JobState,
    /// A confirm gate's last failed answer, said once.
    job_said: Option<String>,
}

/// The last look at the metrics before the new version becomes stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FinalCheck {
    NotYet,
    /// A fresh reading was asked for.
    Waiting,
    /// It came back and no trigger failed on it.
    Passed,
}

#[derive(Clone)]
pub struct Release {
    spec: ReleaseSpec,
    plan: Vec<PlanStep>,
    fleet: Option<Fleet>,
    step: usize,
    started: bool,
    mode: Mode,
    progress: StepProgress,
    write: WriteState,
    /// The last traffic write, re-emitted on retry.
    last_write: Option<TrafficWrite>,
    /// Sequence numbers of writes whose `Applied` has not come back yet.
    writes_in_flight: VecDeque<u64>,
    next_write_seq: u64,
    traffic_read: Option<ReadPurpose>,
    traffic_read_wanted: Option<ReadPurpose>,
    traffic_read_retry: Option<ReadPurpose>,
    metrics_read_in_flight: bool,
    /// Readings requested before the current epoch are stale: the epoch
    /// moves when the new version is staged (its counters may hold an
    /// earlier release's requests) and before finishing (success is judged
    /// on a reading taken after the last step, not on an older one).
    metrics_epoch: u64,
    metrics_read_epoch: u64,
    /// Finishing waits for a fresh reading judged by every trigger.
    final_check: FinalCheck,
    retry_at: Option<DateTime<Utc>>,
    last_periodic_read: Option<DateTime<Utc>>,
    /// Operator pause: who paused.
    paused_by: Option<Actor>,
    promoting: bool,
    metrics_error: Option<String>,
    /// Metrics reads that failed in a row (see `Analysis::max_failed_reads`).
    failed_metrics_reads: u32,
    traffic_error: Option<String>,
    /// The backend runs a version this release neither replaces nor
    /// brings: someone else changed it. Holds, like a missing reading.
    drift: Option<String>,
    /// The last traffic write failed (it is retried; it does not hold).
    write_error: Option<String>,
    observation: Option<Observation>,
    /// Blue-green: the reading when the preview started.
    preview_base: Option<Reading>,
    latest_reading: Option<Reading>,
    traffic: Option<TrafficState>,
    /// The actor to credit for the next step entry (an operator's advance).
    next_actor: Option<Actor>,
    /// Resumed by a host that took the release over: the weight its
    /// traffic was left at, until the first fresh reading is in.
    resuming_at: Option<u8>,
    last_now: DateTime<Utc>,
    snapshot: Snapshot,
}

impl Release {
    pub fn new(spec: ReleaseSpec, now: DateTime<Utc>) -> Release {
        // Replaced by the plan for the fleet read back after `Prepare`;
        // until then the configured fleet (if any) gives its length.
        let expected = plan::configured_fleet(
            &spec.service.backend,
            &spec.stable_version,
            &spec.new_version,
        );
        let plan = plan::of_service(&spec.service, expected);
        let snapshot = Snapshot {
            target: spec.target.clone(),
            release_id: spec.release_id.clone(),
            stable_version: spec.stable_version.clone(),
            new_version: spec.new_version.clone(),
            strategy: spec.service.strategy.name().to_string(),
            phase: Phase::Pending,
            reason: format!("release of {} accepted, not started", spec.new_version),
            step: 0,
            steps: plan.iter().map(|s| s.describe(&spec.new_version)).collect(),
            desired_weight: 0,
            actual_weight: None,
            new_error_rate_pct: None,
            baseline_error_rate_pct: None,
            new_p95_ms: None,
            baseline_p95_ms: None,
            new_requests: 0,
            baseline_requests: 0,
            new_instances: InstanceCounts::default(),
            stable_instances: InstanceCounts::default(),
            verdicts: Arc::default(),
            metrics_at: None,
            provider_error: None,
            started_at: now,
            updated_at: now,
            step_timer: None,
            watching_until: None,
        };
        Release {
            spec,
            plan,
            fleet: None,
            step: 0,
            started: false,
            mode: Mode::Running,
            progress: StepProgress::default(),
            write: WriteState::Idle,
            last_write: None,
            writes_in_flight: VecDeque::new(),
            next_write_seq: 0,
            traffic_read: None,
            traffic_read_wanted: None,
            traffic_read_retry: None,
            metrics_read_in_flight: false,
            metrics_epoch: 0,
            metrics_read_epoch: 0,
            final_check: FinalCheck::NotYet,
            retry_at: None,
            last_periodic_read: None,
            paused_by: None,
            promoting: false,
            metrics_error: None,
            failed_metrics_reads: 0,
            traffic_error: None,
            drift: None,
            write_error: None,
            observation: None,
            preview_base: None,
            latest_reading: None,
            traffic: None,
            next_actor: None,
            resuming_at: None,
            last_now: now,
            snapshot,
        }
    }

    /// A release taken over after its driver died, resumed at `step` (its
    /// last event's, re-entered from its beginning: a pause or a window
    /// starts again, a gate waits again) with its traffic at `weight`. It
    /// moves only once a fresh reading is in, and judges only what comes
    /// after it. A blue-green or rolling plan is the one of `fleet`, the
    /// instances its backend reports (the caller checks they are the ones
    /// the release started with).
    pub fn resume(
        spec: ReleaseSpec,
        step: usize,
        weight: u8,
        fleet: Fleet,
        now: DateTime<Utc>,
    ) -> Release {
        let mut release = Release::new(spec, now);
        if release.spec.service.strategy.rollout().needs_fleet() {
            // What a rollback puts back, and the plan's instance steps.
            release.fleet = Some(fleet);
            release.set_plan(plan::of_service(&release.spec.service, Some(fleet)));
        }
        release.step = step.min(release.plan.len().saturating_sub(1));
        release.snapshot.step = release.step;
        release.snapshot.desired_weight = weight;
        release.resuming_at = Some(weight);
        release.snapshot.reason = format!(
            "resuming at step {} of {} once a fresh reading is in",
            release.step + 1,
            release.plan.len()
        );
        release
    }

    pub fn spec(&self) -> &ReleaseSpec {
        &self.spec
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The plan as it stands (blue-green and rolling plans grow their
    /// instance steps once the traffic state is known).
    pub fn plan(&self) -> &[PlanStep] {
        &self.plan
    }

    /// `Some` once the release has finished.
    pub fn result(&self) -> Option<ReleaseResult> {
        match self.mode {
            Mode::Done(result) => Some(result),
            _ => None,
        }
    }

    /// When the next `Tick` is due: a timed step's end, the next periodic
    /// read, or a retry. A tick at that time always makes progress, so a
    /// driver sleeping until it never spins.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        if !self.started || self.result().is_some() {
            return None;
        }
        // A tick at or after a retry or a periodic read always clears it, so
        // those may be overdue; a step deadline that passed while the step
        // waits for something else (a reading, smoke checks) is left out.
        let mut wakes = Vec::new();
        if let Some(at) = self.retry_at {
            wakes.push(at);
        }
        if matches!(self.mode, Mode::Running) {
            wakes.push(self.periodic_read_due());
            if self.progress.entered
                && let Some(length) = self.timed_length()
                && let Some(at) = self.progress.stopwatch.deadline(length)
                && at > self.last_now
            {
                wakes.push(at);
            }
        }
        wakes.into_iter().min()
    }

    /// Feeds one input; returns the effects to execute, in order. A
    /// `Command` input is answered as [`Release::command`] does; its reply
    /// is only visible there (and in the emitted event).
    pub fn handle(&mut self, input: Input, now: DateTime<Utc>) -> Vec<Effect> {
        if let Input::Command(cmd) = input {
            return self.command(cmd, now).1;
        }
        let mut out = Vec::new();
        self.begin(now);
        match input {
            Input::Start => self.on_start(now, &mut out),
            Input::Tick => self.on_tick(now, &mut out),
            Input::Metrics(reading) => self.on_metrics(reading, now, &mut out),
            Input::Traffic(state) => self.on_traffic(state, now, &mut out),
            Input::Applied(result) => self.on_applied(result, now, &mut out),
            Input::SmokeChecks(results) => self.on_smoke_checks(results, now, &mut out),
            Input::JobDone { step, runs } => self.on_job_done(step, runs, now, &mut out),
            Input::Command(_) => {}
        }
        self.end(now, &mut out);
        out
    }

    /// An operator's (or CI's) command: accepted with its effects, or
    /// refused with a reason in words. Never silently dropped.
    pub fn command(&mut self, cmd: Command, now: DateTime<Utc>) -> (CommandReply, Vec<Effect>) {
        let mut out = Vec::new();
        self.begin(now);
        let reply = match self.refusal(&cmd) {
            Some(reason) => {
                let reason = format!("{} asked to {}: refused — {reason}", cmd.actor, cmd.kind);
                self.emit_unchanged(now, reason.clone(), cmd.actor.clone(), &mut out);
                CommandReply::Refused { reason }
            }
            None => {
                self.accept(&cmd, now, &mut out);
                CommandReply::Accepted
            }
        };
        self.end(now, &mut out);
        (reply, out)
    }

    // ----- bookkeeping around every input ---------------------------------

    /// Replaces the plan and the step list snapshots show (described here
    /// once, not on every input).
    fn set_plan(&mut self, plan: Vec<PlanStep>) {
        self.snapshot.steps = plan
            .iter()
            .map(|s| s.describe(&self.spec.new_version))
            .collect();
        self.plan = plan;
    }

    fn begin(&mut self, now: DateTime<Utc>) {
        // Bank the stopwatch under the conditions that held until now.
        let running = self.clock_runs();
        self.progress.stopwatch.set_running(running, now);
    }

    fn end(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        self.pump(now, out);
        let running = self.clock_runs();
        if running {
            self.progress.stopwatch.set_running(true, now);
        } else {
            self.progress.stopwatch.set_running(false, now);
        }
        self.last_now = now;
        self.snapshot.updated_at = now;
        self.snapshot.step = self.step.min(self.plan.len().saturating_sub(1));
        self.snapshot.step_timer = self.step_timer(now);
        self.snapshot.provider_error = self
            .metrics_error
            .as_ref()
            .map(|e| format!("metrics: {e}"))
            .or_else(|| self.traffic_error.as_ref().map(|e| format!("traffic: {e}")))
            .or_else(|| self.drift.as_ref().map(|d| format!("traffic: {d}")))
            .or_else(|| self.write_error.as_ref().map(|e| format!("traffic: {e}")));
        // A safety net: the published phase is never stale.
        if matches!(self.mode, Mode::Running)
            && self.started
            && self.derive_phase() != self.snapshot.phase
        {
            let reason = self.snapshot.reason.clone();
            self.transition(now, reason, Actor::Engine, None, out);
        }
    }

    /// When a failed write or read is tried again.
    fn retry_at_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        later(now, RETRY_DELAY.min(self.interval()))
    }

    fn interval(&self) -> Duration {
        self.spec
            .service
            .analysis
            .interval
            .max(Duration::from_millis(10))
    }

    fn periodic_read_due(&self) -> DateTime<Utc> {
        match self.last_periodic_read {
            Some(at) => later(at, self.interval()),
            None => self.last_now,
        }
    }

    /// The engine holds (no step moves, timers stop) while a provider fails.
    fn hold_reason(&self) -> Option<String> {
        if let Some(e) = &self.metrics_error {
            return Some(format!("metrics unavailable ({e})"));
        }
        if let Some(e) = &self.traffic_error {
            return Some(format!("traffic state unavailable ({e})"));
        }
        self.drift.clone()
    }

    fn can_move(&self) -> bool {
        self.started
            && matches!(self.mode, Mode::Running)
            && self.paused_by.is_none()
            && self.hold_reason().is_none()
    }

    fn current(&self) -> Option<&PlanStep> {
        self.plan.get(self.step)
    }

    fn timed_length(&self) -> Option<Duration> {
        match self.current()? {
            PlanStep::Pause(d)
            | PlanStep::KeepOld(d)
            | PlanStep::Analysis(d)
            | PlanStep::Preview(d)
            | PlanStep::HealthGate(d) => Some(*d),
            _ => None,
        }
    }

    /// What is left of the current timed step, once it has begun.
    fn step_timer(&self, now: DateTime<Utc>) -> Option<StepTimer> {
        if !matches!(self.mode, Mode::Running) || !self.progress.entered {
            return None;
        }
        let length = self.timed_length()?;
        Some(StepTimer {
            left: length.saturating_sub(self.progress.stopwatch.elapsed(now)),
            running: self.clock_runs(),
        })
    }

    fn clock_runs(&self) -> bool {
        if !self.can_move() || !self.progress.entered || self.timed_length().is_none() {
            return false;
        }
        // A rolling batch's health gate only counts healthy time.
        !matches!(self.current(), Some(PlanStep::HealthGate(_))) || self.new_in_rotation_healthy()
    }

    fn new_in_rotation_healthy(&self) -> bool {
        self.traffic
            .as_ref()
            .is_none_or(|t| t.new.iter().filter(|i| i.in_rotation).all(|i| i.healthy))
    }

    // ----- phases and events ----------------------------------------------

    fn derive_phase(&self) -> Phase {
        match &self.mode {
            Mode::Done(ReleaseResult::Succeeded) => return Phase::Succeeded,
            Mode::Done(ReleaseResult::RolledBack) => return Phase::RolledBack,
            Mode::Done(ReleaseResult::Aborted) => return Phase::Aborted,
            Mode::RollingBack { .. } => return Phase::RollingBack,
            Mode::Running => {}
        }
        if !self.started {
            return Phase::Pending;
        }
        if self.paused_by.is_some() || self.hold_reason().is_some() {
            return Phase::Paused;
        }
        if self.promoting {
            return Phase::Promoting;
        }
        match self.current() {
            None | Some(PlanStep::Prepare) => Phase::Pending,
            Some(PlanStep::Weight(100) | PlanStep::Flag(100) | PlanStep::Finish) => {
                Phase::Promoting
            }
            Some(PlanStep::Instances { stable: 0, .. }) => Phase::Promoting,
            Some(PlanStep::ManualGate | PlanStep::ManualSwitch) => Phase::WaitingForHuman,
            Some(PlanStep::Analysis(_) | PlanStep::Preview(_)) => Phase::Analysing,
            Some(_) => Phase::Progressing,
        }
    }

    /// Recomputes the phase and emits the transition as an event.
    fn transition(
        &mut self,
        now: DateTime<Utc>,
        reason: String,
        actor: Actor,
        verdict: Option<Verdict>,
        out: &mut Vec<Effect>,
    ) {
        let from = self.snapshot.phase;
        let to = self.derive_phase();
        self.snapshot.phase = to;
        self.snapshot.reason = reason.clone();
        self.snapshot.step = self.step.min(self.plan.len().saturating_sub(1));
        out.push(Effect::Emit(Event {
            at: now,
            env: self.spec.target.env.clone(),
            service: self.spec.target.service.clone(),
            from,
            to,
            step: self.snapshot.step,
            steps: self.plan.len(),
            weight: self.snapshot.desired_weight,
            reason,
            actor,
            verdict,
            job: None,
        }));
    }

    /// An event that changes no phase (a refused command, a retry).
    /// The snapshot's reason is left alone: it keeps saying why the release
    /// is where it is.
    fn emit_unchanged(
        &mut self,
        now: DateTime<Utc>,
        reason: String,
        actor: Actor,
        out: &mut Vec<Effect>,
    ) {
        let keep = std::mem::take(&mut self.snapshot.reason);
        self.transition(now, reason, actor, None, out);
        self.snapshot.reason = keep;
    }
}

mod commands;
mod inputs;
mod io;
mod jobs;
mod judging;
mod rollback;
mod steps;
mod write;

pub use commands::refusal_after_end;
pub use write::TrafficWrite;

#[cfg(test)]
mod tests;
