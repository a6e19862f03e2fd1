//! The policies that judge each simulated stream: helmsman's engine and two
//! comparison policies with Flagger's cadence (a check every 60 s over the
//! last 60 s; the 5th failed check, counted cumulatively like Flagger's
//! `failedChecks`, rolls back).

use helmsman::engine::TriggerKind;
use helmsman::metrics::Reading;

use crate::engine::EngineDriver;
use crate::world::{MARK_EVERY_S, Scenario, Traffic, World};

/// Flagger's default analysis: a check every `interval` (1m), rollback
/// after `threshold` (5) failed checks.
pub const CHECK_EVERY_S: u64 = MARK_EVERY_S;
pub const FAILED_CHECKS_TO_ROLL_BACK: u32 = 5;
/// threshold-only: relative checks against the baseline.
pub const CHECK_MAX_ERROR_POINTS: f64 = 5.0;
pub const CHECK_MAX_P95_RATIO: f64 = 2.0;
/// Flagger's built-in metrics: `request-success-rate` (min 99 %) and
/// `request-duration` (p99, max 500 ms).
pub const FLAGGER_MIN_SUCCESS_PCT: f64 = 99.0;
pub const FLAGGER_MAX_P99_MS: f64 = 500.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Helmsman,
    ThresholdOnly,
    FlaggerBuiltins,
}

pub const POLICIES: [Policy; 3] = [
    Policy::Helmsman,
    Policy::ThresholdOnly,
    Policy::FlaggerBuiltins,
];

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Helmsman => "helmsman",
            Policy::ThresholdOnly => "threshold-only",
            Policy::FlaggerBuiltins => "Flagger built-ins",
        }
    }

    /// Whether `trigger` (what an outcome names) is this policy's latency
    /// check: helmsman's p95 trigger, threshold-only's p95 check, Flagger's
    /// `request-duration`.
    pub fn is_latency_trigger(self, trigger: &str) -> bool {
        match self {
            Policy::Helmsman => trigger == TriggerKind::P95Latency.to_string(),
            Policy::ThresholdOnly => trigger.contains(THRESHOLD_P95),
            Policy::FlaggerBuiltins => trigger.contains(FLAGGER_DURATION),
        }
    }
}

/// What one policy did in one run.
#[derive(Debug)]
pub struct Outcome {
    /// Seconds from the moment the weight was applied to the rollback
    /// decision; `None`: no rollback within the horizon.
    pub decided_at_s: Option<u64>,
    /// What decided the rollback.
    pub trigger: Option<String>,
    /// Failed requests on the new version until the decision (or the
    /// horizon), counted from the moment the weight was applied.
    pub failed_requests: u64,
}

/// Every policy's outcome on one simulated stream.
pub struct RunResult {
    outcomes: [Outcome; 3],
    new_errors_at_fault_start: Option<u64>,
}

impl RunResult {
    pub fn of(&self, policy: Policy) -> &Outcome {
        &self.outcomes[policy as usize]
    }

    /// Failed requests on the new version from the fault's start to the
    /// policy's decision (or the horizon); 0 when it decided before the
    /// fault started.
    pub fn failed_after_fault_start(&self, policy: Policy, start_s: u64) -> u64 {
        let outcome = self.of(policy);
        if outcome.decided_at_s.is_some_and(|at| at < start_s) {
            return 0;
        }
        outcome
            .failed_requests
            .saturating_sub(self.new_errors_at_fault_start.unwrap_or(0))
    }
}

pub fn run_once(scenario: &Scenario, traffic: &Traffic, seed: u64) -> RunResult {
    let mut world = World::new(traffic, seed);
    // The engine first: the world is generated lazily and only forward, and
    // the comparison policies read it back from its per-minute marks.
    let helmsman = EngineDriver::run(scenario, &mut world);
    let threshold_only = periodic_checks(scenario, &mut world, threshold_only_check);
    let flagger = periodic_checks(scenario, &mut world, flagger_check);
    RunResult {
        outcomes: [helmsman, threshold_only, flagger],
        new_errors_at_fault_start: world.new_errors_at_fault_start(),
    }
}

/// A check every `CHECK_EVERY_S` over the last `CHECK_EVERY_S`; the
/// `FAILED_CHECKS_TO_ROLL_BACK`-th failed one rolls back.
fn periodic_checks(
    scenario: &Scenario,
    world: &mut World,
    check: fn(&Reading) -> Option<&'static str>,
) -> Outcome {
    assert_eq!(
        scenario.horizon_s % CHECK_EVERY_S,
        0,
        "the horizon falls on a check"
    );
    let mut failed = 0;
    for k in 1..=scenario.horizon_s / CHECK_EVERY_S {
        let end = world.at_mark(k).clone();
        let window = end.since(world.at_mark(k - 1));
        let Some(reason) = check(&window) else {
            continue;
        };
        failed += 1;
        if failed == FAILED_CHECKS_TO_ROLL_BACK {
            return Outcome {
                decided_at_s: Some(k * CHECK_EVERY_S),
                trigger: Some(reason.to_string()),
                failed_requests: end.new.errors,
            };
        }
    }
    Outcome {
        decided_at_s: None,
        trigger: None,
        failed_requests: world.reading_at(scenario.horizon_s).new.errors,
    }
}

const THRESHOLD_ERRORS: &str = "error rate";
const THRESHOLD_P95: &str = "p95";

/// threshold-only: a check fails when the new error rate is more than 5
/// points over the baseline's or the new p95 more than twice the
/// baseline's. A window without requests on the new version has nothing to
/// fail on.
fn threshold_only_check(window: &Reading) -> Option<&'static str> {
    let (new, base) = (&window.new, &window.baseline);
    let errors = new
        .error_rate_pct()
        .is_some_and(|rate| rate - base.error_rate_pct().unwrap_or(0.0) > CHECK_MAX_ERROR_POINTS);
    let latency = match (new.p95_ms(), base.p95_ms()) {
        (Some(n), Some(b)) => n > CHECK_MAX_P95_RATIO * b,
        _ => false,
    };
    match (errors, latency) {
        (true, true) => Some("error rate + p95"),
        (true, false) => Some(THRESHOLD_ERRORS),
        (false, true) => Some("p95 latency"),
        (false, false) => None,
    }
}

const FLAGGER_SUCCESS: &str = "request-success-rate";
const FLAGGER_DURATION: &str = "request-duration";

/// Flagger's built-in metrics, absolute: a check fails when the new
/// version's success rate is under 99 % or its p99 over 500 ms. A window
/// without requests on the new version does not fail.
fn flagger_check(window: &Reading) -> Option<&'static str> {
    let new = &window.new;
    let errors = new
        .error_rate_pct()
        .is_some_and(|rate| 100.0 - rate < FLAGGER_MIN_SUCCESS_PCT);
    let latency = new
        .latency
        .quantile_ms(0.99)
        .is_some_and(|p99| p99 > FLAGGER_MAX_P99_MS);
    match (errors, latency) {
        (true, true) => Some("request-success-rate + request-duration"),
        (true, false) => Some(FLAGGER_SUCCESS),
        (false, true) => Some(FLAGGER_DURATION),
        (false, false) => None,
    }
}
