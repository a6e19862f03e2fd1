//! Kubernetes: Deployments and the way user traffic moves to the new
//! version (`traffic = "…"` in the configuration), one module each:
//!
//! - `gateway-api` (gateway.rs), canary: an HTTPRoute's backendRefs weights
//!   between a stable and a canary Deployment's Services;
//! - `replica-ratio` (replica_ratio.rs), canary: one Service in front of
//!   both Deployments, the canary's share being its share of the replicas;
//! - `service-selector` (service_selector.rs), blue-green: the active
//!   Service's selector picks the blue or the green Deployment;
//! - `rolling-update` (rolling_update.rs), rolling: one Deployment rolled
//!   by Kubernetes and paused by helmsman at each batch.
//!
//! All read, change and write back with the resourceVersion (calls.rs)
//! and roll Deployments out as `kubectl rollout status` (deployments.rs).

/// The name in messages and the write timeout of a traffic kind, which
/// are its cluster's: the first lines of each kind's `Traffic` impl.
macro_rules! named_by_the_cluster {
    () => {
        fn describe(&self) -> String {
            self.cluster.describe()
        }

        fn write_timeout(&self) -> std::time::Duration {
            self.cluster.write_timeout()
        }
    };
}

mod calls;
pub(crate) mod client;
mod deployments;
mod gateway;
pub mod lease;
mod replica_ratio;
mod rolling_update;
mod route;
mod service_selector;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client};
use tokio::sync::OnceCell;

use calls::Calls;
pub use calls::Patience;
use deployments::{Deployments, ImageTemplate, replicas};
pub use replica_ratio::Ratio;
pub use rolling_update::Pace;

use crate::config::{KubernetesBackend, KubernetesSplit, Strategy};
use crate::observed::Instance;
use crate::providers::{ProviderError, Traffic};

/// The backend a service's `traffic` kind selects. `strategy` is the
/// service's: a rolling update moves at its pace.
pub fn traffic(backend: &KubernetesBackend, strategy: &Strategy) -> Arc<dyn Traffic> {
    traffic_with_patience(backend, strategy, Patience::default())
}

/// [`traffic`], with the calls' patience given (tests wait less).
pub fn traffic_with_patience(
    backend: &KubernetesBackend,
    strategy: &Strategy,
    patience: Patience,
) -> Arc<dyn Traffic> {
    let cluster = Cluster {
        calls: Calls {
            provider: describe(backend),
            namespace: backend.namespace.clone(),
            patience,
        },
        backend: backend.clone(),
        client: OnceCell::new(),
    };
    match &backend.split {
        KubernetesSplit::GatewayApi {
            route,
            stable_service,
            canary_service,
            stable_deployment,
            canary_deployment,
            canary_replicas,
        } => Arc::new(gateway::GatewayTraffic {
            cluster,
            route: route.clone(),
            stable_service: stable_service.clone(),
            canary_service: canary_service.clone(),
            stable_deployment: stable_deployment.clone(),
            canary_deployment: canary_deployment.clone(),
            canary_replicas: *canary_replicas,
            written: Mutex::new(None),
        }),
        KubernetesSplit::ReplicaRatio {
            stable_deployment,
            canary_deployment,
            replicas,
            min_stable,
            ..
        } => Arc::new(replica_ratio::ReplicaRatioTraffic {
            cluster,
            stable_deployment: stable_deployment.clone(),
            canary_deployment: canary_deployment.clone(),
            ratio: Ratio {
                replicas: *replicas,
                min_stable: *min_stable,
            },
        }),
        KubernetesSplit::ServiceSelector {
            active_service,
            preview_service,
            blue_deployment,
            green_deployment,
            selector_label,
        } => Arc::new(service_selector::ServiceSelectorTraffic {
            cluster,
            active_service: active_service.clone(),
            preview_service: preview_service.clone(),
            blue_deployment: blue_deployment.clone(),
            green_deployment: green_deployment.clone(),
            selector_label: selector_label.clone(),
            old_deployment: Mutex::new(None),
            written: Mutex::new(None),
        }),
        KubernetesSplit::RollingUpdate { deployment } => {
            // The configuration pairs a rolling update with a rolling
            // strategy only; without one it moves at the default pace.
            let rolling = strategy.as_rolling().cloned().unwrap_or_default();
            let pace = Pace {
                max_surge: rolling.max_surge,
                max_unavailable: rolling.max_unavailable,
            };
            Arc::new(rolling_update::RollingUpdateTraffic::new(
                cluster,
                deployment.clone(),
                pace,
            ))
        }
    }
}

fn describe(backend: &KubernetesBackend) -> String {
    match &backend.split {
        KubernetesSplit::GatewayApi { route, .. } => {
            format!("Kubernetes HTTPRoute {}/{route}", backend.namespace)
        }
        KubernetesSplit::ReplicaRatio { service, .. } => {
            format!(
                "Kubernetes Service {}/{service} (replica ratio)",
                backend.namespace
            )
        }
        KubernetesSplit::ServiceSelector { active_service, .. } => {
            format!(
                "Kubernetes Service {}/{active_service} (blue-green selector)",
                backend.namespace
            )
        }
        KubernetesSplit::RollingUpdate { deployment } => {
            format!(
                "Kubernetes Deployment {}/{deployment} (rolling update)",
                backend.namespace
            )
        }
    }
}

/// What every kind of split shares: the cluster and the two Deployments.
struct Cluster {
    backend: KubernetesBackend,
    calls: Calls,
    /// Built on first use, so configuring a cluster never needs one.
    client: OnceCell<Client>,
}

impl Cluster {
    async fn client(&self) -> Result<Client, ProviderError> {
        self.client
            .get_or_try_init(|| client::connect(&self.backend))
            .await
            .cloned()
            .map_err(|e| ProviderError::Unreachable {
                provider: self.calls.provider.clone(),
                detail: e.to_string(),
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

    /// The backend's name in messages: the kind and the object users'
    /// traffic goes through.
    fn describe(&self) -> String {
        self.calls.provider.clone()
    }

    /// A write may wait for rollouts, retrying its reads on the way.
    fn write_timeout(&self) -> Duration {
        let p = &self.calls.patience;
        p.rollout_timeout * 2 + p.request_timeout * p.attempts * (p.conflicts + 2)
    }

    /// The version a Deployment runs; a foreign image is invalid data.
    fn version_of(
        &self,
        deployments: &Deployments<'_>,
        deployment: &Deployment,
    ) -> Result<String, ProviderError> {
        deployments
            .image
            .running_version(deployment)
            .map_err(|e| ProviderError::Invalid {
                provider: self.calls.provider.clone(),
                detail: e.to_string(),
            })
    }

    /// The canary's version, `None` while it has no replicas.
    fn canary_version(
        &self,
        deployments: &Deployments<'_>,
        canary: &Deployment,
    ) -> Result<Option<String>, ProviderError> {
        match replicas(canary).desired {
            0 => Ok(None),
            _ => self.version_of(deployments, canary).map(Some),
        }
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
