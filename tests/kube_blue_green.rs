//! Kubernetes blue-green (`traffic = "service-selector"`) against the fake
//! API server on loopback (tests/kube/fake_api.rs): two slot Deployments,
//! checkout-blue (slot: blue) and checkout-green (slot: green), an active
//! Service users hit and a preview Service, both selecting by `slot`.
//! Releases run through the real engine driver in real time with short
//! windows, smoke-checked through the API server's service proxy as
//! `helmsman release` wires it; failures are driven on the provider.

#[path = "kube/api_status.rs"]
mod api_status;
#[allow(dead_code)] // shared with tests/kube.rs
#[path = "kube/driven.rs"]
mod driven;
// The fake serves tests/kube.rs too: not every part of it is used here.
#[allow(dead_code)]
#[path = "kube/fake_api.rs"]
mod fake_api;
#[allow(dead_code)] // the pod-by-pod controller is tests/kube_rolling.rs's
#[path = "kube/fake_controller.rs"]
mod fake_controller;

use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde_json::Value;

use helmsman::cli::ExitCode;
use helmsman::config::{self, KubernetesBackend, KubernetesSplit, Strategy};
use helmsman::engine::driver::ReleaseHandle;
use helmsman::engine::{Command, CommandKind, CommandReply, ReleaseResult};
use helmsman::observed::CheckStatus;
use helmsman::providers::checks::service_proxy::ServiceProxyCheck;
use helmsman::providers::traffic::kubernetes::{self, Patience};
use helmsman::providers::{Check, ProviderError, Traffic};

use driven::{alice, finished, target};
use fake_api::{Answer, FakeApi, Fault, NAMESPACE, slot_deployment, slot_service};
use helmsman::strategy::BlueGreen;

const IMAGE: &str = "registry.example.com/checkout:";

/// Blue serves v1 with 3 replicas, green is idle; both Services on blue.
async fn cluster() -> FakeApi {
    FakeApi::start_with(vec![
        slot_deployment("checkout-blue", "blue", "v1", 3),
        slot_deployment("checkout-green", "green", "v1", 0),
        slot_service("checkout", "blue"),
        slot_service("checkout-preview", "blue"),
    ])
    .await
}

fn backend(api: &FakeApi) -> KubernetesBackend {
    KubernetesBackend {
        kubeconfig: Some(api.kubeconfig.to_str().unwrap().to_string()),
        context: Some("fake".into()),
        namespace: NAMESPACE.into(),
        split: KubernetesSplit::ServiceSelector {
            active_service: "checkout".into(),
            preview_service: "checkout-preview".into(),
            blue_deployment: "checkout-blue".into(),
            green_deployment: "checkout-green".into(),
            selector_label: "slot".into(),
        },
        container: Some("app".into()),
        image: format!("{IMAGE}{{version}}"),
    }
}

fn patience() -> Patience {
    Patience {
        request_timeout: Duration::from_millis(500),
        attempts: 3,
        first_backoff: Duration::from_millis(20),
        conflicts: 3,
        rollout_timeout: Duration::from_secs(20),
        rollout_poll: Duration::from_millis(20),
    }
}

fn traffic_for(api: &FakeApi) -> Arc<dyn Traffic> {
    kubernetes::traffic_with_patience(
        &backend(api),
        &Strategy::BlueGreen(BlueGreen::default()),
        patience(),
    )
}

fn fault(method: Method, plural: &'static str, answer: Answer, times: u32) -> Fault {
    Fault {
        method,
        plural,
        answer,
        times,
    }
}

/// The slot a Service selects.
fn selects(api: &FakeApi, service: &str) -> String {
    api.get("services", service)["spec"]["selector"]["slot"]
        .as_str()
        .unwrap()
        .to_string()
}

fn selector_of(object: &Value) -> &str {
    object["spec"]["selector"]["slot"].as_str().unwrap()
}

