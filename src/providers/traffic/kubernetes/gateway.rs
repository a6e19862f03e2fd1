//! `traffic = "gateway-api"`: a canary Deployment beside the stable
//! one, each behind its own Service, and an HTTPRoute whose backendRefs
//! weights split user traffic between the two Services.
//!
//! - prepare: the canary Deployment gets the new image and `canary_replicas`
//!   replicas, and helmsman waits until they are available (weight stays 0).
//! - set_weight: stable `100 - w`, canary `w` in the route.
//! - finish: the stable Deployment takes the new image (waited for), the
//!   route goes back to stable 100 %, the canary is scaled to zero.
//! - discard: the route goes to stable 100 % at once, the canary is scaled
//!   to zero.
//!
//! Drift: helmsman remembers the canary share it last wrote. A route that
//! reads back differently was changed by someone else; the next weight
//! change refuses to overwrite it (the release holds with the reason)
//! instead of silently undoing their change. Sending everything back to
//! stable (weight 0, rollback, finish) still overwrites: getting traffic
//! off a canary is never refused.

use std::sync::Mutex;

use async_trait::async_trait;
use kube::Api;
use kube::api::DynamicObject;

use super::route::{self, Refs};
use super::{Cluster, instances};
use crate::observed::TrafficState;
use crate::providers::{ProviderError, Traffic, Weights};

pub(super) struct GatewayTraffic {
    pub cluster: Cluster,
    pub route: String,
    pub stable_service: String,
    pub canary_service: String,
    pub stable_deployment: String,
    pub canary_deployment: String,
    pub canary_replicas: u32,
    /// The canary share helmsman last wrote to the route; `None` before
    /// its first write (the canary is then expected at 0 %).
    pub written: Mutex<Option<u8>>,
}

impl GatewayTraffic {
    async fn routes(&self) -> Result<Api<DynamicObject>, ProviderError> {
        Ok(Api::namespaced_with(
            self.cluster.client().await?,
            &self.cluster.backend.namespace,
            &route::api_resource(),
        ))
    }

    fn refs(&self) -> Refs<'_> {
        Refs {
            stable: &self.stable_service,
            canary: &self.canary_service,
        }
    }

    fn route_problem(&self, detail: String) -> ProviderError {
        self.cluster.calls.rejected(format!(
            "HTTPRoute {}/{}: {detail}",
            self.cluster.backend.namespace, self.route
        ))
    }

    /// Writes the canary's share; unless `overwrite`, only over the share
    /// helmsman itself wrote last (see the module's note on drift).
    async fn write_weight(&self, canary_percent: u8, overwrite: bool) -> Result<(), ProviderError> {
        let expected = crate::sync::lock(&self.written).unwrap_or(0);
        let routes = self.routes().await?;
        let refs = self.refs();
        self.cluster
            .calls
            .update(&routes, route::RESOURCE, &self.route, |r| {
                let found = refs
                    .canary_percent(r)
                    .map_err(|e| self.route_problem(e.to_string()))?;
                if !overwrite && found != expected {
                    return Err(self.route_problem(format!(
                        "drift: the canary has {found} % but helmsman last set {expected} %; \
                         someone else changed the route, so helmsman will not overwrite it \
                         (set it back, or roll back)"
                    )));
                }
                refs.set_weights(r, canary_percent)
                    .map_err(|e| self.route_problem(e.to_string()))
            })
            .await?;
        *crate::sync::lock(&self.written) = Some(canary_percent);
        Ok(())
    }
}

#[async_trait]
impl Traffic for GatewayTraffic {
    named_by_the_cluster!();

    async fn prepare(&self, new_version: &str) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let canary = &self.canary_deployment;
        deployments
            .set(canary, Some(new_version), Some(self.canary_replicas))
            .await?;
        deployments.wait_rolled_out(canary).await
    }

    async fn finish(&self) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let canary = deployments.get(&self.canary_deployment).await?;
        let new_version = deployments
            .image
            .running_version(&canary)
            .map_err(|e| self.cluster.calls.rejected(e.to_string()))?;
        let stable = &self.stable_deployment;
        deployments.set(stable, Some(&new_version), None).await?;
        deployments.wait_rolled_out(stable).await?;
        self.write_weight(0, true).await?;
        deployments
            .set(&self.canary_deployment, None, Some(0))
            .await
    }

    async fn discard(&self) -> Result<(), ProviderError> {
        self.write_weight(0, true).await?;
        self.cluster
            .deployments()
            .await?
            .set(&self.canary_deployment, None, Some(0))
            .await
    }

    async fn state(&self) -> Result<TrafficState, ProviderError> {
        let route = {
            let routes = self.routes().await?;
            let name = &self.route;
            self.cluster
                .calls
                .call("get", route::RESOURCE, || routes.get(name))
                .await?
        };
        let new_weight = self
            .refs()
            .canary_percent(&route)
            .map_err(|e| self.route_problem(e.to_string()))?;
        let deployments = self.cluster.deployments().await?;
        let stable = deployments.get(&self.stable_deployment).await?;
        let canary = deployments.get(&self.canary_deployment).await?;
        let stable_version = self.cluster.version_of(&deployments, &stable)?;
        let new_version = self.cluster.canary_version(&deployments, &canary)?;
        Ok(TrafficState {
            stable_version,
            new_version,
            new_weight,
            stable: instances(&stable, new_weight < 100),
            new: instances(&canary, new_weight > 0),
            flag_percent: None,
            planned_new: None,
        })
    }

    fn as_weights(&self) -> Option<&dyn Weights> {
        Some(self)
    }
}

#[async_trait]
impl Weights for GatewayTraffic {
    async fn set_weight(&self, new_percent: u8) -> Result<(), ProviderError> {
        let to_stable_only = new_percent == 0;
        self.write_weight(new_percent.min(100), to_stable_only)
            .await
    }
}
