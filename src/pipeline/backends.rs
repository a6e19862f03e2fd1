//! Builds the providers a release talks to from a service's configuration.
//! Adding a backend means adding an arm here and a module under
//! `providers/`, never touching the engine.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{
    Backend, ConnectionLimits, KubernetesSplit, LocalBackend, MetricsSource, Service,
};
use crate::engine::driver::Providers;
use crate::engine::machine::ReleaseSpec;
use crate::providers::checks::http::HttpCheck;
use crate::providers::checks::service_proxy::ServiceProxyCheck;
use crate::providers::flagd;
use crate::providers::haproxy;
use crate::providers::metrics::local::LocalMetrics;
use crate::providers::metrics::prometheus::PrometheusMetrics;
use crate::providers::traffic::kubernetes;
use crate::providers::traffic::local::LocalTraffic;
use crate::providers::traffic::local_reads::PlaneReads;
use crate::providers::{Check, Metrics, Traffic};

/// The service's traffic backend. Building one does no I/O, so it also
/// answers what the backend can do before a release.
fn local_traffic(b: &LocalBackend) -> LocalTraffic {
    LocalTraffic::new(b.admin, b.admin_token.clone(), &b.limits)
}

pub fn traffic_for(service: &Service) -> Arc<dyn Traffic> {
    match &service.backend {
        Backend::Local(b) => Arc::new(local_traffic(b)),
        Backend::Kubernetes(b) => kubernetes::traffic(b, &service.strategy),
        Backend::HaProxy(b) => Arc::new(haproxy::traffic_of(b, None)),
        Backend::Flagd(b) => Arc::new(flagd::traffic_of(
            b,
            local_traffic(&b.plane),
            flagd::flag_of(service),
        )),
    }
}

/// Where the release's numbers come from: the baseline is the stable
/// version the backend reported when the release started. `plane`: the
/// reads of the service's local data plane, if it has one.
fn metrics_for(spec: &ReleaseSpec, plane: Option<Arc<PlaneReads>>) -> Arc<dyn Metrics> {
    match (&spec.service.metrics, plane) {
        (MetricsSource::Local, Some(reads)) => Arc::new(LocalMetrics::sharing(reads)),
        (MetricsSource::Local, None) if let Backend::HaProxy(b) = &spec.service.backend => {
            Arc::new(haproxy::metrics_of(
                b,
                &spec.stable_version,
                &spec.new_version,
            ))
        }
        // The loader rejects a service without a data plane that reads no
        // Prometheus, so this only names the mistake of a hand-built spec.
        (MetricsSource::Local, None) => Arc::new(LocalMetrics::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            &ConnectionLimits::default(),
        )),
        (MetricsSource::Prometheus(source), _) => Arc::new(PrometheusMetrics::new(
            source,
            &spec.target.env,
            &spec.service.name,
            &spec.stable_version,
            &spec.new_version,
        )),
    }
}

