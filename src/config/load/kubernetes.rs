//! Reading a `type = "kubernetes"` backend: where the cluster is, and the
//! Deployments, Services and HTTPRoute of one service. Nothing here talks to
//! the cluster: `check-config` must work on a laptop without one.

use super::*;
use crate::config::metrics::MetricsSource;
use crate::config::model::KubernetesBackend;

const KUBERNETES_BACKEND_KEYS: &[&str] = &[
    "type",
    "kubeconfig",
    "context",
    "namespace",
    "traffic",
    "route",
    "stable_service",
    "canary_service",
    "stable_deployment",
    "canary_deployment",
    "container",
    "image",
    "canary_replicas",
];

/// How traffic is split; replica ratio and Service selectors are planned.
const TRAFFIC_KINDS: &[&str] = &["gateway-api"];

impl Walker<'_, '_> {
    pub(super) fn kubernetes_backend(&mut self, table: &Table, span: &Span) -> Option<Backend> {
        let place = "a kubernetes `[environments.services.backend]`";
        check_keys(self.errors, table, KUBERNETES_BACKEND_KEYS, place);
        let optional = |walker: &mut Self, key: &str| match get(table, key) {
            None => Some(None),
            Some(v) => as_name(walker.errors, key, v).map(Some),
        };
        let kubeconfig = optional(self, "kubeconfig");
        let context = optional(self, "context");
        let container = optional(self, "container");
        let name = |walker: &mut Self, key: &str, hint: &str| {
            walker
                .required(table, span, key, place, hint)
                .and_then(|v| as_name(walker.errors, key, v))
        };
        let namespace = name(self, "namespace", "add `namespace = \"shop\"`");
        let traffic = name(
            self,
            "traffic",
            "add `traffic = \"gateway-api\"`: an HTTPRoute's backendRefs weights split the traffic",
        )
        .and_then(|kind| self.traffic_kind(table, kind));
        let route = name(
            self,
            "route",
            "add `route = \"checkout\"`: the HTTPRoute whose weights helmsman sets",
        );
        let stable_service = name(
            self,
            "stable_service",
            "add `stable_service = \"checkout-stable\"`: the Service in front of the stable Deployment",
        );
        let canary_service = name(
            self,
            "canary_service",
            "add `canary_service = \"checkout-canary\"`: the Service in front of the canary Deployment",
        );
        let stable_deployment = name(
            self,
            "stable_deployment",
            "add `stable_deployment = \"checkout-stable\"`",
        );
        let canary_deployment = name(
            self,
            "canary_deployment",
            "add `canary_deployment = \"checkout-canary\"`",
        );
        let image = self
            .required(
                table,
                span,
                "image",
                place,
                "add `image = \"registry.example.com/checkout:{version}\"`",
            )
            .and_then(|v| self.image_template(v));
        let canary_replicas = match get(table, "canary_replicas") {
            None => Some(1),
            Some(v) => as_int_in(
                self.errors,
                "canary_replicas",
                v,
                1,
                1000,
                "the canary needs at least one replica to take traffic",
            )
            .map(|n| n as u32),
        };
        traffic?;
        Some(Backend::Kubernetes(KubernetesBackend {
            kubeconfig: kubeconfig?,
            context: context?,
            namespace: namespace?,
            route: route?,
            stable_service: stable_service?,
            canary_service: canary_service?,
            stable_deployment: stable_deployment?,
            canary_deployment: canary_deployment?,
            container: container?,
            image: image?,
            canary_replicas: canary_replicas?,
        }))
    }

    fn traffic_kind(&mut self, table: &Table, kind: String) -> Option<()> {
        if TRAFFIC_KINDS.contains(&kind.as_str()) {
            return Some(());
        }
        let at = get(table, "traffic").map(|v| v.span()).unwrap_or_default();
        self.errors.add_hint(
            &at,
            format!("unknown kubernetes traffic `{kind}`"),
            suggestion(&kind, TRAFFIC_KINDS, "supported"),
        );
        None
    }

    /// An image reference with exactly one `{version}`: the version is read
    /// back from the running image, so it must be recoverable.
    fn image_template(&mut self, value: &Value) -> Option<String> {
        let image = as_name(self.errors, "image", value)?;
        if image.matches("{version}").count() != 1 {
            self.errors.add_hint(
                &value.span(),
                format!("`image`: `{image}` must contain `{{version}}` exactly once"),
                "write the image of any version, e.g. \"registry.example.com/checkout:{version}\"",
            );
            return None;
        }
        Some(image)
    }

