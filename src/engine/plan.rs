//! The steps of a release, per strategy (one function per strategy, as in
//! Argo Rollouts' `canary.go` / `bluegreen.go`). The state machine walks a
//! plan; a plan is plain data so `helmsman plan` and the cockpit can print
//! it before anything moves.

use std::time::Duration;

use crate::config::duration::format as fmt_duration;
use crate::config::{self, Strategy};

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
    /// The new version becomes stable.
    Finish,
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

/// The full plan of a release. With `fleet: None`, rolling plans stop after
/// `Prepare` (their batches depend on the instance counts) and blue-green
/// plans scale the old side down to "all" new instances once known.
pub fn plan(strategy: &Strategy, fleet: Option<Fleet>) -> Vec<PlanStep> {
    let mut steps = vec![PlanStep::Prepare];
    match strategy {
        Strategy::Canary { steps: s } => steps.extend(canary(s, PlanStep::Weight)),
        Strategy::FeatureFlag { steps: s, .. } => steps.extend(canary(s, PlanStep::Flag)),
        Strategy::BlueGreen {
            preview_for,
            manual_switch,
            scale_down_delay,
            ..
        } => {
            steps.push(PlanStep::Preview(*preview_for));
            if *manual_switch {
                steps.push(PlanStep::ManualSwitch);
            }
            steps.push(PlanStep::Switch);
            steps.push(PlanStep::KeepOld(*scale_down_delay));
            if let Some(fleet) = fleet {
                steps.push(PlanStep::Instances {
                    stable: 0,
                    new: fleet.new,
                });
            }
        }
        Strategy::Rolling {
            max_surge,
            max_unavailable,
            batch_pause,
        } => {
            if let Some(fleet) = fleet {
                for (stable, new) in rolling_batches(fleet, *max_surge, *max_unavailable) {
                    steps.push(PlanStep::Instances { stable, new });
                    steps.push(PlanStep::HealthGate(*batch_pause));
                }
            }
        }
    }
    steps.push(PlanStep::Finish);
    steps
}

/// Canary and feature-flag steps; if they end below 100 %, a final
/// promotion to 100 % is added.
fn canary(steps: &[config::Step], set: fn(u8) -> PlanStep) -> Vec<PlanStep> {
    let mut out: Vec<PlanStep> = steps
        .iter()
        .map(|s| match s {
            config::Step::Weight(w) => set(*w),
            config::Step::Pause(d) => PlanStep::Pause(*d),
            config::Step::ManualGate => PlanStep::ManualGate,
            config::Step::Analysis(d) => PlanStep::Analysis(*d),
        })
        .collect();
    let last = steps.iter().rev().find_map(|s| match s {
        config::Step::Weight(w) => Some(*w),
        _ => None,
    });
    if last != Some(100) {
        out.push(set(100));
    }
    out
}

/// The rolling batches `(stable, new)` in rotation, from all stable to all
/// new, the way Kubernetes rolls a Deployment: scale the new side up as far
/// as `max_surge` allows, then the old side down as far as
/// `max_unavailable` allows, and repeat. The desired size is the new
/// version's instance count. With surge 1 / unavailable 0 over 4 instances:
/// (4,1) (3,1) (3,2) (2,2) (2,3) (1,3) (1,4) (0,4).
pub fn rolling_batches(fleet: Fleet, max_surge: u32, max_unavailable: u32) -> Vec<(usize, usize)> {
    let desired = fleet.new;
    // Both zero would never move; validation forbids it, and here it means
    // "one at a time" rather than a plan that hangs.
    let surge = if max_surge == 0 && max_unavailable == 0 {
        1
    } else {
        max_surge as usize
    };
    let unavailable = max_unavailable as usize;
    let (mut s, mut n) = (fleet.stable, 0usize);
    let mut batches = Vec::new();
    while (s, n) != (0, desired) {
        let up = desired.min(n.max((desired + surge).saturating_sub(s)));
        if up > n {
            n = up;
            batches.push((s, n));
        }
        let down = s.min(desired.saturating_sub(unavailable).saturating_sub(n));
        if down < s {
            s = down;
            batches.push((s, n));
        }
        // Each round moves at least one side (surge and unavailable are
        // never both zero here), so this bound is never reached; it keeps a
        // future rule change from turning into a hang.
        if batches.len() > 2 * (fleet.stable + desired) + 2 {
            batches.push((0, desired));
            break;
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn rolling_surge_one_unavailable_zero() {
        let b = rolling_batches(Fleet { stable: 4, new: 4 }, 1, 0);
        assert_eq!(
            b,
            vec![
                (4, 1),
                (3, 1),
                (3, 2),
                (2, 2),
                (2, 3),
                (1, 3),
                (1, 4),
                (0, 4)
            ]
        );
    }

    #[test]
    fn rolling_surge_zero_unavailable_one() {
        let b = rolling_batches(Fleet { stable: 3, new: 3 }, 0, 1);
        assert_eq!(b, vec![(2, 0), (2, 1), (1, 1), (1, 2), (0, 2), (0, 3)]);
    }

    #[test]
    fn rolling_bigger_batches_and_uneven_fleets_terminate() {
        assert_eq!(
            rolling_batches(Fleet { stable: 4, new: 4 }, 2, 2),
            vec![(4, 2), (0, 2), (0, 4)]
        );
        for stable in 0..6 {
            for new in 1..6 {
                for surge in 0..3 {
                    for unavailable in 0..3 {
                        let b = rolling_batches(Fleet { stable, new }, surge, unavailable);
                        let last = b.last().copied().unwrap_or((stable, 0));
                        assert_eq!(
                            last,
                            (0, new),
                            "{stable} {new} {surge} {unavailable}: {b:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn canary_ends_with_a_promotion_when_steps_stop_short() {
        let s = Strategy::Canary {
            steps: vec![config::Step::Weight(10), config::Step::Pause(d(30))],
        };
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
        let s = Strategy::FeatureFlag {
            flag: "f".into(),
            steps: vec![config::Step::Weight(50), config::Step::Weight(100)],
        };
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
        let s = Strategy::BlueGreen {
            smoke_path: "/".into(),
            preview_for: d(30),
            manual_switch: true,
            scale_down_delay: d(60),
        };
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
