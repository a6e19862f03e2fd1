//! What a plan says of where a release runs: the backend in words, the
//! instances each version has where the configuration knows them, and a
//! step in the backend's own terms where they differ from percentages (the
//! weights a replica-ratio backend can reach, HAProxy's server weights).

use crate::config::{Backend, KubernetesBackend, KubernetesSplit, Service};
use crate::engine::plan::{Fleet, PlanStep};
use crate::providers::haproxy::traffic::weights_for;
use crate::providers::traffic::kubernetes::Ratio;

pub struct Where {
    pub fleet: Option<Fleet>,
    pub about: String,
    pub terms: Option<Terms>,
}

/// How a backend carries out a step, where it says more than the step.
pub enum Terms {
    /// Replica counts: a weight lands on the nearest one they can give.
    Ratio(Ratio),
    /// HAProxy server weights (0–256) and states, per version's servers.
    /// A flag's fractional split between the old and the new variant.
    Flag { old: String, new: String },
    /// `stable`: none while the serving version is unknown.
    HaProxy {
        stable: Option<Vec<String>>,
        new: Vec<String>,
    },
}

impl Terms {
    /// What `step` is on this backend; none: the step says it all.
    pub fn of(&self, step: &PlanStep) -> Option<String> {
        match (self, step) {
            (Terms::Ratio(ratio), PlanStep::Weight(asked)) => {
                let landed = ratio.weight_for(*asked);
                (landed != *asked).then(|| format!("lands on {landed}% with the replica counts"))
            }
            (Terms::HaProxy { stable, new }, PlanStep::Weight(asked)) => {
                let stable = stable.as_ref()?;
                let (w_new, w_stable) = weights_for(*asked, new.len(), stable.len());
                Some(format!(
                    "HAProxy weights: {} {w_new}, {} {w_stable}",
                    new.join(" "),
                    stable.join(" ")
                ))
            }
            (Terms::Flag { old, new }, PlanStep::Flag(percent)) => Some(format!(
                "flag split: {new} {percent} %, {old} {} %",
                100 - percent
            )),
            (Terms::HaProxy { stable, new }, PlanStep::Switch) => Some(format!(
                "HAProxy: {} ready at 256, then {} drained",
                new.join(" "),
                stable
                    .as_ref()
                    .map_or("the serving version's servers".into(), |s| s.join(" "))
            )),
            _ => None,
        }
    }
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
        Backend::Flagd(f) => {
            let about = format!(
                "flag `{}` in {}; the data plane on {} (admin {}) counts each request for the \
                 variant its `{}` header names",
                crate::providers::flagd::flag_of(service),
                f.flag_file.display(),
                f.plane.listen,
                f.plane.admin,
                f.plane.variant_header.as_deref().unwrap_or("?")
            );
            (None, about)
        }
        Backend::HaProxy(b) => {
            let servers = |v: &str| b.versions.get(v).map_or(0, Vec::len);
            let fleet = Fleet {
                stable: servers(stable),
                new: servers(version),
            };
            let about = format!(
                "HAProxy backend {} through the runtime API at {}",
                b.backend, b.runtime_api
            );
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
    let terms = match &service.backend {
        Backend::Kubernetes(k) => replica_ratio(k).map(Terms::Ratio),
        Backend::HaProxy(b) => Some(Terms::HaProxy {
            stable: b.versions.get(stable).cloned(),
            new: b.versions.get(version).cloned().unwrap_or_default(),
        }),
        Backend::Flagd(f) => Some(Terms::Flag {
            old: match f.plane.versions.contains_key(stable) {
                true => stable.to_string(),
                false => "the serving variant".to_string(),
            },
            new: version.to_string(),
        }),
        Backend::Local(_) => None,
    };
    Where {
        fleet,
        about,
        terms,
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