    /// A Kubernetes service has no helmsman data plane counting its
    /// requests, so its numbers must come from Prometheus; and only its
    /// canary (route weights) is implemented yet.
    pub(super) fn check_kubernetes_service(
        &mut self,
        metrics: &MetricsSource,
        metrics_at: &Span,
        strategy: &Strategy,
        strategy_at: &Span,
        who: &str,
    ) {
        if !matches!(strategy, Strategy::Canary { .. }) {
            self.errors.add_hint(
                strategy_at,
                format!(
                    "`{who}` runs in Kubernetes, where only canary releases are supported yet, not {}",
                    strategy.name()
                ),
                "use `strategy = \"canary\"`: the HTTPRoute's weights move traffic step by step; \
                 blue-green and rolling Kubernetes releases are planned",
            );
        }
        if matches!(metrics, MetricsSource::Local) {
            self.errors.add_hint(
                metrics_at,
                format!("`{who}` runs in Kubernetes but reads no metrics"),
                "add `[environments.services.metrics]` (or `[defaults.metrics]`) with type = \"prometheus\": \
                 the local data plane, which counts requests otherwise, is not in front of a cluster",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::load::parse_str;
    use crate::config::model::{Backend, KubernetesBackend};

    const SERVICE: &str = r#"[[environments]]
name = "prod"

[[environments.services]]
name = "checkout"
[environments.services.backend]
type = "kubernetes"
namespace = "shop"
traffic = "gateway-api"
route = "checkout"
stable_service = "checkout-stable"
canary_service = "checkout-canary"
stable_deployment = "checkout-stable"
canary_deployment = "checkout-canary"
image = "registry.example.com/checkout:{version}"
[environments.services.metrics]
type = "prometheus"
url = "http://127.0.0.1:9090"
requests = 'sum(http_requests_total{version="{version}"})'
errors_by_kind = 'sum by (kind) (http_errors_total{version="{version}"})'
p95_seconds = 'p95{version="{version}"}'
"#;

    fn load(text: &str) -> Result<KubernetesBackend, Vec<(usize, String, String)>> {
        match parse_str(text, Path::new("h.toml"), &|_| None) {
            Ok(config) => match &config.environments[0].services[0].backend {
                Backend::Kubernetes(k) => Ok(k.clone()),
                other => panic!("not kubernetes: {other:?}"),
            },
            Err(e) => Err(e
                .iter()
                .map(|e| {
                    (
                        e.line,
                        e.message.clone(),
                        e.hint.clone().unwrap_or_default(),
                    )
                })
                .collect()),
        }
    }

    #[test]
    fn a_complete_backend_loads_with_its_defaults() {
        let k = load(SERVICE).unwrap();
        assert_eq!(k.namespace, "shop");
        assert_eq!(k.route, "checkout");
        assert_eq!(k.canary_replicas, 1);
        assert_eq!((k.context, k.kubeconfig, k.container), (None, None, None));
    }

    #[test]
    fn problems_are_reported_where_they_are_with_a_hint() {
        let errors = load(&SERVICE.replace("route = \"checkout\"\n", "")).unwrap_err();
        assert_eq!(errors[0].0, 6);
        assert!(errors[0].1.contains("missing key `route`"), "{errors:?}");

        let errors = load(&SERVICE.replace("gateway-api", "gateway-apy")).unwrap_err();
        assert_eq!(errors[0].0, 9);
        assert!(errors[0].2.contains("`gateway-api`"), "{errors:?}");

        let errors = load(&SERVICE.replace(":{version}", ":latest")).unwrap_err();
        assert!(
            errors[0].1.contains("`{version}` exactly once"),
            "{errors:?}"
        );

        let errors = load(&SERVICE.replace("namespace =", "namespaec =")).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.1.contains("namespaec") && e.2.contains("namespace")),
            "{errors:?}"
        );

        let errors = load(&SERVICE.replace("image =", "canary_replicas = 0\nimage =")).unwrap_err();
        assert!(errors[0].1.contains("outside 1..=1000"), "{errors:?}");
    }

    #[test]
    fn a_kubernetes_service_needs_prometheus_metrics() {
        let local = SERVICE
            .split("[environments.services.metrics]")
            .next()
            .unwrap();
        let errors = load(local).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].1.contains("reads no metrics"), "{errors:?}");
        assert!(errors[0].2.contains("type = \"prometheus\""));
    }

    #[test]
    fn a_kubernetes_service_runs_canaries_only_for_now() {
        let rolling = SERVICE.replace(
            "name = \"checkout\"\n",
            "name = \"checkout\"\nstrategy = \"rolling\"\n",
        );
        let errors = load(&rolling).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, 6);
        assert!(errors[0].1.contains("only canary"), "{errors:?}");
    }
}
