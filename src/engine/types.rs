//! The engine's vocabulary, shared with every front end: commands in,
//! events and snapshots out. All of it is serde-serializable so the headless
//! CLI (`--output json`), the cockpit and a future control socket speak the
//! same types.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which release: one service in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub env: String,
    pub service: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.env, self.service)
    }
}

/// Who caused a transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Actor {
    /// A person: their OS user and, over SSH, where they connected from.
    Operator {
        user: String,
        origin: Option<String>,
    },
    /// The engine itself (timers, analysis, triggers).
    Engine,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Operator {
                user,
                origin: Some(origin),
            } => write!(f, "{user} (ssh from {origin})"),
            Actor::Operator { user, origin: None } => f.write_str(user),
            Actor::Engine => f.write_str("engine"),
        }
    }
}

/// What an operator (or CI) asks of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandKind {
    /// Finish the current pause or gate and go to the next step.
    Advance,
    Pause,
    Resume,
    /// Straight to 100 %, skipping the remaining steps.
    Promote,
    /// Stable back to 100 % at once, the new version drained.
    Rollback,
    /// Start a rolled-back or aborted release again from its first step.
    Retry,
}

impl fmt::Display for CommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommandKind::Advance => "advance",
            CommandKind::Pause => "pause",
            CommandKind::Resume => "resume",
            CommandKind::Promote => "promote",
            CommandKind::Rollback => "rollback",
            CommandKind::Retry => "retry",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub target: Target,
    pub kind: CommandKind,
    pub actor: Actor,
}

/// The engine's answer to a command: never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum CommandReply {
    Accepted,
    Refused { reason: String },
}

/// Where a release is. The reason for Paused / RollingBack / RolledBack /
/// Aborted lives in the snapshot's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Accepted, nothing moved yet (preflight, quality gates).
    Pending,
    /// Moving traffic or waiting out a timed pause.
    Progressing,
    /// Stopped by an operator, or held by the engine for lack of data.
    Paused,
    /// At a manual gate.
    WaitingForHuman,
    /// At an analysis gate.
    Analysing,
    /// Going to 100 % (a promote, or the last step).
    Promoting,
    Succeeded,
    RollingBack,
    RolledBack,
    /// Refused or failed before or while running, without a rollback being
    /// needed (e.g. a requirement not met). `retry` starts it again.
    Aborted,
}

impl Phase {
    pub fn is_finished(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::RolledBack | Phase::Aborted)
    }

    /// The phase in words, as the cockpit and the event lines show it.
    pub fn words(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Progressing => "Progressing",
            Phase::Paused => "Paused",
            Phase::WaitingForHuman => "Waiting for you",
            Phase::Analysing => "Analysing",
            Phase::Promoting => "Promoting",
            Phase::Succeeded => "Succeeded",
            Phase::RollingBack => "Rolling back",
            Phase::RolledBack => "Rolled back",
            Phase::Aborted => "Aborted",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words())
    }
}

/// Which automatic rollback trigger a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerKind {
    ErrorRate,
    P95Latency,
    UnhealthyInstances,
    NewErrorKind,
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TriggerKind::ErrorRate => "error rate",
            TriggerKind::P95Latency => "p95 latency",
            TriggerKind::UnhealthyInstances => "unhealthy instances",
            TriggerKind::NewErrorKind => "new error kind",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// Too few samples, or too short an observation, to judge.
    NotEnoughEvidence,
}

/// A trigger's judgement, always with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub trigger: TriggerKind,
    pub outcome: Outcome,
    /// The measured value for the new version (percent, ms, ratio…).
    pub new_value: Option<f64>,
    /// The same measure on the baseline.
    pub baseline_value: Option<f64>,
    /// The threshold it was held against, in the trigger's own unit.
    pub threshold: f64,
    /// The effect tolerated without a rollback, in the threshold's unit.
    #[serde(default)]
    pub tolerated: Option<f64>,
    /// The statistic: bounds on the effect (points, ratio or percent) that
    /// hold together with probability `confidence`. `None` where a trigger
    /// counts instead of estimating, or a side could not be bounded yet.
    #[serde(default)]
    pub lower: Option<f64>,
    #[serde(default)]
    pub upper: Option<f64>,
    #[serde(default)]
    pub confidence: Option<f64>,
    pub new_requests: u64,
    pub baseline_requests: u64,
    /// One line with the numbers, e.g. "error rate 7.9 % vs baseline 0.2 %
    /// over 1 240 requests (limit +5.0 points)".
    pub summary: String,
}

impl Verdict {
    /// A verdict without statistics or request counts: counted instances,
    /// or a gate with no trigger to judge.
    pub fn without_statistics(
        trigger: TriggerKind,
        outcome: Outcome,
        threshold: f64,
        summary: String,
    ) -> Verdict {
        Verdict {
            trigger,
            outcome,
            new_value: None,
            baseline_value: None,
            threshold,
            tolerated: None,
            lower: None,
            upper: None,
            confidence: None,
            new_requests: 0,
            baseline_requests: 0,
            summary,
        }
    }
}

/// One transition. Journalled, printed headless, shown in the cockpit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub env: String,
    pub service: String,
    pub from: Phase,
    pub to: Phase,
    /// Step index (0-based) after the transition, and the step count.
    pub step: usize,
    pub steps: usize,
    /// Traffic on the new version after the transition, percent.
    pub weight: u8,
    pub reason: String,
    pub actor: Actor,
    /// The verdict that caused it, if a trigger or gate did.
    pub verdict: Option<Verdict>,
    /// The migration phase or hook whose run it reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Box<crate::jobs::JobRun>>,
}

