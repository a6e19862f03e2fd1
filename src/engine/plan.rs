//! The steps of a release. Each strategy plans its own (`crate::strategy`,
//! one file per strategy, as Argo Rollouts' `canary.go` / `bluegreen.go`).
//! The state machine walks a plan; a plan is plain data so `helmsman plan`
//! and the cockpit can print it before anything moves.

use std::time::Duration;

mod jobs;

pub use jobs::of_service;

use crate::config;
use crate::config::HookPoint;
use crate::config::duration::format as fmt_duration;
use crate::strategy::Strategy;

/// One step the machine executes. Every release starts with `Prepare` and
/// ends with `Finish`.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanStep {
    /// Stage the new version beside stable with no user traffic, then read
    /// the traffic state back (instance counts are needed by later steps).
    Prepare,
    /// Canary: route this percentage to the new version.
    Weight(u8),
    /// Feature flag: set the flag's rollout percentage.
    Flag(u8),
    /// Wait this long; the triggers keep watching.
    Pause(Duration),
    /// Wait for a human to advance.
    ManualGate,
    /// Judge the new version over this window; advance only on a pass.
    Analysis(Duration),
    /// Blue-green: the new version is healthy and passes its smoke checks
    /// with no user traffic for this long.
    Preview(Duration),
    /// Blue-green: wait for a human before switching.
    ManualSwitch,
    /// Blue-green: all traffic to the new version.
    Switch,
    /// Blue-green: keep the old version for an instant switch-back.
    KeepOld(Duration),
    /// Put these many stable and new instances in rotation (rolling batches;
    /// blue-green scale-down of the old side).
    Instances { stable: usize, new: usize },
    /// Rolling: the new instances in rotation stay healthy this long.
    HealthGate(Duration),
    /// Run something of the team's between the traffic steps (a migration
    /// phase, its hooks); the step ends when it passed.
    Job(Job),
    /// The new version becomes stable.
    Finish,
}

/// What a [`PlanStep::Job`] runs. Placed in the plan by [`of_service`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// The migrations' backfill: the new version reads the new shape
    /// from here on. A failure rolls the release back.
    Migrate,
    /// The service's hooks at this point of the release.
    Hooks(HookPoint),
}

impl PlanStep {
    /// The step in words, for the snapshot and `helmsman plan`.
    pub fn describe(&self, new_version: &str) -> String {
        match self {
            PlanStep::Prepare => format!("prepare {new_version} (no user traffic)"),
            PlanStep::Weight(w) => format!("set weight {w}%"),
            PlanStep::Flag(p) => format!("set flag to {p}%"),
            PlanStep::Pause(d) => format!("pause {}", fmt_duration(*d)),
            PlanStep::ManualGate => "manual gate".to_string(),
            PlanStep::Analysis(d) => format!("analysis {}", fmt_duration(*d)),
            PlanStep::Preview(d) => {
                format!(
                    "preview {new_version}: healthy and smoke-checked for {}",
                    fmt_duration(*d)
                )
            }
            PlanStep::ManualSwitch => "manual gate before the switch".to_string(),
            PlanStep::Switch => format!("switch all traffic to {new_version}"),
            PlanStep::KeepOld(d) => format!("keep the old version for {}", fmt_duration(*d)),
            PlanStep::Instances { stable, new } => {
                format!("in rotation: {stable} stable, {new} new")
            }
            PlanStep::HealthGate(d) => format!("new instances healthy for {}", fmt_duration(*d)),
            PlanStep::Job(Job::Migrate) => "migrate: backfill for the new schema".to_string(),
            PlanStep::Job(Job::Hooks(HookPoint::Confirm)) => {
                "confirm: wait until the confirm hooks pass".to_string()
            }
            PlanStep::Job(Job::Hooks(point)) => format!("run the {point} hooks"),
            PlanStep::Finish => format!("finish: {new_version} becomes stable"),
        }
    }

