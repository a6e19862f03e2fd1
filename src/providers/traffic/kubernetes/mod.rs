//! Kubernetes with the Gateway API: a canary Deployment beside the stable
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

mod calls;
pub(crate) mod client;
mod deployments;
mod route;

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::DynamicObject;
use kube::{Api, Client};
use tokio::sync::OnceCell;

use calls::Calls;
pub use calls::Patience;
use deployments::{Deployments, ImageTemplate, replicas};
use route::Refs;

use crate::config::KubernetesBackend;
use crate::providers::{Instance, ProviderError, Traffic, TrafficState};

pub struct KubernetesTraffic {
    backend: KubernetesBackend,
    calls: Calls,
    /// Built on first use, so configuring a cluster never needs one.
    client: OnceCell<Client>,
    /// The canary share helmsman last wrote to the route; `None` before
    /// its first write (the canary is then expected at 0 %).
    written: Mutex<Option<u8>>,
}

impl KubernetesTraffic {
    pub fn new(backend: &KubernetesBackend) -> Self {
        Self::with_patience(backend, Patience::default())
    }

    pub fn with_patience(backend: &KubernetesBackend, patience: Patience) -> Self {
        Self {
            calls: Calls {
                provider: describe(backend),
                namespace: backend.namespace.clone(),
                patience,
            },
            backend: backend.clone(),
            client: OnceCell::new(),
            written: Mutex::new(None),
        }
    }

    async fn client(&self) -> Result<Client, ProviderError> {
        self.client
            .get_or_try_init(|| client::connect(&self.backend))
            .await
            .cloned()
            .map_err(|detail| ProviderError::Unreachable {
                provider: self.calls.provider.clone(),
                detail,
            })
    }

    async fn deployments(&self) -> Result<Deployments<'_>, ProviderError> {
        Ok(Deployments {
            api: Api::namespaced(self.client().await?, &self.backend.namespace),
            calls: &self.calls,
            image: ImageTemplate {
                template: &self.backend.image,
                container: self.backend.container.as_deref(),
            },
        })
    }

    async fn routes(&self) -> Result<Api<DynamicObject>, ProviderError> {
        Ok(Api::namespaced_with(
            self.client().await?,
            &self.backend.namespace,
            &route::api_resource(),
        ))
    }

    fn refs(&self) -> Refs<'_> {
        Refs {
            stable: &self.backend.stable_service,
            canary: &self.backend.canary_service,
        }
    }

    fn route_problem(&self, detail: String) -> ProviderError {
        self.calls.rejected(format!(
            "HTTPRoute {}/{}: {detail}",
            self.backend.namespace, self.backend.route
        ))
    }

    /// Writes the canary's share; unless `overwrite`, only over the share
    /// helmsman itself wrote last (see the module's note on drift).
    async fn write_weight(&self, canary_percent: u8, overwrite: bool) -> Result<(), ProviderError> {
        let expected = self.written.lock().unwrap().unwrap_or(0);
        let routes = self.routes().await?;
        let refs = self.refs();
        self.calls
            .update(&routes, route::RESOURCE, &self.backend.route, |r| {
                let found = refs.canary_percent(r).map_err(|e| self.route_problem(e))?;
                if !overwrite && found != expected {
                    return Err(self.route_problem(format!(
                        "drift: the canary has {found} % but helmsman last set {expected} %; \
                         someone else changed the route, so helmsman will not overwrite it \
                         (set it back, or roll back)"
                    )));
                }
                refs.set_weights(r, canary_percent)
                    .map_err(|e| self.route_problem(e))
            })
            .await?;
        *self.written.lock().unwrap() = Some(canary_percent);
        Ok(())
    }
}

fn describe(backend: &KubernetesBackend) -> String {
    format!(
        "Kubernetes HTTPRoute {}/{}",
        backend.namespace, backend.route
    )
}

#[async_trait]
impl Traffic for KubernetesTraffic {
    fn describe(&self) -> String {
        self.calls.provider.clone()
    }

    fn write_timeout(&self) -> Duration {
        // A write may wait for a rollout, retrying its reads on the way.
        let p = &self.calls.patience;
        p.rollout_timeout + p.request_timeout * p.attempts * (p.conflicts + 2)
    }

    async fn prepare(&self, new_version: &str) -> Result<(), ProviderError> {
        let deployments = self.deployments().await?;
        let canary = &self.backend.canary_deployment;
        deployments
            .set(
                canary,
                Some(new_version),
                Some(self.backend.canary_replicas),
            )
            .await?;
        deployments.wait_rolled_out(canary).await
    }

    async fn set_weight(&self, new_percent: u8) -> Result<(), ProviderError> {
        let to_stable_only = new_percent == 0;
        self.write_weight(new_percent.min(100), to_stable_only)
            .await
    }

    async fn set_instances(&self, _stable: usize, _new: usize) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.describe(),
            what: "instance counts (rolling releases); use a canary".to_string(),
        })
    }

    async fn finish(&self) -> Result<(), ProviderError> {
        let deployments = self.deployments().await?;
        let canary = deployments.get(&self.backend.canary_deployment).await?;
        let new_version = deployments
            .image
            .running_version(&canary)
            .map_err(|e| self.calls.rejected(e))?;
        let stable = &self.backend.stable_deployment;
        deployments.set(stable, Some(&new_version), None).await?;
        deployments.wait_rolled_out(stable).await?;
        self.write_weight(0, true).await?;
        deployments
            .set(&self.backend.canary_deployment, None, Some(0))
            .await
    }

    async fn discard(&self) -> Result<(), ProviderError> {
        self.write_weight(0, true).await?;
        self.deployments()
            .await?
            .set(&self.backend.canary_deployment, None, Some(0))
            .await
    }

    async fn state(&self) -> Result<TrafficState, ProviderError> {
        let route = {
            let routes = self.routes().await?;
            let name = &self.backend.route;
            self.calls
                .call("get", route::RESOURCE, || routes.get(name))
                .await?
        };
        let new_weight = self
            .refs()
            .canary_percent(&route)
            .map_err(|e| self.route_problem(e))?;
        let deployments = self.deployments().await?;
        let stable = deployments.get(&self.backend.stable_deployment).await?;
        let canary = deployments.get(&self.backend.canary_deployment).await?;
        let version = |d: &Deployment| {
            deployments
                .image
                .running_version(d)
                .map_err(|detail| ProviderError::Invalid {
                    provider: self.describe(),
                    detail,
                })
        };
        let stable_version = version(&stable)?;
        let canary_replicas = replicas(&canary);
        let new_version = match canary_replicas.desired {
            0 => None,
            _ => Some(version(&canary)?),
        };
        Ok(TrafficState {
            stable_version,
            new_version,
            new_weight,
            stable: instances(&stable, new_weight < 100),
            new: instances(&canary, new_weight > 0),
            flag_percent: None,
        })
    }
}

/// A Deployment's replicas as instances: the ready ones healthy, the rest
/// (starting, crashing) not. Pods are not listed: the counts are what a
/// release is judged on, and they need no extra RBAC.
fn instances(deployment: &Deployment, in_rotation: bool) -> Vec<Instance> {
    let name = deployment.metadata.name.as_deref().unwrap_or("?");
    let counts = replicas(deployment);
    (0..counts.desired.max(counts.ready))
        .map(|i| Instance {
            name: format!("{name}#{i}"),
            in_rotation,
            healthy: i < counts.ready,
        })
        .collect()
}