/// Health of the instances of one version, as last read from the backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceCounts {
    pub healthy: u32,
    pub total: u32,
}

/// The latest state of one release, published on a `watch` channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub target: Target,
    pub release_id: String,
    pub stable_version: String,
    pub new_version: String,
    pub strategy: String,
    pub phase: Phase,
    /// Why it is in this phase ("waiting for analysis: 140 of 200 requests").
    pub reason: String,
    /// 0-based index of the current step, and the step descriptions
    /// (shared: they change only with the plan, and a snapshot is copied
    /// to every watcher on every change).
    pub step: usize,
    pub steps: Arc<[String]>,
    /// Traffic on the new version the engine asked for, and what the
    /// backend reports.
    pub desired_weight: u8,
    pub actual_weight: Option<u8>,
    /// Over the current observation window.
    pub new_error_rate_pct: Option<f64>,
    pub baseline_error_rate_pct: Option<f64>,
    pub new_p95_ms: Option<f64>,
    pub baseline_p95_ms: Option<f64>,
    pub new_requests: u64,
    pub baseline_requests: u64,
    pub new_instances: InstanceCounts,
    pub stable_instances: InstanceCounts,
    /// The latest verdict of every trigger, shared with the engine (a
    /// snapshot is copied for its watchers on every reading).
    pub verdicts: Arc<[Verdict]>,
    /// When metrics were last read successfully (stale data is never live).
    pub metrics_at: Option<DateTime<Utc>>,
    /// A provider that is failing, named, with its error.
    pub provider_error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The clock of the current step, when it is a timed one (a pause, an
    /// analysis window, a preview, a health gate): what is left of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timer: Option<StepTimer>,
    /// A succeeded release whose numbers the release host still reads
    /// (`watch_after`): until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watching_until: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// Whether this snapshot says nothing `earlier` did not, except that
    /// time passed: every field the same but `updated_at`, and a timed
    /// step's clock where `earlier`'s own reckoning
    /// ([`StepTimer::left_at`]) puts it. Watchers work the clocks out
    /// themselves, so such a snapshot need not be sent to them.
    pub fn only_later_than(&self, earlier: &Snapshot) -> bool {
        // Destructured so that a new field cannot be forgotten here.
        let Snapshot {
            target,
            release_id,
            stable_version,
            new_version,
            strategy,
            phase,
            reason,
            step,
            steps,
            desired_weight,
            actual_weight,
            new_error_rate_pct,
            baseline_error_rate_pct,
            new_p95_ms,
            baseline_p95_ms,
            new_requests,
            baseline_requests,
            new_instances,
            stable_instances,
            verdicts,
            metrics_at,
            provider_error,
            started_at,
            updated_at,
            step_timer,
            watching_until,
        } = self;
        let timer_agrees = match (step_timer, earlier.step_timer) {
            (None, None) => true,
            (Some(now), Some(then)) => {
                let expected = then.left_at(earlier.updated_at, *updated_at);
                now.running == then.running && now.left.abs_diff(expected) <= TIMER_SLACK
            }
            _ => false,
        };
        timer_agrees
            && *target == earlier.target
            && *release_id == earlier.release_id
            && *stable_version == earlier.stable_version
            && *new_version == earlier.new_version
            && *strategy == earlier.strategy
            && *phase == earlier.phase
            && *reason == earlier.reason
            && *step == earlier.step
            && *steps == earlier.steps
            && *desired_weight == earlier.desired_weight
            && *actual_weight == earlier.actual_weight
            && *new_error_rate_pct == earlier.new_error_rate_pct
            && *baseline_error_rate_pct == earlier.baseline_error_rate_pct
            && *new_p95_ms == earlier.new_p95_ms
            && *baseline_p95_ms == earlier.baseline_p95_ms
            && *new_requests == earlier.new_requests
            && *baseline_requests == earlier.baseline_requests
            && *new_instances == earlier.new_instances
            && *stable_instances == earlier.stable_instances
            && *verdicts == earlier.verdicts
            && *metrics_at == earlier.metrics_at
            && *provider_error == earlier.provider_error
            && *started_at == earlier.started_at
            && *watching_until == earlier.watching_until
    }
}

/// How far a step's clock may be from where a watcher reckons it before a
/// snapshot is sent for it: far below the second the clocks are shown in.
const TIMER_SLACK: std::time::Duration = std::time::Duration::from_millis(10);

/// What is left of a timed step, as of the snapshot's `updated_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTimer {
    pub left: std::time::Duration,
    /// False while the clock is stopped (paused, held for want of data,
    /// a rolling batch not healthy yet): then `left` does not shrink.
    pub running: bool,
}

impl StepTimer {
    /// What is left at `now`, for a snapshot last updated at `updated_at`.
    pub fn left_at(&self, updated_at: DateTime<Utc>, now: DateTime<Utc>) -> std::time::Duration {
        if !self.running {
            return self.left;
        }
        let passed = (now - updated_at).to_std().unwrap_or_default();
        self.left.saturating_sub(passed)
    }
}

/// How a finished release ended (`cli::ExitCode` maps it to the process's exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseResult {
    Succeeded,
    RolledBack,
    Aborted,
}

impl fmt::Display for ReleaseResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReleaseResult::Succeeded => "succeeded",
            ReleaseResult::RolledBack => "rolled back",
            ReleaseResult::Aborted => "aborted",
        })
    }
}

/// "3/6" for 0-based step 2 of 6; "-" without steps.
pub fn step_of(step: usize, steps: usize) -> String {
    if steps == 0 {
        "-".into()
    } else {
        format!("{}/{}", (step + 1).min(steps), steps)
    }
}
