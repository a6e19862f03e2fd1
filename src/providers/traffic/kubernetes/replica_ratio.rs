//! `traffic = "replica-ratio"`: no mesh, no gateway. One Service selects
//! the pods of the stable and the canary Deployment alike, so the canary's
//! share of the requests is its share of the ready replicas.
//!
//! - prepare: the canary Deployment gets the new image at 0 replicas.
//! - set_weight(w): the canary gets round(w % × `replicas`) replicas (at
//!   least one for w > 0, and never so many that stable drops below
//!   `min_stable`), stable the rest. The side that grows is scaled and
//!   waited for first, so capacity never dips.
//! - finish: stable takes the new image at `replicas` (waited for), the
//!   canary goes to zero.
//! - discard: the canary goes to zero at once (the bad version stops
//!   serving first), then stable back to `replicas`.

use async_trait::async_trait;

use super::deployments::replicas;
use super::{Cluster, instances};
use crate::observed::TrafficState;
use crate::providers::{ProviderError, Traffic, Weights};

/// Which weights a replica count can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    /// Stable and canary replicas together.
    pub replicas: u32,
    /// Stable replicas never go below this during a release.
    pub min_stable: u32,
}

impl Ratio {
    /// Canary replicas for `percent`: the nearest reachable share; a share
    /// that would round to none is raised to one replica, since a step that
    /// asks for traffic must get some.
    pub fn canary_for(&self, percent: u8) -> u32 {
        if percent == 0 {
            return 0;
        }
        let nearest = (u32::from(percent) * self.replicas + 50) / 100;
        nearest.clamp(1, self.replicas - self.min_stable)
    }

    /// The weight `percent` lands on.
    pub fn weight_for(&self, percent: u8) -> u8 {
        share(self.canary_for(percent), self.replicas)
    }

    /// Every non-zero weight the canary can take.
    pub fn reachable(&self) -> Vec<u8> {
        (1..=self.replicas - self.min_stable)
            .map(|c| share(c, self.replicas))
            .collect()
    }
}

/// `part` of `total` in percent, rounded.
fn share(part: u32, total: u32) -> u8 {
    ((part * 100 + total / 2).checked_div(total).unwrap_or(0)) as u8
}

pub(super) struct ReplicaRatioTraffic {
    pub cluster: Cluster,
    pub stable_deployment: String,
    pub canary_deployment: String,
    pub ratio: Ratio,
}

impl ReplicaRatioTraffic {
    /// Scales to `canary` replicas and stable to the rest, growing first.
    async fn scale(&self, canary: u32) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let now = replicas(&deployments.get(&self.canary_deployment).await?).desired;
        let mut order = [
            (&self.canary_deployment, canary),
            (&self.stable_deployment, self.ratio.replicas - canary),
        ];
        if canary < now {
            order.reverse();
        }
        for (name, count) in order {
            deployments.set(name, None, Some(count)).await?;
            deployments.wait_rolled_out(name).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Traffic for ReplicaRatioTraffic {
    named_by_the_cluster!();

    async fn prepare(&self, new_version: &str) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let canary = &self.canary_deployment;
        deployments.set(canary, Some(new_version), Some(0)).await?;
        deployments.wait_rolled_out(canary).await
    }

    async fn finish(&self) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let canary = deployments.get(&self.canary_deployment).await?;
        let new_version = self.cluster.version_of(&deployments, &canary)?;
        let stable = &self.stable_deployment;
        deployments
            .set(stable, Some(&new_version), Some(self.ratio.replicas))
            .await?;
        deployments.wait_rolled_out(stable).await?;
        deployments
            .set(&self.canary_deployment, None, Some(0))
            .await
    }

    async fn discard(&self) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        deployments
            .set(&self.canary_deployment, None, Some(0))
            .await?;
        let stable = &self.stable_deployment;
        deployments
            .set(stable, None, Some(self.ratio.replicas))
            .await?;
        deployments.wait_rolled_out(stable).await
    }

    async fn state(&self) -> Result<TrafficState, ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let stable = deployments.get(&self.stable_deployment).await?;
        let canary = deployments.get(&self.canary_deployment).await?;
        let (stable_ready, canary_ready) = (replicas(&stable).ready, replicas(&canary).ready);
        let new_weight = share(canary_ready, stable_ready + canary_ready);
        Ok(TrafficState {
            stable_version: self.cluster.version_of(&deployments, &stable)?,
            new_version: self.cluster.canary_version(&deployments, &canary)?,
            new_weight,
            stable: instances(&stable, true),
            new: instances(&canary, true),
            flag_percent: None,
            planned_new: None,
        })
    }

    fn as_weights(&self) -> Option<&dyn Weights> {
        Some(self)
    }
}

#[async_trait]
impl Weights for ReplicaRatioTraffic {
    async fn set_weight(&self, new_percent: u8) -> Result<(), ProviderError> {
        self.scale(self.ratio.canary_for(new_percent.min(100)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOUR: Ratio = Ratio {
        replicas: 4,
        min_stable: 1,
    };

    #[test]
    fn weights_round_to_the_nearest_reachable_and_never_to_nothing() {
        assert_eq!(FOUR.reachable(), vec![25, 50, 75]);
        let landed: Vec<u8> = [0, 1, 10, 20, 40, 60, 90, 100]
            .map(|w| FOUR.weight_for(w))
            .to_vec();
        assert_eq!(landed, vec![0, 25, 25, 25, 50, 50, 75, 75]);
    }

    #[test]
    fn stable_keeps_its_minimum() {
        let two = Ratio {
            replicas: 10,
            min_stable: 8,
        };
        assert_eq!(two.reachable(), vec![10, 20]);
        assert_eq!(two.canary_for(100), 2);
        assert_eq!(share(0, 0), 0);
    }
}