    /// The minimum time this step takes (for `helmsman plan`).
    pub fn min_duration(&self) -> Duration {
        match self {
            PlanStep::Pause(d)
            | PlanStep::Analysis(d)
            | PlanStep::Preview(d)
            | PlanStep::KeepOld(d)
            | PlanStep::HealthGate(d) => *d,
            _ => Duration::ZERO,
        }
    }

    /// A step that writes to the traffic backend.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            PlanStep::Prepare
                | PlanStep::Weight(_)
                | PlanStep::Flag(_)
                | PlanStep::Switch
                | PlanStep::Instances { .. }
                | PlanStep::Finish
        )
    }
}

/// Instance counts a plan needs, from the traffic state read after
/// `Prepare`. Blue-green and rolling plans are only complete once they are
/// known; before that, [`plan`] returns the strategy's outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fleet {
    pub stable: usize,
    pub new: usize,
}

impl Fleet {
    /// What a backend reports: every instance of each version, or the
    /// instances the new version will have where the backend creates them
    /// as it rolls (a Kubernetes Deployment).
    pub fn of(state: &crate::observed::TrafficState) -> Fleet {
        Fleet {
            stable: state.stable.len(),
            new: state.planned_new.unwrap_or(state.new.len()),
        }
    }
}

/// The fleet a local backend's configuration lists for `stable` and `new`
/// (each version's instances are written out there), so a blue-green or
/// rolling plan shows its full length from the start instead of growing
/// once `Prepare` has read it back. `None` where only the backend knows
/// (a Kubernetes Deployment's replicas) or a version is not listed.
pub fn configured_fleet(backend: &config::Backend, stable: &str, new: &str) -> Option<Fleet> {
    let config::Backend::Local(local) = backend else {
        return None;
    };
    let instances = |v: &str| local.versions.get(v).map(Vec::len);
    Some(Fleet {
        stable: instances(stable)?,
        new: instances(new)?,
    })
}

/// The full plan of a release: `Prepare`, the strategy's steps, `Finish`.
/// With `fleet: None`, rolling plans stop after `Prepare` (their batches
/// depend on the instance counts) and blue-green plans scale the old side
/// down to "all" new instances once known.
pub fn plan(strategy: &Strategy, fleet: Option<Fleet>) -> Vec<PlanStep> {
    let mut steps = vec![PlanStep::Prepare];
    steps.extend(strategy.rollout().steps(fleet));
    steps.push(PlanStep::Finish);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::{BlueGreen, Canary, FeatureFlag};

    fn d(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn canary_ends_with_a_promotion_when_steps_stop_short() {
        let s = Strategy::Canary(Canary {
            steps: vec![config::Step::Weight(10), config::Step::Pause(d(30))],
        });
        assert_eq!(
            plan(&s, None),
            vec![
                PlanStep::Prepare,
                PlanStep::Weight(10),
                PlanStep::Pause(d(30)),
                PlanStep::Weight(100),
                PlanStep::Finish
            ]
        );
        let s = Strategy::FeatureFlag(FeatureFlag {
            flag: "f".into(),
            steps: vec![config::Step::Weight(50), config::Step::Weight(100)],
        });
        assert_eq!(
            plan(&s, None),
            vec![
                PlanStep::Prepare,
                PlanStep::Flag(50),
                PlanStep::Flag(100),
                PlanStep::Finish
            ]
        );
    }

    #[test]
    fn blue_green_plan() {
        let s = Strategy::BlueGreen(BlueGreen {
            smoke_path: "/".into(),
            preview_for: d(30),
            manual_switch: true,
            scale_down_delay: d(60),
        });
        assert_eq!(
            plan(&s, Some(Fleet { stable: 2, new: 3 })),
            vec![
                PlanStep::Prepare,
                PlanStep::Preview(d(30)),
                PlanStep::ManualSwitch,
                PlanStep::Switch,
                PlanStep::KeepOld(d(60)),
                PlanStep::Instances { stable: 0, new: 3 },
                PlanStep::Finish
            ]
        );
    }
}
