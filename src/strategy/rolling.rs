//! Rolling: batches of new instances replace old ones, each batch healthy
//! for a while before the next, the way Kubernetes rolls a Deployment.

use std::time::Duration;

use serde::Serialize;

use super::{Rollout, StrategyKind};
use crate::config::duration::format as fmt_duration;
use crate::engine::machine::TrafficWrite;
use crate::engine::plan::{Fleet, PlanStep};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rolling {
    /// Instances added above the desired count during a batch.
    pub max_surge: u32,
    /// Instances that may be out of rotation during a batch.
    pub max_unavailable: u32,
    /// How long a batch must stay healthy before the next one.
    pub batch_pause: Duration,
}

impl Default for Rolling {
    fn default() -> Self {
        Rolling {
            max_surge: 1,
            max_unavailable: 0,
            batch_pause: Duration::from_secs(10),
        }
    }
}

impl Rollout for Rolling {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Rolling
    }

    /// The batches depend on the instance counts: none before they are known.
    fn steps(&self, fleet: Option<Fleet>) -> Vec<PlanStep> {
        let Some(fleet) = fleet else {
            return Vec::new();
        };
        rolling_batches(fleet, self.max_surge, self.max_unavailable)
            .into_iter()
            .flat_map(|(stable, new)| {
                [
                    PlanStep::Instances { stable, new },
                    PlanStep::HealthGate(self.batch_pause),
                ]
            })
            .collect()
    }

    fn needs_fleet(&self) -> bool {
        true
    }

    /// Before the instance counts are known nothing was replaced.
    fn revert(&self, fleet: Option<Fleet>) -> Option<TrafficWrite> {
        fleet.map(|f| TrafficWrite::SetInstances {
            stable: f.stable,
            new: 0,
        })
    }

    fn promote_tail(&self, fleet: Option<Fleet>, _: bool) -> Vec<PlanStep> {
        fleet
            .map(|f| PlanStep::Instances {
                stable: 0,
                new: f.new,
            })
            .into_iter()
            .collect()
    }

    fn settings(&self) -> Vec<String> {
        vec![format!(
            "max surge {} · max unavailable {} · batch pause {}",
            self.max_surge,
            self.max_unavailable,
            fmt_duration(self.batch_pause)
        )]
    }
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

/// (stable, new) after each batch replacing four instances with four, one
/// surging and none unavailable: what the tests here and the machine's
/// expect of these settings.
#[cfg(test)]
pub(crate) const BATCHES_OF_FOUR_SURGE_ONE: [(usize, usize); 8] = [
    (4, 1),
    (3, 1),
    (3, 2),
    (2, 2),
    (2, 3),
    (1, 3),
    (1, 4),
    (0, 4),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_surge_one_unavailable_zero() {
        let b = rolling_batches(Fleet { stable: 4, new: 4 }, 1, 0);
        assert_eq!(b, BATCHES_OF_FOUR_SURGE_ONE);
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
}
