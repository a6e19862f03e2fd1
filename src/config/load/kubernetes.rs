//! Reading a `type = "kubernetes"` backend: where the cluster is, and the
//! Deployments, Services and HTTPRoute of one service. Nothing here talks to
//! the cluster: `check-config` must work on a laptop without one.

use super::*;
use crate::config::metrics::MetricsSource;
use crate::config::model::{
    KUBERNETES_PAIRINGS, KubernetesBackend, KubernetesSplit, kubernetes_kinds_for,
};

/// Keys every kind of Kubernetes traffic reads.
const COMMON_KEYS: &[&str] = &[
    "type",
    "kubeconfig",
    "context",
    "namespace",
    "traffic",
    "container",
    "image",
];

/// Each traffic kind with the keys only it reads.
const TRAFFIC_KINDS: &[(&str, &[&str])] = &[
    (
        "gateway-api",
        &[
            "route",
            "stable_service",
            "canary_service",
            "stable_deployment",
            "canary_deployment",
            "canary_replicas",
        ],
    ),
    (
        "replica-ratio",
        &[
            "service",
            "stable_deployment",
            "canary_deployment",
            "replicas",
            "min_stable",
        ],
    ),
    (
        "service-selector",
        &[
            "active_service",
            "preview_service",
            "blue_deployment",
            "green_deployment",
            "selector_label",
        ],
    ),
    ("rolling-update", &["deployment"]),
];

/// The keys only `kind` reads.
fn keys_of(kind: &str) -> &'static [&'static str] {
    TRAFFIC_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(&[], |(_, keys)| keys)
}

impl Walker<'_, '_> {
    pub(super) fn kubernetes_backend(&mut self, table: &Table, span: &Span) -> Option<Backend> {
        let place = "a kubernetes `[environments.services.backend]`";
        let all_keys: Vec<&str> = COMMON_KEYS
            .iter()
            .chain(TRAFFIC_KINDS.iter().flat_map(|(_, keys)| keys.iter()))
            .copied()
            .collect();
        check_keys(self.errors, table, &all_keys, place);
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
        let split = name(
            self,
            "traffic",
            "add `traffic = \"gateway-api\"` (an HTTPRoute's weights split the traffic), \
             `traffic = \"replica-ratio\"` (one Service, the replica counts split it), \
             `traffic = \"service-selector\"` (blue-green: a Service's selector picks a slot) or \
             `traffic = \"rolling-update\"` (Kubernetes rolls one Deployment, batch by batch)",
        )
        .and_then(|kind| self.traffic_kind(table, kind))
        .and_then(|kind| match kind {
            "gateway-api" => self.gateway_api(table, span),
            "service-selector" => self.service_selector(table, span),
            "rolling-update" => self.rolling_update(table, span),
            _ => self.replica_ratio(table, span),
        });
        let image = self
            .required(
                table,
                span,
                "image",
                place,
                "add `image = \"registry.example.com/checkout:{version}\"`",
            )
            .and_then(|v| self.image_template(v));
        Some(Backend::Kubernetes(KubernetesBackend {
            kubeconfig: kubeconfig?,
            context: context?,
            namespace: namespace?,
            split: split?,
            container: container?,
            image: image?,
        }))
    }