fn position(log: &[String], line: &str) -> usize {
    log.iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no `{line}` in {log:#?}"))
}

fn last_position(log: &[String], line: &str) -> usize {
    log.iter()
        .rposition(|l| l == line)
        .unwrap_or_else(|| panic!("no `{line}` in {log:#?}"))
}

// ----- releases through the engine driver -------------------------------

/// Releases `new` over `stable`: a short preview smoke-checked as
/// `helmsman release` would (`/healthz` through the service proxy), the
/// old slot kept for `keep_old`.
async fn release(api: &FakeApi, stable: &str, new: &str, keep_old: Duration) -> ReleaseHandle {
    let (stable_version, handle) = driven::Release {
        backend: backend(api),
        strategy: Strategy::BlueGreen(BlueGreen {
            smoke_path: "/healthz".into(),
            preview_for: Duration::from_millis(400),
            manual_switch: false,
            scale_down_delay: keep_old,
        }),
        patience: patience(),
        interval: Duration::from_millis(200),
        new_version: new.into(),
        smoke_checks: true,
    }
    .start()
    .await;
    assert_eq!(stable_version, stable);
    handle
}

fn reasons(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<std::sync::Arc<helmsman::engine::Event>>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    while let Ok(e) = events.try_recv() {
        reasons.push(e.reason.clone());
    }
    reasons
}

#[tokio::test]
async fn a_release_previews_switches_and_scales_the_old_slot_down_then_goes_back() {
    let api = cluster().await;
    let mut handle = release(&api, "v1", "v2", Duration::from_millis(300)).await;
    assert_eq!(finished(&mut handle).await, ReleaseResult::Succeeded);

    // Green runs v2 with blue's replicas; users and the preview are on it.
    assert_eq!(api.deployment("checkout-green"), (format!("{IMAGE}v2"), 3));
    assert_eq!(api.deployment("checkout-blue"), (format!("{IMAGE}v1"), 0));
    assert_eq!(selects(&api, "checkout"), "green");
    assert_eq!(selects(&api, "checkout-preview"), "green");
    // In order: green rolled out, the preview selected it and was checked
    // through the proxy, users switched, and only then blue went to zero.
    let log = api.log();
    let green_up = position(&log, "PUT deployments/checkout-green");
    let preview = position(&log, "PUT services/checkout-preview");
    let smoke = position(&log, "GET services/checkout-preview:http/proxy/healthz");
    let switch = position(&log, "PUT services/checkout");
    let blue_down = last_position(&log, "PUT deployments/checkout-blue");
    assert!(
        green_up < preview && preview < smoke && smoke < switch,
        "{log:#?}"
    );
    assert!(switch < blue_down, "{log:#?}");
    let reasons = reasons(&mut handle.events);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("preview smoke checks passed")
                && r.contains("Service shop/checkout-preview")
                && r.contains("HTTP 200")),
        "{reasons:#?}"
    );
    // Only the slot changed in the Service: its other selector term and ports stay.
    let active = api.get("services", "checkout");
    assert_eq!(active["spec"]["selector"]["app"], "checkout");
    assert_eq!(active["spec"]["ports"][0]["name"], "http");

    // The next release goes the other way, with a provider that knows
    // nothing of the first: green is live, blue takes v3.
    let mut handle = release(&api, "v2", "v3", Duration::from_millis(300)).await;
    assert_eq!(finished(&mut handle).await, ReleaseResult::Succeeded);
    assert_eq!(api.deployment("checkout-blue"), (format!("{IMAGE}v3"), 3));
    assert_eq!(api.deployment("checkout-green").1, 0);
    assert_eq!(selects(&api, "checkout"), "blue");
    assert_eq!(selects(&api, "checkout-preview"), "blue");
}

