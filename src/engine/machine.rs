//! The release state machine: pure, sans-IO, time injected.
//!
//! It takes [`Input`]s (a command, a timer tick, a provider result) and
//! returns [`Effect`]s (set a weight, switch, replace instances, read the
//! traffic state or the metrics, emit an event). The driver executes the
//! effects and feeds their results back, so every transition here is
//! unit-testable with plain values and a fake clock.
//!
//! Protocol with the driver:
//! - Traffic writes (`Prepare`, `SetWeight`, `Switch`, `SetInstances`,
//!   `SetFlag`, `Finish`, `Discard`) are executed in the order emitted, and
//!   each one's outcome comes back as exactly one `Input::Applied`, in the
//!   same order.
//! - The machine has at most one `ReadTraffic` and one `ReadMetrics`
//!   outstanding; each comes back as one `Input::Traffic` / `Input::Metrics`.
//! - `Input::Tick` is fed at [`Release::next_wake`] (or later).

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::analysis;
use crate::config::{self, Strategy};
use crate::engine::plan::{self, Fleet, PlanStep};
use crate::engine::types::{
    Actor, Command, CommandKind, CommandReply, Event, InstanceCounts, Outcome, Phase,
    ReleaseResult, Snapshot, Target, Verdict,
};
use crate::metrics::Reading;
use crate::providers::{CheckResult, CheckStatus, TrafficState};

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
    Metrics(Result<Reading, String>),
    Traffic(Result<TrafficState, String>),
    /// The outcome of the oldest traffic write not yet reported.
    Applied(Result<(), String>),
    SmokeChecks(Vec<CheckResult>),
}

// `Emit` carries a whole event; effects live for one `handle` call in a
// short vector, so boxing it would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Prepare,
    SetWeight(u8),
    Switch { to_new: bool },
    SetInstances { stable: usize, new: usize },
    SetFlag(u8),
    Finish,
    Discard,
    ReadTraffic,
    ReadMetrics,
    RunSmokeChecks,
    Emit(Event),
}

impl Effect {
    /// Effects the driver runs through `Traffic` in order, each answered by
    /// one `Input::Applied`.
    pub fn is_traffic_write(&self) -> bool {
        matches!(
            self,
            Effect::Prepare
                | Effect::SetWeight(_)
                | Effect::Switch { .. }
                | Effect::SetInstances { .. }
                | Effect::SetFlag(_)
                | Effect::Finish
                | Effect::Discard
        )
    }

    /// The effect in words, for "could not … — retrying" reasons.
    pub fn describe(&self) -> String {
        match self {
            Effect::Prepare => "prepare the new version".into(),
            Effect::SetWeight(w) => format!("set weight {w}%"),
            Effect::Switch { to_new: true } => "switch to the new version".into(),
            Effect::Switch { to_new: false } => "switch back to stable".into(),
            Effect::SetInstances { stable, new } => {
                format!("put {stable} stable + {new} new instances in rotation")
            }
            Effect::SetFlag(p) => format!("set the flag to {p}%"),
            Effect::Finish => "finish the release".into(),
            Effect::Discard => "discard the new version".into(),
            Effect::ReadTraffic => "read the traffic state".into(),
            Effect::ReadMetrics => "read metrics".into(),
            Effect::RunSmokeChecks => "run smoke checks".into(),
            Effect::Emit(_) => "emit an event".into(),
        }
    }
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
        Some(since + chrono::Duration::from_std(left).unwrap_or(chrono::Duration::MAX))
    }
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
        verdict: Option<Verdict>,
    },
    Done(ReleaseResult),
}

/// When observation of the new version started, and the reading the
/// judged window is measured from.
#[derive(Debug, Clone)]
struct Observation {
    since: DateTime<Utc>,
    base: Option<Reading>,
    /// Blue-green: once all traffic is switched, the old version serves
    /// nothing, so its baseline is what it served during the preview,
    /// measured up to the switch.
    frozen_baseline: Option<crate::metrics::Sample>,
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
    /// Blue-green preview: smoke checks came back and all passed.
    smoke_ok: bool,
    /// Prepare: the traffic state was read after the prepare was applied.
    prepared_state_known: bool,
    prepare_attempts: u32,
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
    last_write: Option<Effect>,
    /// Sequence numbers of writes whose `Applied` has not come back yet.
    writes_in_flight: VecDeque<u64>,
    next_write_seq: u64,
    traffic_read: Option<ReadPurpose>,
    traffic_read_wanted: Option<ReadPurpose>,
    traffic_read_retry: Option<ReadPurpose>,
    metrics_read_in_flight: bool,
    retry_at: Option<DateTime<Utc>>,
    last_periodic_read: Option<DateTime<Utc>>,
    /// Operator pause: who paused.
    paused_by: Option<Actor>,
    promoting: bool,
    metrics_error: Option<String>,
    traffic_error: Option<String>,
    /// The last traffic write failed (it is retried; it does not hold).
    write_error: Option<String>,
    observation: Option<Observation>,
    /// Blue-green: the reading when the preview started.
    preview_base: Option<Reading>,
    latest_reading: Option<Reading>,
    traffic: Option<TrafficState>,
    /// The actor to credit for the next step entry (an operator's advance).
    next_actor: Option<Actor>,
    last_now: DateTime<Utc>,
    snapshot: Snapshot,
}

