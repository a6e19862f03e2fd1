//! The Kubernetes backend against a fake API server on loopback
//! (tests/kube/fake_api.rs): the real kube client, configured through a
//! generated kubeconfig and context, drives Deployments and an HTTPRoute
//! over HTTP. Full releases run through the real engine driver in real
//! time with short steps; failures (403, 409, 500, a hung server, drift)
//! are driven on the provider directly.
//!
//! `HELMSMAN_E2E_KUBECONFIG` additionally runs a release step against a
//! real cluster for each traffic kind (see the README's "Tests").

#[path = "kube/api_status.rs"]
mod api_status;
#[path = "kube/driven.rs"]
mod driven;
#[allow(dead_code)] // shared with tests/kube_rolling.rs
#[path = "kube/fake_api.rs"]
mod fake_api;
#[allow(dead_code)] // the pod-by-pod controller is tests/kube_rolling.rs's
#[path = "kube/fake_controller.rs"]
mod fake_controller;

use std::sync::Arc;
use std::time::Duration;

use hyper::Method;

use helmsman::config::{KubernetesBackend, KubernetesSplit, Step, Strategy};
use helmsman::engine::driver::ReleaseHandle;
use helmsman::engine::{Command, CommandKind, CommandReply, ReleaseResult};
use helmsman::providers::traffic::kubernetes::{self, Patience};
use helmsman::providers::{ProviderError, Traffic};

use driven::{alice, finished, progressing_at, target};
use fake_api::{Answer, FakeApi, Fault, NAMESPACE};
use helmsman::strategy::{BlueGreen, Canary, Rolling};

fn backend(
    kubeconfig: Option<String>,
    context: Option<String>,
    namespace: &str,
) -> KubernetesBackend {
    KubernetesBackend {
        kubeconfig,
        context,
        namespace: namespace.to_string(),
        split: KubernetesSplit::GatewayApi {
            route: "checkout".into(),
            stable_service: "checkout-stable".into(),
            canary_service: "checkout-canary".into(),
            stable_deployment: "checkout-stable".into(),
            canary_deployment: "checkout-canary".into(),
            canary_replicas: 2,
        },
        container: Some("app".into()),
        image: "registry.example.com/checkout:{version}".into(),
    }
}

/// Short waits: the fake answers at once unless told otherwise.
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

/// The strategy the canary kinds run (its steps do not matter to them).
fn canary() -> Strategy {
    Strategy::Canary(Canary { steps: Vec::new() })
}