#[tokio::test]
async fn a_rollback_after_the_switch_puts_users_back_on_the_old_slot() {
    let api = cluster().await;
    let mut handle = release(&api, "v1", "v2", Duration::from_secs(3600)).await;
    tokio::time::timeout(
        Duration::from_secs(30),
        handle.snapshots.wait_for(|s| s.actual_weight == Some(100)),
    )
    .await
    .expect("users are switched to green")
    .unwrap();
    assert_eq!(selects(&api, "checkout"), "green");
    // Blue is kept for an instant switch back.
    assert_eq!(api.deployment("checkout-blue").1, 3);

    let command = Command {
        target: target(),
        kind: CommandKind::Rollback,
        actor: alice(),
    };
    assert_eq!(handle.send(command).await, Some(CommandReply::Accepted));
    assert_eq!(finished(&mut handle).await, ReleaseResult::RolledBack);
    assert_eq!(selects(&api, "checkout"), "blue");
    assert_eq!(api.deployment("checkout-blue"), (format!("{IMAGE}v1"), 3));
    assert_eq!(api.deployment("checkout-green").1, 0);
    let reasons = reasons(&mut handle.events);
    assert!(
        reasons.iter().any(|r| r.contains("verified: v1 at 100 %")),
        "{reasons:#?}"
    );
}

#[tokio::test]
async fn a_failing_smoke_check_never_lets_users_leave_the_stable_slot() {
    let api = cluster().await;
    api.proxy_answers("checkout-preview", 503);
    let mut handle = release(&api, "v1", "v2", Duration::from_millis(300)).await;
    assert_eq!(finished(&mut handle).await, ReleaseResult::RolledBack);

    // Every write of the active Service (the rollback's) kept it on blue.
    let writes = api.writes_of("services", "checkout");
    assert!(
        writes.iter().all(|s| selector_of(s) == "blue"),
        "{writes:#?}"
    );
    assert_eq!(selects(&api, "checkout"), "blue");
    assert_eq!(api.deployment("checkout-green").1, 0);
    assert_eq!(api.deployment("checkout-blue"), (format!("{IMAGE}v1"), 3));
    let reasons = reasons(&mut handle.events);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("preview failed: smoke check") && r.contains("HTTP 503")),
        "{reasons:#?}"
    );
}

// ----- the provider ------------------------------------------------------

#[tokio::test]
async fn the_live_slot_is_stable_and_the_idle_one_new() {
    let api = cluster().await;
    let traffic = traffic_for(&api);
    let state = traffic.state().await.unwrap();
    assert_eq!(
        (state.stable_version.as_str(), state.new_version),
        ("v1", None)
    );
    assert_eq!(state.new_weight, 0);
    assert_eq!(state.stable.len(), 3);
    assert!(state.stable.iter().all(|i| i.in_rotation && i.healthy));
    assert!(state.new.is_empty());
    assert_eq!(
        traffic.describe(),
        "Kubernetes Service shop/checkout (blue-green selector)"
    );

    traffic.prepare("v2").await.unwrap();
    let state = traffic.state().await.unwrap();
    assert_eq!(state.new_version.as_deref(), Some("v2"));
    assert_eq!(state.new.len(), 3);
    assert!(state.new.iter().all(|i| i.healthy && !i.in_rotation));
    // The preview selects green, so its pods answer through the proxy.
    assert_eq!(selects(&api, "checkout-preview"), "green");

    traffic.switch(true).await.unwrap();
    let state = traffic.state().await.unwrap();
    assert_eq!(
        (state.new_weight, state.stable_version.as_str()),
        (100, "v1")
    );
    assert!(state.new.iter().all(|i| i.in_rotation));
    assert!(state.stable.iter().all(|i| !i.in_rotation));
}