impl Release {
    pub fn new(spec: ReleaseSpec, now: DateTime<Utc>) -> Release {
        let plan = plan::plan(&spec.service.strategy, None);
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
            verdicts: Vec::new(),
            metrics_at: None,
            provider_error: None,
            started_at: now,
            updated_at: now,
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
            retry_at: None,
            last_periodic_read: None,
            paused_by: None,
            promoting: false,
            metrics_error: None,
            traffic_error: None,
            write_error: None,
            observation: None,
            preview_base: None,
            latest_reading: None,
            traffic: None,
            next_actor: None,
            last_now: now,
            snapshot,
        }
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
        self.snapshot.steps = self
            .plan
            .iter()
            .map(|s| s.describe(&self.spec.new_version))
            .collect();
        self.snapshot.provider_error = self
            .metrics_error
            .as_ref()
            .map(|e| format!("metrics: {e}"))
            .or_else(|| self.traffic_error.as_ref().map(|e| format!("traffic: {e}")))
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

    fn retry_delay(&self) -> chrono::Duration {
        let d = RETRY_DELAY.min(
            self.spec
                .service
                .analysis
                .interval
                .max(Duration::from_millis(10)),
        );
        chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(1))
    }

    fn interval(&self) -> chrono::Duration {
        let d = self
            .spec
            .service
            .analysis
            .interval
            .max(Duration::from_millis(10));
        chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(10))
    }

    fn periodic_read_due(&self) -> DateTime<Utc> {
        match self.last_periodic_read {
            Some(at) => at + self.interval(),
            None => self.last_now,
        }
    }

    /// The engine holds (no step moves, timers stop) while a provider fails.
    fn hold_reason(&self) -> Option<String> {
        if let Some(e) = &self.metrics_error {
            return Some(format!("metrics unavailable ({e})"));
        }
        self.traffic_error
            .as_ref()
            .map(|e| format!("traffic state unavailable ({e})"))
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

    // ----- inputs -----------------------------------------------------------

    fn on_start(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        if self.started {
            return;
        }
        self.started = true;
        self.last_periodic_read = Some(now);
        self.request_traffic_read(ReadPurpose::Periodic, out);
        self.request_metrics_read(out);
        let actor = self.spec.started_by.clone();
        self.next_actor = Some(actor);
    }

    fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        if !self.started || self.result().is_some() {
            return;
        }
        if let Some(at) = self.retry_at
            && now >= at
        {
            self.retry_at = None;
            if let WriteState::Failed(_) = self.write
                && let Some(effect) = self.last_write.clone()
            {
                self.emit_write(effect, out);
            }
            if let Some(purpose) = self.traffic_read_retry.take() {
                self.request_traffic_read(purpose, out);
            }
        }
        if matches!(self.mode, Mode::Running) && now >= self.periodic_read_due() {
            self.last_periodic_read = Some(now);
            self.request_traffic_read(ReadPurpose::Periodic, out);
            self.request_metrics_read(out);
        }
        // An analysis gate whose time is up judges on a fresh reading.
        if let (Some(PlanStep::Analysis(d)), true) = (self.current(), self.progress.entered) {
            let d = *d;
            if self.progress.stopwatch.elapsed(now) >= d && self.progress.gate_passed.is_none() {
                self.request_metrics_read(out);
            }
        }
    }

    fn on_metrics(
        &mut self,
        reading: Result<Reading, String>,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        self.metrics_read_in_flight = false;
        match reading {
            Err(e) => {
                let first = self.metrics_error.is_none();
                self.metrics_error = Some(e);
                if first && matches!(self.mode, Mode::Running) && self.started {
                    let reason = format!(
                        "held: {} — timers stopped, it continues by itself when readings return",
                        self.hold_reason().unwrap_or_default()
                    );
                    self.transition(now, reason, Actor::Engine, None, out);
                }
            }
            Ok(reading) => {
                let recovered = self.metrics_error.take().is_some();
                self.snapshot.metrics_at = Some(now);
                if self.preview_base.is_none()
                    && matches!(self.current(), Some(PlanStep::Preview(_)))
                {
                    self.preview_base = Some(reading.clone());
                }
                self.latest_reading = Some(reading);
                if recovered && matches!(self.mode, Mode::Running) {
                    let mut reason = "metrics readings are back".to_string();
                    if let Some(hold) = self.hold_reason() {
                        reason.push_str(&format!("; still held: {hold}"));
                    } else if let Some(by) = &self.paused_by {
                        reason.push_str(&format!("; still paused by {by}"));
                    } else {
                        reason.push_str(": continuing");
                    }
                    self.transition(now, reason, Actor::Engine, None, out);
                }
                self.judge_triggers(now, out);
                self.judge_gate(now, out);
            }
        }
    }

    fn on_traffic(
        &mut self,
        state: Result<TrafficState, String>,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        let purpose = self.traffic_read.take().unwrap_or(ReadPurpose::Periodic);
        match state {
            Err(e) => {
                let first = self.traffic_error.is_none();
                self.traffic_error = Some(e.clone());
                if purpose != ReadPurpose::Periodic {
                    self.traffic_read_retry = Some(purpose);
                    self.retry_at = Some(now + self.retry_delay());
                }
                match &self.mode {
                    Mode::Running if first && self.started => {
                        let reason = format!(
                            "held: {} — timers stopped, it continues by itself when readings return",
                            self.hold_reason().unwrap_or_default()
                        );
                        self.transition(now, reason, Actor::Engine, None, out);
                    }
                    Mode::RollingBack { .. } if first => {
                        let reason = format!(
                            "cannot read the traffic state to verify the rollback ({e}) — retrying"
                        );
                        self.emit_unchanged(now, reason, Actor::Engine, out);
                    }
                    _ => {}
                }
            }
            Ok(state) => {
                let recovered = self.traffic_error.take().is_some();
                self.record_traffic(&state);
                self.traffic = Some(state);
                if recovered && matches!(self.mode, Mode::Running) {
                    let reason = match (self.hold_reason(), &self.paused_by) {
                        (Some(hold), _) => {
                            format!("traffic state readable again; still held: {hold}")
                        }
                        (None, Some(by)) => {
                            format!("traffic state readable again; still paused by {by}")
                        }
                        (None, None) => "traffic state readable again: continuing".to_string(),
                    };
                    self.transition(now, reason, Actor::Engine, None, out);
                }
                match purpose {
                    ReadPurpose::AfterPrepare => self.after_prepare(now, out),
                    ReadPurpose::VerifyRollback => self.verify_rollback(now, out),
                    ReadPurpose::Periodic => {}
                }
                if matches!(self.current(), Some(PlanStep::HealthGate(_)))
                    && !self.new_in_rotation_healthy()
                {
                    // Healthy time must be continuous: start counting again.
                    self.progress.stopwatch = Stopwatch::default();
                }
                self.judge_triggers(now, out);
            }
        }
        if let Some(wanted) = self.traffic_read_wanted.take() {
            self.request_traffic_read(wanted, out);
        }
    }

    fn on_applied(
        &mut self,
        result: Result<(), String>,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        let Some(seq) = self.writes_in_flight.pop_front() else {
            return; // nothing outstanding: a confused driver, not our state
        };
        if self.write != WriteState::InFlight(seq) {
            return; // a superseded write (e.g. a weight overtaken by a rollback)
        }
        match result {
            Ok(()) => {
                self.write = WriteState::Done;
                self.write_error = None;
            }
            Err(e) => {
                let what = self
                    .last_write
                    .as_ref()
                    .map(Effect::describe)
                    .unwrap_or_else(|| "apply the last change".into());
                self.write = WriteState::Failed(e.clone());
                self.write_error = Some(e.clone());
                if matches!(self.current(), Some(PlanStep::Prepare))
                    && matches!(self.mode, Mode::Running)
                {
                    self.progress.prepare_attempts += 1;
                    if self.progress.prepare_attempts >= PREPARE_ATTEMPTS {
                        let reason = format!(
                            "could not prepare {} after {} attempts: {e}",
                            self.spec.new_version, self.progress.prepare_attempts
                        );
                        self.abort(now, reason, out);
                        return;
                    }
                }
                self.retry_at = Some(now + self.retry_delay());
                let reason = format!("could not {what}: {e} — retrying");
                self.emit_unchanged(now, reason.clone(), Actor::Engine, out);
                self.snapshot.reason = reason;
            }
        }
    }

    fn on_smoke_checks(
        &mut self,
        results: Vec<CheckResult>,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        if !matches!(self.current(), Some(PlanStep::Preview(_)))
            || !matches!(self.mode, Mode::Running)
        {
            return;
        }
        if let Some(failed) = results.iter().find(|r| r.status == CheckStatus::Fail) {
            let reason = format!(
                "preview failed: smoke check {} failed ({}): rolled back",
                failed.name, failed.detail
            );
            self.start_rollback(now, reason, Actor::Engine, None, out);
            return;
        }
        self.progress.smoke_ok = true;
        let summary: Vec<String> = results
            .iter()
            .map(|r| format!("{}: {}", r.name, r.detail))
            .collect();
        let reason = if summary.is_empty() {
            "preview: no smoke checks configured".to_string()
        } else {
            format!("preview smoke checks passed ({})", summary.join("; "))
        };
        self.emit_unchanged(now, reason, Actor::Engine, out);
    }

    // ----- reads and writes -------------------------------------------------

    fn request_traffic_read(&mut self, purpose: ReadPurpose, out: &mut Vec<Effect>) {
        if self.traffic_read.is_some() {
            // One read at a time keeps results in order; the purpose that
            // matters most is read next.
            if self.traffic_read_wanted.is_none_or(|w| w < purpose) {
                self.traffic_read_wanted = Some(purpose);
            }
            return;
        }
        self.traffic_read = Some(purpose);
        out.push(Effect::ReadTraffic);
    }

    fn request_metrics_read(&mut self, out: &mut Vec<Effect>) {
        if !self.metrics_read_in_flight {
            self.metrics_read_in_flight = true;
            out.push(Effect::ReadMetrics);
        }
    }

    fn emit_write(&mut self, effect: Effect, out: &mut Vec<Effect>) {
        let seq = self.next_write_seq;
        self.next_write_seq += 1;
        self.writes_in_flight.push_back(seq);
        self.write = WriteState::InFlight(seq);
        self.last_write = Some(effect.clone());
        out.push(effect);
    }

    fn start_observing(&mut self, now: DateTime<Utc>) {
        if self.observation.is_none() {
            self.observation = Some(Observation {
                since: now,
                base: self.latest_reading.clone(),
                frozen_baseline: None,
            });
        }
    }

    /// Blue-green switch: from now on the baseline is the stable version's
    /// traffic from the start of the preview until the switch.
    fn freeze_baseline(&mut self, now: DateTime<Utc>) {
        self.start_observing(now);
        let frozen = match (&self.latest_reading, &self.preview_base) {
            (Some(latest), Some(base)) => Some(latest.baseline.since(&base.baseline)),
            _ => None,
        };
        if let Some(obs) = self.observation.as_mut() {
            obs.frozen_baseline = frozen;
        }
    }

    fn record_traffic(&mut self, state: &TrafficState) {
        let counts = |instances: &[crate::providers::Instance]| InstanceCounts {
            healthy: instances.iter().filter(|i| i.healthy).count() as u32,
            total: instances.len() as u32,
        };
        self.snapshot.new_instances = counts(&state.new);
        self.snapshot.stable_instances = counts(&state.stable);
        self.snapshot.actual_weight = match self.spec.service.strategy {
            Strategy::FeatureFlag { .. } => state.flag_percent,
            _ => Some(state.new_weight),
        };
    }

    // ----- analysis -----------------------------------------------------------

    /// The judged window: counters since observation started. Without a
    /// reading from before the new version got traffic, the first reading
    /// after it becomes the start of the window.
    fn window(&mut self) -> Option<Reading> {
        let latest = self.latest_reading.clone()?;
        let obs = self.observation.as_mut()?;
        let base = obs.base.get_or_insert_with(|| latest.clone());
        let mut window = latest.since(base);
        if let Some(frozen) = &obs.frozen_baseline {
            window.baseline = frozen.clone();
        }
        Some(window)
    }

    fn judge_triggers(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        if !matches!(self.mode, Mode::Running) || self.observation.is_none() {
            return;
        }
        let since = self.observation.as_ref().map(|o| o.since).unwrap_or(now);
        let observed_for = (now - since).to_std().unwrap_or_default();
        let window = self.window().unwrap_or_default();
        let verdicts = analysis::judge(
            &self.spec.service.triggers,
            &self.spec.service.analysis,
            &window,
            observed_for,
            self.traffic.as_ref(),
        );
        self.snapshot.new_error_rate_pct = window.new.error_rate_pct();
        self.snapshot.baseline_error_rate_pct = window.baseline.error_rate_pct();
        self.snapshot.new_p95_ms = window.new.p95_ms();
        self.snapshot.baseline_p95_ms = window.baseline.p95_ms();
        self.snapshot.new_requests = window.new.requests;
        self.snapshot.baseline_requests = window.baseline.requests;
        self.snapshot.verdicts = verdicts.clone();
        if let Some(failed) = analysis::first_failure(&verdicts) {
            let reason = format!("{}: rolled back", failed.summary);
            let failed = failed.clone();
            self.start_rollback(now, reason, Actor::Engine, Some(failed), out);
        }
    }

    /// An analysis gate whose time is up passes when every enabled trigger
    /// passes over the gate's window; anything else holds it, with the
    /// reason — never a silent advance on thin evidence.
    fn judge_gate(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let Some(PlanStep::Analysis(length)) = self.current().cloned() else {
            return;
        };
        if !matches!(self.mode, Mode::Running)
            || !self.progress.entered
            || self.progress.gate_passed.is_some()
            || self.progress.stopwatch.elapsed(now) < length
        {
            return;
        }
        let Some(latest) = self.latest_reading.clone() else {
            return;
        };
        let base = self
            .progress
            .gate_base
            .get_or_insert_with(|| latest.clone())
            .clone();
        let observed_for = self
            .observation
            .as_ref()
            .map(|o| (now - o.since).to_std().unwrap_or_default())
            .unwrap_or_default();
        let verdicts = analysis::judge(
            &self.spec.service.triggers,
            &self.spec.service.analysis,
            &latest.since(&base),
            observed_for,
            self.traffic.as_ref(),
        );
        match verdicts.iter().find(|v| v.outcome != Outcome::Pass) {
            None => {
                let first = verdicts.first().cloned().unwrap_or_else(|| Verdict {
                    trigger: crate::engine::types::TriggerKind::ErrorRate,
                    outcome: Outcome::Pass,
                    new_value: None,
                    baseline_value: None,
                    threshold: 0.0,
                    new_requests: 0,
                    baseline_requests: 0,
                    summary: "no trigger enabled".into(),
                });
                self.progress.gate_passed = Some(first);
            }
            Some(holding) => {
                let reason = format!(
                    "analysis gate holds: {} (advance or promote to override)",
                    holding.summary
                );
                let kind = format!("{:?}{:?}", holding.trigger, holding.outcome);
                if self.progress.gate_hold.as_deref() != Some(kind.as_str()) {
                    self.progress.gate_hold = Some(kind);
                    let verdict = holding.clone();
                    self.transition(now, reason, Actor::Engine, Some(verdict), out);
                } else {
                    self.snapshot.reason = reason;
                }
            }
        }
    }

    // ----- the step walker ------------------------------------------------------

    fn pump(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        // Bounded: every round either returns or moves one step forward.
        for _ in 0..(self.plan.len() * 2 + 8) {
            if !self.started {
                return;
            }
            match self.mode {
                Mode::Done(_) => return,
                Mode::RollingBack { .. } => {
                    if !self.pump_rollback(out) {
                        return;
                    }
                    continue;
                }
                Mode::Running => {}
            }
            if self.step >= self.plan.len() {
                return;
            }
            if !self.progress.entered {
                if !self.can_move() {
                    return;
                }
                self.enter_step(now, out);
                continue;
            }
            if !self.step_done(now, out) {
                return;
            }
            self.complete_step(now, out);
        }
    }

    fn enter_step(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let step = self.plan[self.step].clone();
        let attempts = self.progress.prepare_attempts;
        self.progress = StepProgress {
            entered: true,
            prepare_attempts: attempts,
            ..StepProgress::default()
        };
        self.write = WriteState::Idle;
        match &step {
            PlanStep::Prepare => self.emit_write(Effect::Prepare, out),
            PlanStep::Weight(w) => {
                self.snapshot.desired_weight = *w;
                if *w > 0 {
                    self.start_observing(now);
                }
                self.emit_write(Effect::SetWeight(*w), out);
            }
            PlanStep::Flag(p) => {
                self.snapshot.desired_weight = *p;
                if *p > 0 {
                    self.start_observing(now);
                }
                self.emit_write(Effect::SetFlag(*p), out);
            }
            PlanStep::Switch => {
                self.snapshot.desired_weight = 100;
                self.freeze_baseline(now);
                self.emit_write(Effect::Switch { to_new: true }, out);
            }
            PlanStep::Instances { stable, new } => {
                let total = stable + new;
                if let Some(pct) = (new * 100).checked_div(total) {
                    self.snapshot.desired_weight = pct as u8;
                }
                if *new > 0 {
                    self.start_observing(now);
                }
                self.emit_write(
                    Effect::SetInstances {
                        stable: *stable,
                        new: *new,
                    },
                    out,
                );
            }
            PlanStep::Finish => self.emit_write(Effect::Finish, out),
            PlanStep::Analysis(_) => self.progress.gate_base = self.latest_reading.clone(),
            PlanStep::Preview(_) => {
                self.preview_base = self.latest_reading.clone();
                out.push(Effect::RunSmokeChecks);
            }
            PlanStep::HealthGate(_) => self.request_traffic_read(ReadPurpose::Periodic, out),
            PlanStep::Pause(_)
            | PlanStep::ManualGate
            | PlanStep::ManualSwitch
            | PlanStep::KeepOld(_) => {}
        }
        let actor = self.next_actor.take().unwrap_or(Actor::Engine);
        let reason = format!(
            "step {} of {}: {}",
            self.step + 1,
            self.plan.len(),
            step.describe(&self.spec.new_version)
        );
        let reason = match step {
            PlanStep::ManualGate | PlanStep::ManualSwitch => {
                format!("{reason} — waiting for a human to advance")
            }
            _ => reason,
        };
        self.transition(now, reason, actor, None, out);
    }

    /// Whether the current (entered) step is complete.
    fn step_done(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) -> bool {
        let step = self.plan[self.step].clone();
        if step.is_write() {
            if self.write != WriteState::Done {
                return false;
            }
            if step == PlanStep::Prepare && !self.progress.prepared_state_known {
                if self.traffic_read != Some(ReadPurpose::AfterPrepare)
                    && self.traffic_read_wanted != Some(ReadPurpose::AfterPrepare)
                    && self.traffic_read_retry != Some(ReadPurpose::AfterPrepare)
                {
                    self.request_traffic_read(ReadPurpose::AfterPrepare, out);
                }
                return false;
            }
            return true;
        }
        if self.progress.advance_requested {
            return true;
        }
        let elapsed = self.progress.stopwatch.elapsed(now);
        match step {
            PlanStep::Pause(d) | PlanStep::KeepOld(d) => elapsed >= d,
            PlanStep::HealthGate(d) => elapsed >= d && self.new_in_rotation_healthy(),
            PlanStep::ManualGate | PlanStep::ManualSwitch => false,
            PlanStep::Analysis(_) => self.progress.gate_passed.is_some(),
            PlanStep::Preview(d) => {
                if elapsed < d || !self.progress.smoke_ok {
                    return false;
                }
                self.preview_health_ok(now, out)
            }
            _ => true,
        }
    }

    /// At the end of a blue-green preview the new instances must pass the
    /// instance-health trigger (they had the whole preview to come up).
    fn preview_health_ok(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) -> bool {
        let mut triggers = self.spec.service.triggers.clone();
        triggers.error_rate.enabled = false;
        triggers.p95_latency.enabled = false;
        triggers.new_error_kind.enabled = false;
        triggers.unhealthy_instances.enabled = true;
        let verdicts = analysis::judge(
            &triggers,
            &self.spec.service.analysis,
            &Reading::default(),
            Duration::ZERO,
            self.traffic.as_ref(),
        );
        match verdicts.into_iter().next() {
            Some(v) if v.outcome == Outcome::Fail => {
                let reason = format!("preview failed: {}: rolled back", v.summary);
                self.start_rollback(now, reason, Actor::Engine, Some(v), out);
                false
            }
            Some(v) if v.outcome == Outcome::NotEnoughEvidence => false,
            _ => true,
        }
    }

    fn complete_step(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let step = self.plan[self.step].clone();
        if let (PlanStep::Analysis(_), Some(verdict)) = (&step, self.progress.gate_passed.clone()) {
            let reason = format!("analysis passed: {}", verdict.summary);
            self.step += 1;
            self.progress = StepProgress::default();
            if self.step < self.plan.len() {
                // The next step's entry emits the transition; record the pass.
                self.snapshot.reason = reason.clone();
                out.push(Effect::Emit(Event {
                    at: now,
                    env: self.spec.target.env.clone(),
                    service: self.spec.target.service.clone(),
                    from: self.snapshot.phase,
                    to: self.snapshot.phase,
                    step: self.step - 1,
                    steps: self.plan.len(),
                    weight: self.snapshot.desired_weight,
                    reason,
                    actor: Actor::Engine,
                    verdict: Some(verdict),
                }));
            }
            return;
        }
        if step == PlanStep::Finish {
            self.mode = Mode::Done(ReleaseResult::Succeeded);
            self.promoting = false;
            let reason = format!(
                "{} is stable now ({} retired)",
                self.spec.new_version, self.spec.stable_version
            );
            self.transition(now, reason, Actor::Engine, None, out);
            return;
        }
        self.step += 1;
        self.progress = StepProgress::default();
    }

    /// Called when the traffic state read after `Prepare` arrives.
    fn after_prepare(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        if !matches!(self.current(), Some(PlanStep::Prepare)) || !matches!(self.mode, Mode::Running)
        {
            return;
        }
        let Some(state) = &self.traffic else { return };
        let fleet = Fleet {
            stable: state.stable.len(),
            new: state.new.len(),
        };
        let needs_instances = matches!(
            self.spec.service.strategy,
            Strategy::Rolling { .. } | Strategy::BlueGreen { .. }
        );
        if needs_instances && fleet.new == 0 {
            let reason = format!(
                "the backend reports no instances of {} after preparing it — nothing to {}",
                self.spec.new_version,
                self.spec.service.strategy.name()
            );
            self.abort(now, reason, out);
            return;
        }
        self.fleet = Some(fleet);
        self.plan = plan::plan(&self.spec.service.strategy, Some(fleet));
        self.progress.prepared_state_known = true;
    }

    fn abort(&mut self, now: DateTime<Utc>, reason: String, out: &mut Vec<Effect>) {
        self.mode = Mode::Done(ReleaseResult::Aborted);
        self.observation = None;
        self.snapshot.desired_weight = 0;
        // Nothing reached users; clean up whatever was staged. Its outcome
        // is not waited for (the release is over either way).
        self.emit_write(Effect::Discard, out);
        self.write = WriteState::Idle;
        self.transition(now, reason, Actor::Engine, None, out);
    }

    // ----- rollback ---------------------------------------------------------------

    /// The write that puts stable back to 100 %, per strategy.
    fn revert_effect(&self) -> Option<Effect> {
        match &self.spec.service.strategy {
            Strategy::Canary { .. } => Some(Effect::SetWeight(0)),
            Strategy::FeatureFlag { .. } => Some(Effect::SetFlag(0)),
            Strategy::BlueGreen { .. } => Some(Effect::Switch { to_new: false }),
            Strategy::Rolling { .. } => {
                // Before the instance counts are known nothing was replaced.
                self.fleet.map(|f| Effect::SetInstances {
                    stable: f.stable,
                    new: 0,
                })
            }
        }
    }

    fn start_rollback(
        &mut self,
        now: DateTime<Utc>,
        reason: String,
        actor: Actor,
        verdict: Option<Verdict>,
        out: &mut Vec<Effect>,
    ) {
        self.mode = Mode::RollingBack {
            stage: RollbackStage::Revert,
            reason: reason.clone(),
            actor: actor.clone(),
            verdict: verdict.clone(),
        };
        self.observation = None;
        self.promoting = false;
        self.snapshot.desired_weight = 0;
        self.retry_at = None;
        self.write = WriteState::Idle;
        // The traffic effect goes out in this very call: an operator's
        // rollback reaches the backend without waiting for a tick.
        match self.revert_effect() {
            Some(effect) => self.emit_write(effect, out),
            None => self.write = WriteState::Done,
        }
        let reason = reason.replace(": rolled back", ": rolling back");
        self.transition(now, reason, actor, verdict, out);
    }

    /// One rollback stage; `true` if it moved to the next stage.
    fn pump_rollback(&mut self, out: &mut Vec<Effect>) -> bool {
        let Mode::RollingBack { stage, .. } = self.mode.clone() else {
            return false;
        };
        if self.write != WriteState::Done {
            return false; // in flight, or failed and waiting for its retry tick
        }
        let next = match stage {
            RollbackStage::Revert => {
                self.emit_write(Effect::Discard, out);
                RollbackStage::Discard
            }
            RollbackStage::Discard => {
                self.write = WriteState::Idle;
                self.request_traffic_read(ReadPurpose::VerifyRollback, out);
                RollbackStage::Verify
            }
            RollbackStage::Verify => return false,
        };
        if let Mode::RollingBack { stage, .. } = &mut self.mode {
            *stage = next;
        }
        true
    }

    /// The traffic state read after the rollback: stable at 100 %, or the
    /// backend disagrees and the rollback is retried, loudly.
    fn verify_rollback(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let Mode::RollingBack {
            stage: RollbackStage::Verify,
            reason,
            actor,
            verdict,
        } = self.mode.clone()
        else {
            return;
        };
        let Some(state) = self.traffic.clone() else {
            return;
        };
        let in_rotation = state.new.iter().filter(|i| i.in_rotation).count();
        let flag = state.flag_percent.unwrap_or(0);
        let disagreement = if state.new_weight > 0 {
            Some(format!(
                "backend still sends {} % to {} after rollback — retrying",
                state.new_weight, self.spec.new_version
            ))
        } else if in_rotation > 0 {
            Some(format!(
                "backend still has {in_rotation} instance(s) of {} in rotation after rollback — retrying",
                self.spec.new_version
            ))
        } else if flag > 0 {
            Some(format!(
                "flag still at {flag} % for {} after rollback — retrying",
                self.spec.new_version
            ))
        } else {
            None
        };
        match disagreement {
            Some(loud) => {
                if let Mode::RollingBack { stage, .. } = &mut self.mode {
                    *stage = RollbackStage::Revert;
                }
                match self.revert_effect() {
                    Some(effect) => {
                        self.last_write = Some(effect);
                        self.write = WriteState::Failed(loud.clone());
                    }
                    None => {
                        self.last_write = Some(Effect::Discard);
                        self.write = WriteState::Failed(loud.clone());
                        if let Mode::RollingBack { stage, .. } = &mut self.mode {
                            *stage = RollbackStage::Revert;
                        }
                    }
                }
                self.retry_at = Some(now + self.retry_delay());
                self.write_error = Some(loud.clone());
                self.emit_unchanged(now, loud.clone(), Actor::Engine, out);
                self.snapshot.reason = loud;
            }
            None => {
                self.mode = Mode::Done(ReleaseResult::RolledBack);
                self.retry_at = None;
                let done = if reason.ends_with(": rolled back") {
                    reason
                } else {
                    format!("{reason}: rolled back")
                };
                let done = format!(
                    "{done}; verified: {} at 100 %, {} drained",
                    self.spec.stable_version, self.spec.new_version
                );
                self.transition(now, done, actor, verdict, out);
            }
        }
    }

    // ----- commands -----------------------------------------------------------------

    fn refusal(&self, cmd: &Command) -> Option<String> {
        let kind = cmd.kind;
        if cmd.target != self.spec.target {
            return Some(format!(
                "this release is {}, not {}",
                self.spec.target, cmd.target
            ));
        }
        if !self.started {
            return Some(format!("cannot {kind}: the release has not started yet"));
        }
        let new = &self.spec.new_version;
        let stable = &self.spec.stable_version;
        match &self.mode {
            Mode::Done(ReleaseResult::Succeeded) => {
                return Some(match kind {
                    CommandKind::Rollback => format!(
                        "cannot roll back: {new} already succeeded and is stable now — release {stable} again to go back"
                    ),
                    _ => format!(
                        "cannot {kind}: the release already succeeded ({new} is stable now)"
                    ),
                });
            }
            Mode::Done(result) => {
                let what = if *result == ReleaseResult::RolledBack {
                    "was rolled back"
                } else {
                    "was aborted"
                };
                return match kind {
                    CommandKind::Retry => None,
                    CommandKind::Rollback => Some(format!(
                        "nothing to roll back: the release {what} and {stable} serves all traffic"
                    )),
                    _ => Some(format!(
                        "cannot {kind}: the release {what} ({}) — retry starts it again",
                        self.snapshot.reason
                    )),
                };
            }
            Mode::RollingBack { reason, .. } => {
                return Some(match kind {
                    CommandKind::Rollback => format!("already rolling back ({reason})"),
                    CommandKind::Retry => {
                        "cannot retry yet: the rollback is still running".to_string()
                    }
                    _ => format!("cannot {kind}: the release is rolling back ({reason})"),
                });
            }
            Mode::Running => {}
        }
        let step = self.current().cloned().unwrap_or(PlanStep::Finish);
        let step_words = step.describe(new);
        let finishing = step == PlanStep::Finish && self.progress.entered;
        match kind {
            CommandKind::Retry => {
                Some("cannot retry: the release is still running — roll it back first".into())
            }
            CommandKind::Rollback => finishing.then(|| {
                format!("cannot roll back: {new} is being made stable (finish in progress)")
            }),
            CommandKind::Pause => self
                .paused_by
                .as_ref()
                .map(|by| format!("cannot pause: already paused by {by}")),
            CommandKind::Resume => match (&self.paused_by, self.hold_reason()) {
                (Some(_), _) => None,
                (None, Some(hold)) => Some(format!(
                    "cannot resume: the engine holds the release because {hold}; it continues by itself when readings return"
                )),
                (None, None) => Some("cannot resume: the release is not paused".into()),
            },
            CommandKind::Advance => {
                if let Some(by) = &self.paused_by {
                    return Some(format!(
                        "cannot advance: the release is paused by {by} — resume it first"
                    ));
                }
                if let Some(hold) = self.hold_reason() {
                    return Some(format!(
                        "cannot advance: {hold} — the release holds until readings return (promote or roll back to override)"
                    ));
                }
                match step {
                    PlanStep::Prepare => {
                        Some(format!("cannot advance: {new} is still being prepared"))
                    }
                    PlanStep::Finish => Some("cannot advance: the release is finishing".into()),
                    s if s.is_write() => Some(format!(
                        "cannot advance: \"{step_words}\" is being applied — wait for it"
                    )),
                    _ if !self.progress.entered => Some(format!(
                        "cannot advance: \"{step_words}\" has not started yet"
                    )),
                    _ => None,
                }
            }
            CommandKind::Promote => {
                if let Some(by) = &self.paused_by {
                    return Some(format!(
                        "cannot promote: the release is paused by {by} — resume it first"
                    ));
                }
                if step == PlanStep::Prepare {
                    return Some(format!("cannot promote: {new} is still being prepared"));
                }
                if let Some(hold) = self.hold_reason() {
                    return Some(format!(
                        "cannot promote: {hold} — the release holds until readings return (roll back to stop it)"
                    ));
                }
                if self.promoting || self.in_final_stretch() {
                    return Some("cannot promote: already going to 100 %".into());
                }
                None
            }
        }
    }

    /// Nothing left but the final promotion and finish.
    fn in_final_stretch(&self) -> bool {
        self.plan[self.step..].iter().all(|s| {
            matches!(
                s,
                PlanStep::Weight(100)
                    | PlanStep::Flag(100)
                    | PlanStep::Instances { stable: 0, .. }
                    | PlanStep::Finish
            )
        })
    }

    fn accept(&mut self, cmd: &Command, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let actor = cmd.actor.clone();
        match cmd.kind {
            CommandKind::Rollback => {
                let reason = format!("rollback requested by {actor}: rolled back");
                self.start_rollback(now, reason, actor, None, out);
            }
            CommandKind::Pause => {
                self.paused_by = Some(actor.clone());
                self.transition(now, format!("paused by {actor}"), actor, None, out);
            }
            CommandKind::Resume => {
                self.paused_by = None;
                let reason = match self.hold_reason() {
                    Some(hold) => format!("resumed by {actor}; still held: {hold}"),
                    None => format!("resumed by {actor}"),
                };
                self.transition(now, reason, actor, None, out);
            }
            CommandKind::Advance => {
                self.progress.advance_requested = true;
                self.next_actor = Some(actor.clone());
                let words = self
                    .current()
                    .map(|s| s.describe(&self.spec.new_version))
                    .unwrap_or_default();
                self.emit_unchanged(
                    now,
                    format!("{actor} advanced past \"{words}\""),
                    actor,
                    out,
                );
            }
            CommandKind::Promote => {
                let tail = self.promote_tail();
                let keep = if !self.progress.entered {
                    self.step // not started: replaced by the promotion
                } else if self.current().is_some_and(PlanStep::is_write) {
                    self.step + 1 // let the write in flight land first
                } else {
                    self.progress.advance_requested = true;
                    self.step + 1
                };
                self.plan.truncate(keep);
                self.plan.extend(tail);
                self.promoting = true;
                self.next_actor = Some(actor.clone());
                self.transition(
                    now,
                    format!("promoted to 100 % by {actor}, skipping the remaining steps"),
                    actor,
                    None,
                    out,
                );
            }
            CommandKind::Retry => {
                let mut spec = self.spec.clone();
                spec.started_by = actor.clone();
                let from = self.snapshot.phase;
                // Writes still in flight (the last rollback's) keep their
                // place in the queue, so their outcomes are not mistaken
                // for the new attempt's.
                let in_flight = std::mem::take(&mut self.writes_in_flight);
                let next_seq = self.next_write_seq;
                *self = Release::new(spec, now);
                self.writes_in_flight = in_flight;
                self.next_write_seq = next_seq;
                self.snapshot.phase = from;
                self.on_start(now, out);
                self.next_actor = Some(actor.clone());
                self.transition(
                    now,
                    format!("retried by {actor}: starting again from the first step"),
                    actor,
                    None,
                    out,
                );
            }
        }
    }

    /// The steps that take the release straight to 100 %.
    fn promote_tail(&self) -> Vec<PlanStep> {
        let mut tail = Vec::new();
        match &self.spec.service.strategy {
            Strategy::Canary { .. } => tail.push(PlanStep::Weight(100)),
            Strategy::FeatureFlag { .. } => tail.push(PlanStep::Flag(100)),
            Strategy::BlueGreen { .. } => {
                let switched = self.plan[..self.step].contains(&PlanStep::Switch)
                    || (self.current() == Some(&PlanStep::Switch) && self.progress.entered);
                if !switched {
                    tail.push(PlanStep::Switch);
                }
                if let Some(fleet) = self.fleet {
                    tail.push(PlanStep::Instances {
                        stable: 0,
                        new: fleet.new,
                    });
                }
            }
            Strategy::Rolling { .. } => {
                if let Some(fleet) = self.fleet {
                    tail.push(PlanStep::Instances {
                        stable: 0,
                        new: fleet.new,
                    });
                }
            }
        }
        tail.push(PlanStep::Finish);
        tail
    }
}

#[cfg(test)]
mod tests;