fn traffic_for(api: &FakeApi) -> Arc<dyn Traffic> {
    let kubeconfig = api.kubeconfig.to_str().unwrap().to_string();
    kubernetes::traffic_with_patience(
        &backend(Some(kubeconfig), Some("fake".into()), NAMESPACE),
        &canary(),
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

// ----- releases through the engine driver -------------------------------

async fn release(api: &FakeApi, steps: Vec<Step>) -> ReleaseHandle {
    release_on(traffic_backend(api), steps).await
}

async fn release_on(backend: KubernetesBackend, steps: Vec<Step>) -> ReleaseHandle {
    let (stable_version, handle) = driven::Release {
        backend,
        strategy: Strategy::Canary(Canary { steps }),
        patience: patience(),
        interval: Duration::from_millis(200),
        new_version: "v2".into(),
        smoke_checks: false,
    }
    .start()
    .await;
    assert_eq!(stable_version, "v1");
    handle
}

fn traffic_backend(api: &FakeApi) -> KubernetesBackend {
    backend(
        Some(api.kubeconfig.to_str().unwrap().to_string()),
        Some("fake".into()),
        NAMESPACE,
    )
}

#[tokio::test]
async fn a_canary_release_moves_the_route_and_then_promotes_the_new_image() {
    let api = FakeApi::start("v1").await;
    let mut handle = release(&api, vec![Step::Weight(25), Step::Weight(100)]).await;
    assert_eq!(finished(&mut handle).await, ReleaseResult::Succeeded);

    // The stable Deployment runs v2, all traffic is on it, the canary is gone.
    assert_eq!(
        api.deployment("checkout-stable"),
        ("registry.example.com/checkout:v2".to_string(), 3)
    );
    assert_eq!(api.deployment("checkout-canary").1, 0);
    assert_eq!(api.weights(), (100, 0));
    // The canary was scaled up with the new image before any traffic moved.
    let log = api.log();
    let first_route_write = log
        .iter()
        .position(|l| l == "PUT httproutes/checkout")
        .unwrap();
    let canary_write = log
        .iter()
        .position(|l| l == "PUT deployments/checkout-canary")
        .unwrap();
    assert!(canary_write < first_route_write, "{log:#?}");
    // Only the weights changed: everything else in the route is as it was.
    let route = api.get("httproutes", "checkout");
    assert_eq!(route["metadata"]["annotations"]["team"], "payments");
    assert_eq!(route["spec"]["hostnames"][0], "shop.example.com");
    assert_eq!(route["spec"]["rules"][0]["timeouts"]["request"], "10s");
    assert_eq!(route["spec"]["rules"][0]["backendRefs"][1]["port"], 8080);
    // The sidecar kept its image.
    let stable = api.get("deployments", "checkout-stable");
    let containers = &stable["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], "envoyproxy/envoy:v1.31");
}

#[tokio::test]
async fn a_rollback_sends_everything_to_stable_and_scales_the_canary_down() {
    let api = FakeApi::start("v1").await;
    let mut handle = release(
        &api,
        vec![Step::Weight(25), Step::Pause(Duration::from_secs(3600))],
    )
    .await;
    progressing_at(&mut handle, 25).await;
    assert_eq!(api.weights(), (75, 25));
    assert_eq!(
        api.deployment("checkout-canary"),
        ("registry.example.com/checkout:v2".to_string(), 2)
    );

    let command = Command {
        target: target(),
        kind: CommandKind::Rollback,
        actor: alice(),
    };
    assert_eq!(handle.send(command).await, Some(CommandReply::Accepted));
    assert_eq!(finished(&mut handle).await, ReleaseResult::RolledBack);
    assert_eq!(api.weights(), (100, 0));
    assert_eq!(api.deployment("checkout-canary").1, 0);
    assert_eq!(
        api.deployment("checkout-stable"),
        ("registry.example.com/checkout:v1".to_string(), 3)
    );
}

#[tokio::test]
async fn a_release_holds_with_the_reason_while_the_api_fails() {
    let api = FakeApi::start("v1").await;
    // Every route write fails for a while: each try retries 500s, then
    // gives up; the engine shows why and tries again.
    api.fail(fault(Method::PUT, "httproutes", Answer::Status(500), 6));
    let mut handle = release(&api, vec![Step::Weight(25), Step::Weight(100)]).await;
    assert_eq!(finished(&mut handle).await, ReleaseResult::Succeeded);
    let mut reasons = Vec::new();
    while let Ok(e) = handle.events.try_recv() {
        reasons.push(e.reason.clone());
    }
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("could not set weight 25%") && r.contains("HTTP 500")),
        "{reasons:#?}"
    );
    assert_eq!(api.weights(), (100, 0));
}

// ----- replica ratio: one Service, the replica counts split traffic -----

/// 4 replicas in all, stable keeping at least one: 25, 50 or 75 %.
fn ratio_backend(api: &FakeApi) -> KubernetesBackend {
    KubernetesBackend {
        split: KubernetesSplit::ReplicaRatio {
            service: "checkout".into(),
            stable_deployment: "checkout-stable".into(),
            canary_deployment: "checkout-canary".into(),
            replicas: 4,
            min_stable: 1,
        },
        ..traffic_backend(api)
    }
}

#[tokio::test]
async fn a_replica_ratio_release_scales_the_canary_and_then_promotes_it() {
    let api = FakeApi::start("v1").await;
    // 10 % is raised to one replica (25 %), 100 % stops at stable's minimum.
    let mut handle = release_on(
        ratio_backend(&api),
        vec![Step::Weight(10), Step::Weight(50), Step::Weight(100)],
    )
    .await;
    assert_eq!(finished(&mut handle).await, ReleaseResult::Succeeded);
    assert_eq!(
        api.deployment("checkout-stable"),
        ("registry.example.com/checkout:v2".to_string(), 4)
    );
    assert_eq!(api.deployment("checkout-canary").1, 0);
    // No route is involved.
    assert!(!api.log().iter().any(|l| l.contains("httproutes")));
}

#[tokio::test]
async fn a_replica_ratio_rollback_scales_the_canary_away_and_stable_back() {
    let api = FakeApi::start("v1").await;
    let mut handle = release_on(
        ratio_backend(&api),
        vec![Step::Weight(50), Step::Pause(Duration::from_secs(3600))],
    )
    .await;
    progressing_at(&mut handle, 50).await;
    assert_eq!(api.deployment("checkout-stable").1, 2);
    assert_eq!(
        api.deployment("checkout-canary"),
        ("registry.example.com/checkout:v2".to_string(), 2)
    );
    let command = Command {
        target: target(),
        kind: CommandKind::Rollback,
        actor: alice(),
    };
    assert_eq!(handle.send(command).await, Some(CommandReply::Accepted));
    assert_eq!(finished(&mut handle).await, ReleaseResult::RolledBack);
    assert_eq!(api.deployment("checkout-canary").1, 0);
    assert_eq!(
        api.deployment("checkout-stable"),
        ("registry.example.com/checkout:v1".to_string(), 4)
    );
}

#[tokio::test]
async fn a_replica_ratio_grows_before_it_shrinks_and_survives_a_conflict() {
    let api = FakeApi::start("v1").await;
    let traffic = kubernetes::traffic_with_patience(&ratio_backend(&api), &canary(), patience());
    traffic.prepare("v2").await.unwrap();
    api.fail(fault(Method::PUT, "deployments", Answer::Status(409), 1));
    traffic.set_weight(25).await.unwrap();
    let state = traffic.state().await.unwrap();
    assert_eq!(
        (state.new_weight, state.new_version.as_deref()),
        (25, Some("v2"))
    );
    let writes: Vec<String> = api
        .log()
        .into_iter()
        .filter(|l| l.starts_with("PUT"))
        .collect();
    // prepare, the canary up (409, then again), then stable down.
    assert_eq!(
        writes[1..],
        [
            "PUT deployments/checkout-canary",
            "PUT deployments/checkout-canary",
            "PUT deployments/checkout-stable",
        ],
        "{writes:#?}"
    );
}

#[tokio::test]
async fn a_replica_ratio_names_what_rbac_forbids() {
    let api = FakeApi::start("v1").await;
    let traffic = kubernetes::traffic_with_patience(&ratio_backend(&api), &canary(), patience());
    api.fail(fault(Method::PUT, "deployments", Answer::Status(403), 1));
    let e = traffic.prepare("v2").await.unwrap_err().to_string();
    assert!(e.contains("cannot update deployments.apps"), "{e}");
}

// ----- the provider's failure cases --------------------------------------

#[tokio::test]
async fn the_state_is_read_back_from_the_route_and_the_deployments() {
    let api = FakeApi::start("v1.4.2").await;
    let traffic = traffic_for(&api);
    let state = traffic.state().await.unwrap();
    assert_eq!(state.stable_version, "v1.4.2");
    assert_eq!(state.new_version, None);
    assert_eq!(state.new_weight, 0);
    assert_eq!(state.stable.len(), 3);
    assert!(state.stable.iter().all(|i| i.healthy && i.in_rotation));
    assert!(state.new.is_empty());
    assert_eq!(traffic.describe(), "Kubernetes HTTPRoute shop/checkout");
}

#[tokio::test]
async fn a_forbidden_call_names_the_verb_and_the_resource() {
    let api = FakeApi::start("v1").await;
    let traffic = traffic_for(&api);
    api.fail(fault(Method::PUT, "httproutes", Answer::Status(403), 1));
    let e = traffic.set_weight(10).await.unwrap_err();
    assert!(
        e.to_string().contains(
            "forbidden: cannot update httproutes.gateway.networking.k8s.io in namespace shop"
        ),
        "{e}"
    );
    api.fail(fault(Method::GET, "deployments", Answer::Status(403), 1));
    let e = traffic.prepare("v2").await.unwrap_err();
    assert!(
        e.to_string()
            .contains("forbidden: cannot get deployments.apps in namespace shop"),
        "{e}"
    );
}

#[tokio::test]
async fn a_conflict_is_retried_from_a_fresh_read() {
    let api = FakeApi::start("v1").await;
    let traffic = traffic_for(&api);
    api.fail(fault(Method::PUT, "httproutes", Answer::Status(409), 1));
    traffic.set_weight(10).await.unwrap();
    assert_eq!(api.weights(), (90, 10));
    let log: Vec<_> = api
        .log()
        .into_iter()
        .filter(|l| l.ends_with("httproutes/checkout"))
        .collect();
    assert_eq!(
        log,
        [
            "GET httproutes/checkout",
            "PUT httproutes/checkout",
            "GET httproutes/checkout",
            "PUT httproutes/checkout"
        ]
    );
}

#[tokio::test]
async fn a_write_racing_another_writer_loses_with_409_and_starts_over() {
    let api = FakeApi::start("v1").await;
    let traffic = traffic_for(&api);
    // Someone scales the canary between helmsman's read and its write: the
    // fake rejects the stale resourceVersion, helmsman reads again.
    api.fail(fault(Method::PUT, "deployments", Answer::Status(409), 1));
    traffic.prepare("v2").await.unwrap();
    assert_eq!(
        api.deployment("checkout-canary"),
        ("registry.example.com/checkout:v2".to_string(), 2)
    );
    api.edit("deployments", "checkout-canary", |d| {
        d["spec"]["replicas"] = 5.into()
    });
    traffic.discard().await.unwrap();
    assert_eq!(api.deployment("checkout-canary").1, 0);
}

#[tokio::test]
async fn server_errors_are_retried_and_then_reported() {
    let api = FakeApi::start("v1").await;
    let traffic = traffic_for(&api);
    api.fail(fault(Method::GET, "deployments", Answer::Status(500), 2));
    assert_eq!(traffic.state().await.unwrap().stable_version, "v1");

    api.fail(fault(Method::GET, "httproutes", Answer::Status(503), 3));
    let e = traffic.state().await.unwrap_err();
    assert!(matches!(e, ProviderError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("failed 3 times"), "{e}");
    assert!(e.to_string().contains("HTTP 503"), "{e}");
}

#[tokio::test]
async fn a_hung_api_times_out_and_is_retried() {
    let api = FakeApi::start("v1").await;
    let traffic = traffic_for(&api);
    api.fail(fault(Method::GET, "httproutes", Answer::Hang, 1));
    assert_eq!(traffic.state().await.unwrap().new_weight, 0);

    api.fail(fault(Method::GET, "httproutes", Answer::Hang, 3));
    let e = traffic.state().await.unwrap_err();
    assert!(e.to_string().contains("no answer within 500ms"), "{e}");
}

#[tokio::test]
async fn a_route_changed_by_someone_else_is_not_overwritten_silently() {
    let api = FakeApi::start("v1").await;
    let traffic = traffic_for(&api);
    traffic.set_weight(10).await.unwrap();
    api.edit("httproutes", "checkout", |r| {
        r["spec"]["rules"][0]["backendRefs"][0]["weight"] = 60.into();
        r["spec"]["rules"][0]["backendRefs"][1]["weight"] = 40.into();
    });
    assert_eq!(traffic.state().await.unwrap().new_weight, 40);
    let e = traffic.set_weight(25).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("drift: the canary has 40 % but helmsman last set 10 %"),
        "{e}"
    );
    assert_eq!(api.weights(), (60, 40));
    // Sending everything back to stable is never refused.
    traffic.discard().await.unwrap();
    assert_eq!(api.weights(), (100, 0));
}

#[tokio::test]
async fn the_kubeconfig_context_is_the_one_configured() {
    let api = FakeApi::start("v1").await;
    let kubeconfig = Some(api.kubeconfig.to_str().unwrap().to_string());
    // The file's current context names a user it does not define.
    let current = kubernetes::traffic_with_patience(
        &backend(kubeconfig, None, NAMESPACE),
        &canary(),
        patience(),
    );
    let e = current.state().await.unwrap_err();
    assert!(e.to_string().contains("kubeconfig"), "{e}");
    assert!(api.log().is_empty());
}

// ----- a real cluster, when asked ---------------------------------------

/// A backend of the real cluster `HELMSMAN_E2E_KUBECONFIG` names, whose
/// namespace `HELMSMAN_E2E_NAMESPACE` (default `helmsman-e2e`) has
/// assets/kubernetes/*.yaml applied; `HELMSMAN_E2E_CONTEXT` picks a
/// context. With the tag `HELMSMAN_E2E_VERSION` (default `1.27`) to
/// release. `None` (the tests pass doing nothing) without the variable.
fn real_cluster(split: KubernetesSplit) -> Option<(KubernetesBackend, String)> {
    let kubeconfig = std::env::var("HELMSMAN_E2E_KUBECONFIG").ok()?;
    let namespace =
        std::env::var("HELMSMAN_E2E_NAMESPACE").unwrap_or_else(|_| "helmsman-e2e".into());
    let version = std::env::var("HELMSMAN_E2E_VERSION").unwrap_or_else(|_| "1.27".into());
    let mut real = backend(
        Some(kubeconfig),
        std::env::var("HELMSMAN_E2E_CONTEXT").ok(),
        &namespace,
    );
    real.split = split;
    real.container = None;
    real.image = "nginxinc/nginx-unprivileged:{version}".into();
    Some((real, version))
}

/// A canary step on the HTTPRoute of assets/kubernetes, then a rollback.
#[tokio::test]
async fn a_real_cluster_when_asked() {
    let split = KubernetesSplit::GatewayApi {
        route: "checkout".into(),
        stable_service: "checkout-stable".into(),
        canary_service: "checkout-canary".into(),
        stable_deployment: "checkout-stable".into(),
        canary_deployment: "checkout-canary".into(),
        canary_replicas: 1,
    };
    let Some((real, version)) = real_cluster(split) else {
        return;
    };
    let traffic = kubernetes::traffic(&real, &canary());
    let before = traffic.state().await.unwrap();
    assert_eq!(before.new_weight, 0, "start from an idle route");
    traffic.prepare(&version).await.unwrap();
    traffic.set_weight(10).await.unwrap();
    assert_eq!(traffic.state().await.unwrap().new_weight, 10);
    traffic.discard().await.unwrap();
    let after = traffic.state().await.unwrap();
    assert_eq!((after.new_weight, after.new_version), (0, None));
    assert_eq!(after.stable_version, before.stable_version);
}

/// Blue-green on the cart slots of assets/kubernetes: preview, switch,
/// switch back, discard.
#[tokio::test]
async fn a_real_cluster_blue_green_when_asked() {
    let split = KubernetesSplit::ServiceSelector {
        active_service: "cart".into(),
        preview_service: "cart-preview".into(),
        blue_deployment: "cart-blue".into(),
        green_deployment: "cart-green".into(),
        selector_label: "slot".into(),
    };
    let Some((real, version)) = real_cluster(split) else {
        return;
    };
    let traffic = kubernetes::traffic(&real, &Strategy::BlueGreen(BlueGreen::default()));
    let before = traffic.state().await.unwrap();
    assert_eq!(before.new_weight, 0);
    traffic.prepare(&version).await.unwrap();
    traffic.switch(true).await.unwrap();
    assert_eq!(traffic.state().await.unwrap().new_weight, 100);
    traffic.switch(false).await.unwrap();
    traffic.discard().await.unwrap();
    let after = traffic.state().await.unwrap();
    assert_eq!((after.new_weight, after.new_version), (0, None));
    assert_eq!(after.stable_version, before.stable_version);
}

/// A first rolling batch of the search Deployment of assets/kubernetes,
/// then the rollback to its previous pod template.
#[tokio::test]
async fn a_real_cluster_rolling_update_when_asked() {
    let split = KubernetesSplit::RollingUpdate {
        deployment: "search".into(),
    };
    let Some((real, version)) = real_cluster(split) else {
        return;
    };
    let strategy = Strategy::Rolling(Rolling {
        max_surge: 1,
        max_unavailable: 0,
        batch_pause: Duration::from_secs(10),
    });
    let traffic = kubernetes::traffic(&real, &strategy);
    let before = traffic.state().await.unwrap();
    traffic.prepare(&version).await.unwrap();
    let replicas = before.stable.len();
    traffic.set_instances(replicas, 1).await.unwrap();
    let during = traffic.state().await.unwrap();
    assert!(!during.new.is_empty(), "{during:?}");
    traffic.set_instances(replicas, 0).await.unwrap();
    traffic.discard().await.unwrap();
    let after = traffic.state().await.unwrap();
    assert!(after.new.is_empty(), "{after:?}");
    assert_eq!(after.stable_version, before.stable_version);
}