#[tokio::test]
async fn a_switch_back_scales_the_old_slot_up_before_moving_users() {
    let api = cluster().await;
    let traffic = traffic_for(&api);
    traffic.prepare("v2").await.unwrap();
    traffic.switch(true).await.unwrap();
    // The users' slot is never scaled away.
    let e = traffic.set_instances(3, 0).await.unwrap_err();
    assert!(
        e.to_string().contains("would leave users on no pods"),
        "{e}"
    );
    assert_eq!(api.deployment("checkout-green").1, 3);
    traffic.set_instances(0, 3).await.unwrap();
    assert_eq!(api.deployment("checkout-blue").1, 0);

    let before = api.log().len();
    traffic.switch(false).await.unwrap();
    assert_eq!(api.deployment("checkout-blue"), (format!("{IMAGE}v1"), 3));
    assert_eq!(selects(&api, "checkout"), "blue");
    let log = api.log()[before..].to_vec();
    let scaled = position(&log, "PUT deployments/checkout-blue");
    let rolled_out = last_position(&log, "GET deployments/checkout-blue");
    let moved = position(&log, "PUT services/checkout");
    assert!(scaled < rolled_out && rolled_out < moved, "{log:#?}");

    traffic.discard().await.unwrap();
    let state = traffic.state().await.unwrap();
    assert_eq!(state.new_weight, 0);
    assert!(state.new.is_empty());
}

#[tokio::test]
async fn a_discard_never_leaves_users_on_the_discarded_slot() {
    let api = cluster().await;
    let traffic = traffic_for(&api);
    traffic.prepare("v2").await.unwrap();
    traffic.switch(true).await.unwrap();
    traffic.set_instances(0, 3).await.unwrap();
    // Discarded while users are on green and blue is at zero: blue comes
    // back first, users follow, and only then green goes.
    traffic.discard().await.unwrap();
    assert_eq!(selects(&api, "checkout"), "blue");
    assert_eq!(api.deployment("checkout-blue"), (format!("{IMAGE}v1"), 3));
    assert_eq!(api.deployment("checkout-green").1, 0);
    let log = api.log();
    let blue_up = last_position(&log, "PUT deployments/checkout-blue");
    let moved = last_position(&log, "PUT services/checkout");
    let green_down = last_position(&log, "PUT deployments/checkout-green");
    assert!(blue_up < moved && moved < green_down, "{log:#?}");
    let state = traffic.state().await.unwrap();
    assert_eq!((state.new_weight, state.new_version), (0, None));
}

#[tokio::test]
async fn a_forbidden_service_call_names_the_verb_and_the_resource() {
    let api = cluster().await;
    let traffic = traffic_for(&api);
    api.fail(fault(Method::PUT, "services", Answer::Status(403), 1));
    let e = traffic.prepare("v2").await.unwrap_err();
    assert!(
        e.to_string()
            .contains("forbidden: cannot update services in namespace shop"),
        "{e}"
    );
    api.fail(fault(Method::GET, "services", Answer::Status(403), 1));
    let e = traffic.state().await.unwrap_err();
    assert!(
        e.to_string()
            .contains("forbidden: cannot get services in namespace shop"),
        "{e}"
    );
}

#[tokio::test]
async fn a_conflict_on_the_service_is_retried_from_a_fresh_read() {
    let api = cluster().await;
    let traffic = traffic_for(&api);
    traffic.prepare("v2").await.unwrap();
    let before = api.log().len();
    api.fail(fault(Method::PUT, "services", Answer::Status(409), 1));
    traffic.switch(true).await.unwrap();
    assert_eq!(selects(&api, "checkout"), "green");
    let log: Vec<String> = api.log()[before..]
        .iter()
        .filter(|l| l.ends_with("services/checkout"))
        .cloned()
        .collect();
    // The view's read, then read-write, 409, read-write again.
    assert_eq!(
        log,
        [
            "GET services/checkout",
            "GET services/checkout",
            "PUT services/checkout",
            "GET services/checkout",
            "PUT services/checkout",
        ]
    );
}

#[tokio::test]
async fn a_selector_changed_by_someone_else_is_not_overwritten_for_the_new_slot() {
    let api = cluster().await;
    let traffic = traffic_for(&api);
    traffic.prepare("v2").await.unwrap();
    traffic.switch(true).await.unwrap();
    // Someone sends users back to blue by hand.
    api.edit("services", "checkout", |s| {
        s["spec"]["selector"]["slot"] = "blue".into()
    });
    assert_eq!(traffic.state().await.unwrap().new_weight, 0);
    let e = traffic.switch(true).await.unwrap_err();
    assert!(
        e.to_string().contains(
            "Service shop/checkout: drift: the selector has slot=blue but helmsman last set slot=green"
        ),
        "{e}"
    );
    assert_eq!(selects(&api, "checkout"), "blue");
    // Back to stable is never refused.
    api.edit("services", "checkout", |s| {
        s["spec"]["selector"]["slot"] = "green".into()
    });
    traffic.switch(false).await.unwrap();
    assert_eq!(selects(&api, "checkout"), "blue");
}

