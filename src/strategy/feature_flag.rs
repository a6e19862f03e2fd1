//! Feature flag: the new behaviour reaches a growing share of flag
//! evaluations, step by step; the flag backend does the routing.

use std::time::Duration;

use serde::Serialize;

use super::canary::{percent_steps, step_words};
use super::{Rollout, StrategyKind};
use crate::config::Step;
use crate::engine::machine::TrafficWrite;
use crate::engine::plan::{Fleet, PlanStep};
use crate::observed::TrafficState;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureFlag {
    pub flag: String,
    pub steps: Vec<Step>,
}

impl FeatureFlag {
    /// The flag `flag` with the documented steps: 1 → 5 → 25 → 50 → 100 %,
    /// a minute apart.
    pub fn named(flag: &str) -> Self {
        FeatureFlag {
            flag: flag.to_string(),
            steps: [1, 5, 25, 50, 100]
                .into_iter()
                .flat_map(|w| [Step::Weight(w), Step::Pause(Duration::from_secs(60))])
                .take(9)
                .collect(),
        }
    }
}

impl Rollout for FeatureFlag {
    fn kind(&self) -> StrategyKind {
        StrategyKind::FeatureFlag
    }

    fn steps(&self, _: Option<Fleet>) -> Vec<PlanStep> {
        percent_steps(&self.steps, PlanStep::Flag)
    }

    fn revert(&self, _: Option<Fleet>) -> Option<TrafficWrite> {
        Some(TrafficWrite::SetFlag(0))
    }

    fn promote_tail(&self, _: Option<Fleet>, _: bool) -> Vec<PlanStep> {
        vec![PlanStep::Flag(100)]
    }

    fn actual_weight(&self, state: &TrafficState) -> Option<u8> {
        state.flag_percent
    }

    fn settings(&self) -> Vec<String> {
        let mut parts = step_words(&self.steps);
        if let Some(first) = parts.first_mut() {
            *first = format!("flag {}: {first}", self.flag);
        }
        parts
    }
}