    /// The kind named by `traffic`; keys of another kind are an error
    /// naming the kind they belong to.
    fn traffic_kind(&mut self, table: &Table, kind: String) -> Option<&'static str> {
        let at = get(table, "traffic").map(|v| v.span()).unwrap_or_default();
        let Some(&(known, _)) = TRAFFIC_KINDS.iter().find(|(k, _)| *k == kind) else {
            let names: Vec<&str> = TRAFFIC_KINDS.iter().map(|(k, _)| *k).collect();
            self.errors.add_hint(
                &at,
                format!("unknown kubernetes traffic `{kind}`"),
                suggestion(&kind, &names, "supported"),
            );
            return None;
        };
        let mut misplaced = false;
        let foreign = TRAFFIC_KINDS
            .iter()
            .flat_map(|(_, keys)| keys.iter())
            .filter(|key| !keys_of(known).contains(key));
        let mut reported: Vec<&str> = Vec::new();
        for &key in foreign {
            let Some(v) = get(table, key).filter(|_| !reported.contains(&key)) else {
                continue;
            };
            reported.push(key);
            misplaced = true;
            let owners: Vec<String> = TRAFFIC_KINDS
                .iter()
                .filter(|(_, keys)| keys.contains(&key))
                .map(|(kind, _)| format!("`traffic = \"{kind}\"`"))
                .collect();
            self.errors.add_hint(
                &v.span(),
                format!("`{key}` belongs to {}, not `{known}`", owners.join(" or ")),
                format!("remove `{key}`, or set {}", owners.join(" or ")),
            );
        }
        (!misplaced).then_some(known)
    }

    /// The stable and the canary Deployment of the two canary kinds.
    fn deployment_pair(
        &mut self,
        table: &Table,
        span: &Span,
        place: &str,
    ) -> Option<(String, String)> {
        let mut name = |key: &str, hint: &str| {
            self.required(table, span, key, place, hint)
                .and_then(|v| as_name(self.errors, key, v))
        };
        let stable = name(
            "stable_deployment",
            "add `stable_deployment = \"checkout-stable\"`: the Deployment serving today",
        );
        let canary = name(
            "canary_deployment",
            "add `canary_deployment = \"checkout-canary\"`: the Deployment that runs the new version",
        );
        Some((stable?, canary?))
    }

    fn gateway_api(&mut self, table: &Table, span: &Span) -> Option<KubernetesSplit> {
        let place = "a kubernetes `[environments.services.backend]` with traffic = \"gateway-api\"";
        let mut name = |key: &str, hint: &str| {
            self.required(table, span, key, place, hint)
                .and_then(|v| as_name(self.errors, key, v))
        };
        let route = name(
            "route",
            "add `route = \"checkout\"`: the HTTPRoute whose weights helmsman sets",
        );
        let stable_service = name(
            "stable_service",
            "add `stable_service = \"checkout-stable\"`: the Service in front of the stable Deployment",
        );
        let canary_service = name(
            "canary_service",
            "add `canary_service = \"checkout-canary\"`: the Service in front of the canary Deployment",
        );
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
        let deployments = self.deployment_pair(table, span, place);
        let (stable_deployment, canary_deployment) = deployments?;
        Some(KubernetesSplit::GatewayApi {
            route: route?,
            stable_deployment,
            canary_deployment,
            stable_service: stable_service?,
            canary_service: canary_service?,
            canary_replicas: canary_replicas?,
        })
    }

    fn replica_ratio(&mut self, table: &Table, span: &Span) -> Option<KubernetesSplit> {
        let place =
            "a kubernetes `[environments.services.backend]` with traffic = \"replica-ratio\"";
        let service = self
            .required(
                table,
                span,
                "service",
                place,
                "add `service = \"checkout\"`: the Service selecting the pods of both Deployments",
            )
            .and_then(|v| as_name(self.errors, "service", v));
        let replicas = self
            .required(
                table,
                span,
                "replicas",
                place,
                "add `replicas = 4`: stable and canary replicas together; with 4 the canary \
                 can take 25, 50 or 75 %",
            )
            .and_then(|v| {
                as_int_in(
                    self.errors,
                    "replicas",
                    v,
                    2,
                    1000,
                    "a canary needs one replica and stable at least one",
                )
            })
            .map(|n| n as u32);
        let min_stable = match get(table, "min_stable") {
            None => Some(1),
            Some(v) => as_int_in(
                self.errors,
                "min_stable",
                v,
                1,
                999,
                "stable keeps at least one replica until the release is finished",
            )
            .map(|n| n as u32),
        };
        let deployments = self.deployment_pair(table, span, place);
        let (service, replicas, min_stable) = (service?, replicas?, min_stable?);
        let (stable_deployment, canary_deployment) = deployments?;
        if min_stable >= replicas {
            let at = get(table, "min_stable")
                .map(|v| v.span())
                .unwrap_or_default();
            self.errors.add_hint(
                &at,
                format!(
                    "`min_stable` = {min_stable} leaves no replica of {replicas} to the canary"
                ),
                format!("set `min_stable` below {replicas}, or raise `replicas`"),
            );
            return None;
        }
        Some(KubernetesSplit::ReplicaRatio {
            service,
            stable_deployment,
            canary_deployment,
            replicas,
            min_stable,
        })
    }

    fn service_selector(&mut self, table: &Table, span: &Span) -> Option<KubernetesSplit> {
        let place =
            "a kubernetes `[environments.services.backend]` with traffic = \"service-selector\"";
        let mut name = |key: &str, hint: &str| {
            self.required(table, span, key, place, hint)
                .and_then(|v| as_name(self.errors, key, v))
        };
        let active_service = name(
            "active_service",
            "add `active_service = \"checkout\"`: the Service users hit; helmsman points its \
             selector at the live slot",
        );
        let preview_service = name(
            "preview_service",
            "add `preview_service = \"checkout-preview\"`: the Service that selects the new \
             slot for the smoke checks",
        );
        let blue_deployment = name(
            "blue_deployment",
            "add `blue_deployment = \"checkout-blue\"`: the Deployment whose pods carry slot: blue",
        );
        let green_deployment = name(
            "green_deployment",
            "add `green_deployment = \"checkout-green\"`: the Deployment whose pods carry slot: green",
        );
        let selector_label = match get(table, "selector_label") {
            None => Some("slot".to_string()),
            Some(v) => as_name(self.errors, "selector_label", v),
        };
        let (blue_deployment, green_deployment) = (blue_deployment?, green_deployment?);
        if blue_deployment == green_deployment {
            let at = get(table, "green_deployment")
                .map(|v| v.span())
                .unwrap_or_default();
            self.errors.add_hint(
                &at,
                format!("`green_deployment` is `{green_deployment}`, the same as `blue_deployment`"),
                "blue-green needs two Deployments: one serves while the other takes the new version",
            );
            return None;
        }
        Some(KubernetesSplit::ServiceSelector {
            active_service: active_service?,
            preview_service: preview_service?,
            blue_deployment,
            green_deployment,
            selector_label: selector_label?,
        })
    }

    fn rolling_update(&mut self, table: &Table, span: &Span) -> Option<KubernetesSplit> {
        let place =
            "a kubernetes `[environments.services.backend]` with traffic = \"rolling-update\"";
        let deployment = self
            .required(
                table,
                span,
                "deployment",
                place,
                "add `deployment = \"checkout\"`: the Deployment Kubernetes rolls to the new image",
            )
            .and_then(|v| as_name(self.errors, "deployment", v))?;
        Some(KubernetesSplit::RollingUpdate { deployment })
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
    /// requests, so its numbers must come from Prometheus; and each traffic
    /// kind runs one strategy (KUBERNETES_PAIRINGS).
    pub(super) fn check_kubernetes_service(
        &mut self,
        split: &KubernetesSplit,
        metrics: &MetricsSource,
        metrics_at: &Span,
        strategy: &Strategy,
        strategy_at: &Span,
        who: &str,
    ) {
        if !split.runs(strategy) {
            let kind = split.kind();
            let paired = KUBERNETES_PAIRINGS
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or("canary", |(_, s)| s);
            let kinds = kubernetes_kinds_for(strategy.name());
            let hint = match kinds.as_slice() {
                [] => format!(
                    "use `strategy = \"{paired}\"`: no Kubernetes traffic kind runs {} releases yet \
                     (a `type = \"flagd\"` backend runs them, through a flag file)",
                    strategy.name()
                ),
                _ => format!(
                    "for a {} release set {}; or use `strategy = \"{paired}\"`",
                    strategy.name(),
                    kinds.join(" or ")
                ),
            };
            self.errors.add_hint(
                strategy_at,
                format!(
                    "`{who}` runs in Kubernetes with `traffic = \"{kind}\"`, which runs only \
                     {paired} releases, not {}",
                    strategy.name()
                ),
                hint,
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
    use crate::config::model::{Backend, KubernetesBackend, KubernetesSplit};
    use crate::config::test_support::{self, environment};

    /// The backend of a gateway-api canary of prod/checkout.
    const GATEWAY_API: &str = r#"type = "kubernetes"
namespace = "shop"
traffic = "gateway-api"
route = "checkout"
stable_service = "checkout-stable"
canary_service = "checkout-canary"
stable_deployment = "checkout-stable"
canary_deployment = "checkout-canary"
image = "registry.example.com/checkout:{version}"
"#;

    /// A gateway-api canary of prod/checkout, without the metrics it needs.
    fn without_metrics() -> String {
        environment("prod") + &test_support::service("checkout", GATEWAY_API)
    }

    /// A gateway-api canary of prod/checkout.
    fn service() -> String {
        without_metrics() + crate::config::PROMETHEUS_METRICS_TOML
    }

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
        let k = load(&service()).unwrap();
        assert_eq!(k.namespace, "shop");
        assert!(matches!(
            k.split,
            KubernetesSplit::GatewayApi { ref route, canary_replicas: 1, .. } if route == "checkout"
        ));
        assert_eq!((k.context, k.kubeconfig, k.container), (None, None, None));
    }

    #[test]
    fn problems_are_reported_where_they_are_with_a_hint() {
        let errors = load(&service().replace("route = \"checkout\"\n", "")).unwrap_err();
        assert_eq!(errors[0].0, 6);
        assert!(errors[0].1.contains("missing key `route`"), "{errors:?}");

        let errors = load(&service().replace("gateway-api", "gateway-apy")).unwrap_err();
        assert_eq!(errors[0].0, 9);
        assert!(errors[0].2.contains("`gateway-api`"), "{errors:?}");

        let errors = load(&service().replace(":{version}", ":latest")).unwrap_err();
        assert!(
            errors[0].1.contains("`{version}` exactly once"),
            "{errors:?}"
        );

        let errors = load(&service().replace("namespace =", "namespaec =")).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.1.contains("namespaec") && e.2.contains("namespace")),
            "{errors:?}"
        );

        let errors =
            load(&service().replace("image =", "canary_replicas = 0\nimage =")).unwrap_err();
        assert!(errors[0].1.contains("outside 1..=1000"), "{errors:?}");
    }

    #[test]
    fn a_kubernetes_service_needs_prometheus_metrics() {
        let errors = load(&without_metrics()).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].1.contains("reads no metrics"), "{errors:?}");
        assert!(errors[0].2.contains("type = \"prometheus\""));
    }

    #[test]
    fn a_canary_traffic_kind_refuses_a_rolling_strategy() {
        let rolling = service().replace(
            "name = \"checkout\"\n",
            "name = \"checkout\"\nstrategy = \"rolling\"\n",
        );
        let errors = load(&rolling).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, 6);
        assert!(
            errors[0].1.contains(
                "`traffic = \"gateway-api\"`, which runs only canary releases, not rolling"
            ),
            "{errors:?}"
        );
        assert!(
            errors[0]
                .2
                .contains("for a rolling release set `traffic = \"rolling-update\"`"),
            "{errors:?}"
        );
    }

    /// The gateway-api keys swapped for `keys`, under `traffic = "rolling-update"`.
    fn rolling_update(strategy: &str, keys: &str) -> String {
        service()
            .replace("gateway-api", "rolling-update")
            .replace(
                "name = \"checkout\"\n",
                &format!("name = \"checkout\"\nstrategy = \"{strategy}\"\n"),
            )
            .replace(
                "route = \"checkout\"\nstable_service = \"checkout-stable\"\ncanary_service = \"checkout-canary\"\nstable_deployment = \"checkout-stable\"\ncanary_deployment = \"checkout-canary\"\n",
                keys,
            )
    }

    #[test]
    fn a_rolling_update_backend_loads_with_a_rolling_strategy() {
        let k = load(&rolling_update("rolling", "deployment = \"checkout\"\n")).unwrap();
        assert_eq!(
            k.split,
            KubernetesSplit::RollingUpdate {
                deployment: "checkout".into()
            }
        );

        let errors = load(&rolling_update("rolling", "")).unwrap_err();
        assert_eq!(errors[0].0, 7);
        assert!(
            errors[0].1.contains("missing key `deployment`"),
            "{errors:?}"
        );
        assert!(errors[0].2.contains("the Deployment Kubernetes rolls"));

        let errors = load(&rolling_update(
            "rolling",
            "deployment = \"checkout\"\nstable_deployment = \"a\"\n",
        ))
        .unwrap_err();
        assert!(
            errors[0].1.contains("`stable_deployment` belongs to"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_rolling_update_runs_rolling_releases_only() {
        let errors = load(&rolling_update("canary", "deployment = \"checkout\"\n")).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, 6);
        assert!(
            errors[0].1.contains(
                "`traffic = \"rolling-update\"`, which runs only rolling releases, not canary"
            ),
            "{errors:?}"
        );
        assert!(
            errors[0]
                .2
                .contains("`traffic = \"gateway-api\"` or `traffic = \"replica-ratio\"`"),
            "{errors:?}"
        );
        let flag = rolling_update("feature-flag", "deployment = \"checkout\"\n").replace(
            "strategy = \"feature-flag\"",
            "strategy = { kind = \"feature-flag\", flag = \"new-checkout\" }",
        );
        let errors = load(&flag).unwrap_err();
        assert!(
            errors.iter().any(|e| e
                .2
                .contains("no Kubernetes traffic kind runs feature-flag releases yet")),
            "{errors:?}"
        );
    }

    fn replica_ratio(keys: &str) -> String {
        service()
            .replace("gateway-api", "replica-ratio")
            .replace(
                "route = \"checkout\"\nstable_service = \"checkout-stable\"\ncanary_service = \"checkout-canary\"\n",
                keys,
            )
    }

    #[test]
    fn a_replica_ratio_backend_loads_and_keeps_a_canary_replica() {
        let k = load(&replica_ratio("service = \"checkout\"\nreplicas = 4\n")).unwrap();
        assert_eq!(
            k.split,
            KubernetesSplit::ReplicaRatio {
                service: "checkout".into(),
                stable_deployment: "checkout-stable".into(),
                canary_deployment: "checkout-canary".into(),
                replicas: 4,
                min_stable: 1
            }
        );
        let errors = load(&replica_ratio(
            "service = \"c\"\nreplicas = 4\nmin_stable = 4\n",
        ))
        .unwrap_err();
        assert!(errors[0].1.contains("leaves no replica"), "{errors:?}");
        let errors = load(&replica_ratio("service = \"c\"\n")).unwrap_err();
        assert!(errors[0].1.contains("missing key `replicas`"), "{errors:?}");
    }

    fn service_selector(keys: &str) -> String {
        service()
            .replace(
                "name = \"checkout\"\n",
                "name = \"checkout\"\nstrategy = \"blue-green\"\n",
            )
            .replace("gateway-api", "service-selector")
            .replace(
                "route = \"checkout\"\nstable_service = \"checkout-stable\"\ncanary_service = \"checkout-canary\"\nstable_deployment = \"checkout-stable\"\ncanary_deployment = \"checkout-canary\"\n",
                keys,
            )
    }

    const SLOTS: &str = "active_service = \"checkout\"\npreview_service = \"checkout-preview\"\n\
                         blue_deployment = \"checkout-blue\"\ngreen_deployment = \"checkout-green\"\n";

    #[test]
    fn a_service_selector_backend_loads_with_its_default_label() {
        let k = load(&service_selector(SLOTS)).unwrap();
        assert_eq!(
            k.split,
            KubernetesSplit::ServiceSelector {
                active_service: "checkout".into(),
                preview_service: "checkout-preview".into(),
                blue_deployment: "checkout-blue".into(),
                green_deployment: "checkout-green".into(),
                selector_label: "slot".into(),
            }
        );
        let k = load(&service_selector(&format!(
            "{SLOTS}selector_label = \"color\"\n"
        )))
        .unwrap();
        assert!(matches!(
            k.split,
            KubernetesSplit::ServiceSelector { ref selector_label, .. } if selector_label == "color"
        ));
    }

    #[test]
    fn a_service_selector_backend_names_its_missing_keys() {
        let errors = load(&service_selector(
            &SLOTS.replace("preview_service = \"checkout-preview\"\n", ""),
        ))
        .unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, 7);
        assert!(
            errors[0].1.contains("missing key `preview_service`"),
            "{errors:?}"
        );
        assert!(errors[0].2.contains("smoke checks"), "{errors:?}");

        let errors = load(&service_selector(
            &SLOTS.replace("checkout-green", "checkout-blue"),
        ))
        .unwrap_err();
        assert!(
            errors[0].1.contains("the same as `blue_deployment`"),
            "{errors:?}"
        );

        let errors = load(&service_selector(&format!("{SLOTS}canary_replicas = 2\n"))).unwrap_err();
        assert!(
            errors[0]
                .1
                .contains("`canary_replicas` belongs to `traffic = \"gateway-api\"`"),
            "{errors:?}"
        );
    }

    #[test]
    fn each_traffic_kind_runs_its_own_strategy() {
        // Blue-green on a canary kind: the hint names the kind that runs it.
        let blue_green = service().replace(
            "name = \"checkout\"\n",
            "name = \"checkout\"\nstrategy = \"blue-green\"\n",
        );
        let errors = load(&blue_green).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, 6);
        assert!(
            errors[0].1.contains(
                "`traffic = \"gateway-api\"`, which runs only canary releases, not blue-green"
            ),
            "{errors:?}"
        );
        assert!(
            errors[0].2.contains("set `traffic = \"service-selector\"`"),
            "{errors:?}"
        );

        // A canary on the blue-green kind: the hint names the canary kinds.
        let canary = service_selector(SLOTS).replace("strategy = \"blue-green\"\n", "");
        let errors = load(&canary).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, 4);
        assert!(
            errors[0]
                .1
                .contains("runs only blue-green releases, not canary"),
            "{errors:?}"
        );
        assert!(
            errors[0]
                .2
                .contains("`traffic = \"gateway-api\"` or `traffic = \"replica-ratio\"`"),
            "{errors:?}"
        );
    }

    #[test]
    fn keys_of_another_traffic_kind_name_the_kind() {
        let errors = load(&service().replace("gateway-api", "replica-ratio")).unwrap_err();
        assert!(
            errors.iter().any(|e| e
                .1
                .contains("`route` belongs to `traffic = \"gateway-api\"`")),
            "{errors:?}"
        );
        let errors = load(&service().replace("image =", "replicas = 4\nimage =")).unwrap_err();
        assert!(
            errors[0]
                .1
                .contains("belongs to `traffic = \"replica-ratio\"`"),
            "{errors:?}"
        );
    }
}