#[tokio::test]
async fn a_selector_naming_neither_slot_is_invalid() {
    let api = cluster().await;
    api.edit("services", "checkout", |s| {
        s["spec"]["selector"]["slot"] = "red".into()
    });
    let traffic = traffic_for(&api);
    let e = traffic.state().await.unwrap_err();
    assert!(matches!(e, ProviderError::Invalid { .. }), "{e:?}");
    assert!(
        e.to_string().contains(
            "Service shop/checkout selects slot=red, which names neither deployment checkout-blue \
             (slot=blue) nor checkout-green (slot=green)"
        ),
        "{e}"
    );
    let e = traffic.prepare("v2").await.unwrap_err();
    assert!(matches!(e, ProviderError::Invalid { .. }), "{e:?}");
    // Nothing was touched.
    assert!(!api.log().iter().any(|l| l.starts_with("PUT")));
}

#[tokio::test]
async fn the_proxy_check_fails_while_the_preview_selects_no_ready_pod() {
    let api = cluster().await;
    let check = ServiceProxyCheck::new(
        &backend(&api),
        "checkout-preview",
        "/healthz",
        Duration::from_secs(2),
    );
    // The preview selects blue, which is ready.
    let ok = check.run().await;
    assert_eq!(ok.status, CheckStatus::Pass, "{}", ok.detail);
    // Green has no replicas: the API server has no endpoint to proxy to.
    api.edit("services", "checkout-preview", |s| {
        s["spec"]["selector"]["slot"] = "green".into()
    });
    let down = check.run().await;
    assert_eq!(down.status, CheckStatus::Fail);
    assert!(down.detail.contains("HTTP 503"), "{}", down.detail);
}

// ----- the release pipeline ------------------------------------------------

#[test]
fn the_pipeline_runs_blue_green_on_a_service_selector_and_refuses_a_canary() {
    use helmsman::pipeline::{ReleaseRequest, check_request};
    use helmsman::strategy::StrategyKind;
    let text = r#"
[[environments]]
name = "prod"
[[environments.services]]
name = "checkout"
strategy = "blue-green"
[environments.services.backend]
type = "kubernetes"
namespace = "shop"
traffic = "service-selector"
active_service = "checkout"
preview_service = "checkout-preview"
blue_deployment = "checkout-blue"
green_deployment = "checkout-green"
image = "registry.example.com/checkout:{version}"
[environments.services.metrics]
type = "prometheus"
url = "http://127.0.0.1:9090"
requests = 'sum(http_requests_total{version="{version}"})'
errors_by_kind = 'sum by (kind) (http_errors_total{version="{version}"})'
p95_seconds = 'p95{version="{version}"}'
"#;
    let config = config::parse_str(text, std::path::Path::new("h.toml"), &|_| None).expect("valid");
    let request = |strategy| ReleaseRequest {
        service: "checkout".into(),
        version: "v2".into(),
        envs: vec!["prod".into()],
        strategy,
        actor: alice(),
        force: false,
    };
    check_request(&config, &request(None)).unwrap();
    check_request(&config, &request(Some(StrategyKind::BlueGreen))).unwrap();
    let e = check_request(&config, &request(Some(StrategyKind::Canary))).unwrap_err();
    assert_eq!(ExitCode::from(&e).code(), 2);
    assert!(
        e.to_string().contains(
            "its kubernetes traffic `service-selector` cannot run canary releases (they need \
             `traffic = \"gateway-api\"` or `traffic = \"replica-ratio\"`)"
        ),
        "{e}"
    );
}
