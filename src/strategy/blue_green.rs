//! Blue-green: the new version is deployed beside the old one, previewed
//! with no user traffic, then gets all of it at once; the old version is
//! kept for an instant switch-back, then scaled down.

use std::time::Duration;

use serde::Serialize;

use super::{Rollout, StrategyKind};
use crate::config::duration::format as fmt_duration;
use crate::engine::machine::TrafficWrite;
use crate::engine::plan::{Fleet, PlanStep};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlueGreen {
    /// Path requested on every new instance, with no user traffic, before the switch.
    pub smoke_path: String,
    /// How long the preview must stay healthy before the switch.
    pub preview_for: Duration,
    /// Wait for a human before switching.
    pub manual_switch: bool,
    /// How long the old version is kept for an instant switch-back.
    pub scale_down_delay: Duration,
}

impl Default for BlueGreen {
    fn default() -> Self {
        BlueGreen {
            smoke_path: "/healthz".to_string(),
            preview_for: Duration::from_secs(30),
            manual_switch: false,
            scale_down_delay: Duration::from_secs(300),
        }
    }
}

/// The old side scaled down once the new one serves everything.
fn scale_down(fleet: Option<Fleet>) -> Option<PlanStep> {
    fleet.map(|f| PlanStep::Instances {
        stable: 0,
        new: f.new,
    })
}

impl Rollout for BlueGreen {
    fn kind(&self) -> StrategyKind {
        StrategyKind::BlueGreen
    }

    /// With `fleet: None` the old side is scaled down to "all" new
    /// instances once they are known.
    fn steps(&self, fleet: Option<Fleet>) -> Vec<PlanStep> {
        let mut steps = vec![PlanStep::Preview(self.preview_for)];
        if self.manual_switch {
            steps.push(PlanStep::ManualSwitch);
        }
        steps.push(PlanStep::Switch);
        steps.push(PlanStep::KeepOld(self.scale_down_delay));
        steps.extend(scale_down(fleet));
        steps
    }

    fn needs_fleet(&self) -> bool {
        true
    }

    fn revert(&self, _: Option<Fleet>) -> Option<TrafficWrite> {
        Some(TrafficWrite::Switch { to_new: false })
    }

    fn promote_tail(&self, fleet: Option<Fleet>, switched: bool) -> Vec<PlanStep> {
        let mut tail = Vec::new();
        if !switched {
            tail.push(PlanStep::Switch);
        }
        tail.extend(scale_down(fleet));
        tail
    }

    fn settings(&self) -> Vec<String> {
        let switch = if self.manual_switch {
            "manual"
        } else {
            "automatic"
        };
        vec![format!(
            "smoke {} · preview {} · {switch} switch · old kept {}",
            self.smoke_path,
            fmt_duration(self.preview_for),
            fmt_duration(self.scale_down_delay)
        )]
    }

    fn smoke_path(&self) -> Option<&str> {
        Some(&self.smoke_path)
    }
}
