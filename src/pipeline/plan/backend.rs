//! What a plan says of where a release runs: the backend in words, the
//! instances each version has where the configuration knows them, and the
//! weights a replica-ratio backend can reach.

use crate::config::{Backend, KubernetesBackend, KubernetesSplit, Service};
use crate::engine::plan::Fleet;
use crate::providers::traffic::kubernetes::Ratio;

pub struct Where {
    pub fleet: Option<Fleet>,
    pub about: String,
    pub ratio: Option<Ratio>,
}

/// Where a release of `version` of `service`, from `stable`, runs.
pub fn describe(service: &Service, stable: &str, version: &str) -> Where {
    let (fleet, about) = match &service.backend {
        Backend::Local(b) => {
            let instances = |v: &str| b.versions.get(v).map_or(0, Vec::len);
            let fleet = Fleet {
                stable: instances(stable),
                new: instances(version),
            };
            let about = format!("local data plane on {} (admin {})", b.listen, b.admin);
            (Some(fleet), about)
        }
        // The stable replicas are known only to the cluster, read at release.
        Backend::Kubernetes(k) => {
            let (new, about) = match &k.split {
                // The new slot gets as many replicas as the live one, which
                // only the cluster knows: the plan shows no instance counts.
                KubernetesSplit::ServiceSelector {
                    active_service,
                    preview_service,
                    blue_deployment,
                    green_deployment,
                    selector_label,
                } => (
                    None,
                    format!(
                        "Kubernetes namespace {}: Service {active_service} selects the live slot \
                         of {blue_deployment} / {green_deployment} by label `{selector_label}`; \
                         Service {preview_service} previews the new one (smoke-checked through \
                         the API server's service proxy); the old slot goes to 0 replicas after \
                         the keep-old delay",
                        k.namespace
                    ),
                ),
                KubernetesSplit::GatewayApi {
                    route,
                    stable_service,
                    canary_service,
                    canary_replicas,
                    ..
                } => (
                    Some(*canary_replicas),
                    format!(
                        "Kubernetes namespace {}: HTTPRoute {route} weights {stable_service} / {canary_service}",
                        k.namespace
                    ),
                ),
                KubernetesSplit::ReplicaRatio {
                    service,
                    stable_deployment,
                    canary_deployment,
                    replicas,
                    min_stable,
                } => {
                    let ratio = Ratio {
                        replicas: *replicas,
                        min_stable: *min_stable,
                    };
                    let reachable: Vec<String> =
                        ratio.reachable().iter().map(u8::to_string).collect();
                    (
                        Some(0),
                        format!(
                            "Kubernetes namespace {}: Service {service}, {replicas} replicas split \
                             {} / {}; reachable weights {} % (a step lands on the nearest, \
                             never on 0 %)",
                            k.namespace,
                            stable_deployment,
                            canary_deployment,
                            reachable.join("/")
                        ),
                    )
                }
                // The batches come from the Deployment's replicas, which
                // only the cluster knows.
                KubernetesSplit::RollingUpdate { deployment } => (
                    None,
                    format!(
                        "Kubernetes namespace {}: Deployment {deployment} rolled by Kubernetes, \
                         paused by helmsman at each batch",
                        k.namespace
                    ),
                ),
            };
            let fleet = new.map(|new| Fleet {
                stable: 0,
                new: new as usize,
            });
            (fleet, about)
        }
    };
    let ratio = match &service.backend {
        Backend::Kubernetes(k) => replica_ratio(k),
        Backend::Local(_) => None,
    };
    Where {
        fleet,
        about,
        ratio,
    }
}

/// The replica counts of a `replica-ratio` backend, which limit its weights.
fn replica_ratio(k: &KubernetesBackend) -> Option<Ratio> {
    match k.split {
        KubernetesSplit::ReplicaRatio {
            replicas,
            min_stable,
            ..
        } => Some(Ratio {
            replicas,
            min_stable,
        }),
        KubernetesSplit::GatewayApi { .. }
        | KubernetesSplit::ServiceSelector { .. }
        | KubernetesSplit::RollingUpdate { .. } => None,
    }
}