pub fn providers_for(spec: &ReleaseSpec) -> Providers {
    let (service, new_version) = (&spec.service, spec.new_version.as_str());
    match &service.backend {
        Backend::Local(b) => {
            // Blue-green previews are smoke-tested on every new instance
            // directly, since no user traffic reaches them yet.
            let smoke_checks: Vec<Arc<dyn Check>> = match service.strategy.rollout().smoke_path() {
                Some(smoke_path) => b
                    .versions
                    .get(new_version)
                    .into_iter()
                    .flatten()
                    .map(|addr| {
                        Arc::new(HttpCheck::new(
                            format!("http://{addr}{smoke_path}"),
                            service.health.timeout,
                        )) as Arc<dyn Check>
                    })
                    .collect(),
                None => Vec::new(),
            };
            // One admin call answers a periodic reading of both.
            let traffic = local_traffic(b);
            Providers {
                metrics: metrics_for(spec, Some(traffic.reads())),
                traffic: Arc::new(traffic),
                smoke_checks,
            }
        }
        Backend::Kubernetes(b) => {
            // The preview Service is smoke-tested through the API server's
            // service proxy: helmsman rarely runs where a ClusterIP answers.
            let smoke_checks: Vec<Arc<dyn Check>> =
                match (service.strategy.rollout().smoke_path(), &b.split) {
                    (
                        Some(smoke_path),
                        KubernetesSplit::ServiceSelector {
                            preview_service, ..
                        },
                    ) => vec![Arc::new(ServiceProxyCheck::new(
                        b,
                        preview_service,
                        smoke_path,
                        service.health.timeout,
                    ))],
                    _ => Vec::new(),
                };
            Providers {
                traffic: kubernetes::traffic(b, &service.strategy),
                metrics: metrics_for(spec, None),
                smoke_checks,
            }
        }
        // Every instance runs both variants: nothing new to smoke-test.
        Backend::Flagd(b) => {
            let traffic = flagd::traffic_of(b, local_traffic(&b.plane), flagd::flag_of(service));
            Providers {
                metrics: metrics_for(spec, Some(traffic.plane().reads())),
                traffic: Arc::new(traffic),
                smoke_checks: Vec::new(),
            }
        }
        // Each new server is smoke-tested at the address HAProxy has for it.
        Backend::HaProxy(b) => Providers {
            traffic: Arc::new(haproxy::traffic_of(b, Some(&spec.stable_version))),
            metrics: metrics_for(spec, None),
            smoke_checks: match service.strategy.rollout().smoke_path() {
                Some(path) => {
                    haproxy::smoke_checks_of(b, new_version, path, service.health.timeout)
                        .into_iter()
                        .map(|check| Arc::new(check) as Arc<dyn Check>)
                        .collect()
                }
                None => Vec::new(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Capability;

    /// The configuration refuses a strategy its backend cannot run from
    /// `Backend::capabilities`; the release runs on what the provider
    /// implements. For every backend kind the two must say the same.
    #[tokio::test]
    async fn every_backend_declares_what_its_provider_implements() {
        let config = crate::config::load_file(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config.example.toml"
        )))
        .expect("the example configuration is valid");
        let local = config.service("dev", "checkout").unwrap().clone();
        let kubernetes = config.service("prod", "payments").unwrap().clone();
        let Backend::Kubernetes(k) = &kubernetes.backend else {
            panic!("payments runs in Kubernetes");
        };
        let name = String::from;
        let splits = [
            k.split.clone(),
            KubernetesSplit::ReplicaRatio {
                service: name("payments"),
                stable_deployment: name("payments-stable"),
                canary_deployment: name("payments-canary"),
                replicas: 4,
                min_stable: 1,
            },
            KubernetesSplit::ServiceSelector {
                active_service: name("payments"),
                preview_service: name("payments-preview"),
                blue_deployment: name("payments-blue"),
                green_deployment: name("payments-green"),
                selector_label: name("color"),
            },
            KubernetesSplit::RollingUpdate {
                deployment: name("payments"),
            },
        ];
        let mut haproxy = kubernetes.clone();
        haproxy.backend = Backend::HaProxy(crate::config::HaProxyBackend {
            runtime_api: haproxy::Address::parse("/run/haproxy/admin.sock").unwrap(),
            backend: name("payments"),
            versions: [(name("v1"), vec![name("payments-a1")])].into(),
        });
        let Backend::Local(plane) = &local.backend else {
            panic!("checkout runs on the local data plane");
        };
        let mut flag = local.clone();
        flag.backend = Backend::Flagd(crate::config::FlagdBackend {
            flag_file: "/etc/flagd/flags.json".into(),
            cohort: None,
            plane: plane.clone(),
        });
        let mut services = vec![local.clone(), haproxy, flag];
        for split in splits {
            let mut service = kubernetes.clone();
            let Backend::Kubernetes(k) = &mut service.backend else {
                unreachable!()
            };
            k.split = split;
            services.push(service);
        }
        let all = [
            Capability::Weights,
            Capability::Switch,
            Capability::Rotation,
            Capability::FlagPercent,
        ];
        for service in &services {
            let traffic = traffic_for(service);
            for capability in all {
                assert_eq!(
                    traffic.can(capability),
                    service.backend.capabilities().contains(&capability),
                    "{} and {capability:?}",
                    service.backend.words()
                );
            }
        }
    }
}
