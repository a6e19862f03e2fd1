//! Canary: the new version gets a growing share of requests, step by step.

use serde::Serialize;

use super::{Rollout, StrategyKind};
use crate::config::Step;
use crate::config::duration::format as fmt_duration;
use crate::engine::machine::TrafficWrite;
use crate::engine::plan::{Fleet, PlanStep};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Canary {
    pub steps: Vec<Step>,
}

impl Default for Canary {
    /// 5 % → pause 1m → 25 % → analysis 2m → 50 % → pause 2m → 100 %.
    fn default() -> Self {
        use std::time::Duration;
        Canary {
            steps: vec![
                Step::Weight(5),
                Step::Pause(Duration::from_secs(60)),
                Step::Weight(25),
                Step::Analysis(Duration::from_secs(120)),
                Step::Weight(50),
                Step::Pause(Duration::from_secs(120)),
                Step::Weight(100),
            ],
        }
    }
}

impl Rollout for Canary {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Canary
    }

    fn steps(&self, _: Option<Fleet>) -> Vec<PlanStep> {
        percent_steps(&self.steps, PlanStep::Weight)
    }

    fn revert(&self, _: Option<Fleet>) -> Option<TrafficWrite> {
        Some(TrafficWrite::SetWeight(0))
    }

    fn promote_tail(&self, _: Option<Fleet>, _: bool) -> Vec<PlanStep> {
        vec![PlanStep::Weight(100)]
    }

    fn settings(&self) -> Vec<String> {
        step_words(&self.steps)
    }
}

/// Canary and feature-flag steps, each percentage written with `set`; if
/// they end below 100 %, a final promotion to 100 % is added.
pub(super) fn percent_steps(steps: &[Step], set: fn(u8) -> PlanStep) -> Vec<PlanStep> {
    let mut out: Vec<PlanStep> = steps
        .iter()
        .map(|s| match s {
            Step::Weight(w) => set(*w),
            Step::Pause(d) => PlanStep::Pause(*d),
            Step::ManualGate => PlanStep::ManualGate,
            Step::Analysis(d) => PlanStep::Analysis(*d),
        })
        .collect();
    let last = steps.iter().rev().find_map(|s| match s {
        Step::Weight(w) => Some(*w),
        _ => None,
    });
    if last != Some(100) {
        out.push(set(100));
    }
    out
}

/// `5%`, `pause 30s`, `analysis 1m`, `gate`: joined as `5% → pause 30s → …`
pub(super) fn step_words(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|step| match step {
            Step::Weight(w) => format!("{w}%"),
            Step::Pause(d) => format!("pause {}", fmt_duration(*d)),
            Step::Analysis(d) => format!("analysis {}", fmt_duration(*d)),
            Step::ManualGate => "gate".to_string(),
        })
        .collect()
}
