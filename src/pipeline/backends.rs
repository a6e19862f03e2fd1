//! Builds the providers a release talks to from a service's configuration.
//! Adding a backend means adding an arm here and a module under
//! `providers/`, never touching the engine.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Backend, KubernetesSplit, MetricsSource, Service};
use crate::engine::driver::Providers;
use crate::engine::machine::ReleaseSpec;
use crate::providers::checks::http::HttpCheck;
use crate::providers::checks::service_proxy::ServiceProxyCheck;
use crate::providers::metrics::local::LocalMetrics;
use crate::providers::metrics::prometheus::PrometheusMetrics;
use crate::providers::traffic::kubernetes;
use crate::providers::traffic::local::LocalTraffic;
use crate::providers::{Check, Metrics, Traffic};

/// The service's traffic backend. Building one does no I/O, so it also
/// answers what the backend can do before a release.
pub fn traffic_for(service: &Service) -> Arc<dyn Traffic> {
    match &service.backend {
        Backend::Local(b) => Arc::new(LocalTraffic::new(b.admin, b.admin_token.clone())),
        Backend::Kubernetes(b) => kubernetes::traffic(b, &service.strategy),
    }
}

/// Where the release's numbers come from: the baseline is the stable
/// version the backend reported when the release started. `admin` is the
/// local data plane's, if the service has one.
fn metrics_for(spec: &ReleaseSpec, admin: Option<SocketAddr>) -> Arc<dyn Metrics> {
    match (&spec.service.metrics, admin) {
        (MetricsSource::Local, Some(admin)) => Arc::new(LocalMetrics::new(admin)),
        // The loader rejects a service without a data plane that reads no
        // Prometheus, so this only names the mistake of a hand-built spec.
        (MetricsSource::Local, None) => {
            Arc::new(LocalMetrics::new(SocketAddr::from(([127, 0, 0, 1], 0))))
        }
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
            Providers {
                traffic: Arc::new(LocalTraffic::new(b.admin, b.admin_token.clone())),
                metrics: metrics_for(spec, Some(b.admin)),
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
    }
}
