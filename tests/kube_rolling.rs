//! `traffic = "rolling-update"` against the fake API server on loopback,
//! whose Deployment controller rolls pods one sync per read
//! (tests/kube/fake_controller.rs), honouring `spec.paused`, the surge and
//! unavailability, and the progress deadline. Releases run through the
//! real engine driver in real time; failures (403, 409, drift) are driven
//! on the provider directly.

#[path = "kube/api_status.rs"]
mod api_status;
#[allow(dead_code)] // shared with tests/kube.rs
#[path = "kube/driven.rs"]
mod driven;
#[allow(dead_code)] // the canary parts are tests/kube.rs's
#[path = "kube/fake_api.rs"]
mod fake_api;
#[path = "kube/fake_controller.rs"]
mod fake_controller;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Method;
use serde_json::Value;

use helmsman::config::{KubernetesBackend, KubernetesSplit, Strategy};
use helmsman::engine::driver::ReleaseHandle;
use helmsman::engine::{Command, CommandKind, CommandReply, ReleaseResult};
use helmsman::providers::traffic::kubernetes::{self, Patience};
use helmsman::providers::{ProviderError, Traffic};

use driven::{alice, finished, target};
use fake_api::{Answer, FakeApi, Fault, NAMESPACE};
use helmsman::strategy::Rolling;

const V1: &str = "registry.example.com/checkout:v1";
const V2: &str = "registry.example.com/checkout:v2";

fn backend(api: &FakeApi) -> KubernetesBackend {
    KubernetesBackend {
        kubeconfig: Some(api.kubeconfig.to_str().unwrap().to_string()),
        context: Some("fake".into()),
        namespace: NAMESPACE.to_string(),
        split: KubernetesSplit::RollingUpdate {
            deployment: "checkout".into(),
        },
        container: Some("app".into()),
        image: "registry.example.com/checkout:{version}".into(),
    }
}

fn rolling(batch_pause: Duration) -> Strategy {
    Strategy::Rolling(Rolling {
        max_surge: 1,
        max_unavailable: 0,
        batch_pause,
    })
}

/// Short waits: the fake answers at once unless told otherwise.
fn patience() -> Patience {
    Patience {
        request_timeout: Duration::from_millis(500),
        attempts: 3,
        first_backoff: Duration::from_millis(20),
        conflicts: 5,
        rollout_timeout: Duration::from_secs(20),
        rollout_poll: Duration::from_millis(20),
    }
}

fn traffic_for(api: &FakeApi) -> Arc<dyn Traffic> {
    kubernetes::traffic_with_patience(
        &backend(api),
        &rolling(Duration::from_millis(100)),
        patience(),
    )
}

/// v1 → v2 through the engine driver, batches health-gated `batch_pause`.
async fn release(api: &FakeApi, batch_pause: Duration) -> ReleaseHandle {
    let (stable_version, handle) = driven::Release {
        backend: backend(api),
        strategy: rolling(batch_pause),
        patience: patience(),
        interval: Duration::from_millis(100),
        new_version: "v2".into(),
        smoke_checks: false,
    }
    .start()
    .await;
    assert_eq!(stable_version, "v1");
    handle
}

/// The app container's image of each pod that is not terminating, with
/// whether it is Ready.
fn pods(api: &FakeApi) -> Vec<(String, bool)> {
    api.pods()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let image = p["spec"]["containers"][1]["image"]
                .as_str()
                .unwrap()
                .to_string();
            let ready = p["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (image, ready)
        })
        .collect()
}

fn paused(api: &FakeApi) -> bool {
    api.get("deployments", "checkout")["spec"]["paused"] == true
}

/// Waits (up to 30 s) until `done` holds on the cluster.
async fn until(api: &FakeApi, what: &str, done: impl Fn(&FakeApi) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done(api) {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sets the Deployment's `progressDeadlineSeconds` (a spec change: a new
/// generation).
fn progress_deadline(api: &FakeApi, seconds: u64) {
    api.edit("deployments", "checkout", |d: &mut Value| {
        d["spec"]["progressDeadlineSeconds"] = seconds.into();
        let generation = d["metadata"]["generation"].as_i64().unwrap();
        d["metadata"]["generation"] = (generation + 1).into();
    });
}

fn rollback() -> Command {
    Command {
        target: target(),
        kind: CommandKind::Rollback,
        actor: alice(),
    }
}

// ----- releases through the engine driver -------------------------------

#[tokio::test]
async fn a_rolling_release_pauses_between_batches_and_ends_on_the_new_image() {
    let api = Arc::new(FakeApi::start_rolling("v1", 4).await);
    // Watches the cluster: how many v2 pods were Ready at each pause.
    let held_at: Arc<Mutex<BTreeSet<usize>>> = Arc::default();
    let watcher = {
        let (api, held_at) = (api.clone(), held_at.clone());
        tokio::spawn(async move {
            loop {
                if paused(&api) {
                    let ready_new = pods(&api).iter().filter(|(i, r)| i == V2 && *r).count();
                    held_at.lock().unwrap().insert(ready_new);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let mut handle = release(&api, Duration::from_millis(300)).await;
    assert_eq!(finished(&mut handle).await, ReleaseResult::Succeeded);
    watcher.abort();

    // The rollout was held at several batches on its way, each with some
    // but not all new pods Ready.
    let held_at = held_at.lock().unwrap().clone();
    let between: Vec<&usize> = held_at.iter().filter(|n| **n > 0 && **n < 4).collect();
    assert!(between.len() >= 2, "paused with Ready v2 pods: {held_at:?}");
    // Every pod runs v2 and is Ready; the Deployment is not left paused
    // and moved at the strategy's pace.
    assert_eq!(pods(&api), vec![(V2.to_string(), true); 4]);
    let d = api.get("deployments", "checkout");
    assert!(!paused(&api), "{d}");
    assert_eq!(d["spec"]["template"]["spec"]["containers"][1]["image"], V2);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "envoyproxy/envoy:v1.31"
    );
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 1);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
}

#[tokio::test]
async fn a_rollback_mid_rollout_restores_the_previous_template() {
    let api = FakeApi::start_rolling("v1", 4).await;
    let before = api.get("deployments", "checkout")["spec"].clone();
    let mut handle = release(&api, Duration::from_secs(3600)).await;
    until(&api, "the first batch is held", |api| {
        paused(api) && pods(api).iter().any(|(i, r)| i == V2 && *r)
    })
    .await;

    assert_eq!(handle.send(rollback()).await, Some(CommandReply::Accepted));
    assert_eq!(finished(&mut handle).await, ReleaseResult::RolledBack);
    let after = api.get("deployments", "checkout")["spec"].clone();
    assert_eq!(after["template"], before["template"]);
    assert_eq!(after["strategy"], before["strategy"]);
    assert!(!paused(&api), "{after}");
    assert_eq!(pods(&api), vec![(V1.to_string(), true); 4]);
}

#[tokio::test]
async fn new_pods_that_never_become_ready_roll_the_release_back() {
    let api = FakeApi::start_rolling("v1", 4).await;
    let before = api.get("deployments", "checkout")["spec"]["template"].clone();
    api.never_ready(V2);
    // A short deadline, so a write following the stuck rollout ends soon
    // (with `Failed`) whichever way the rollback starts.
    progress_deadline(&api, 2);
    let mut handle = release(&api, Duration::from_millis(300)).await;
    assert_eq!(finished(&mut handle).await, ReleaseResult::RolledBack);
    assert_eq!(
        api.get("deployments", "checkout")["spec"]["template"],
        before
    );
    assert_eq!(pods(&api), vec![(V1.to_string(), true); 4]);
}

// ----- the provider directly ---------------------------------------------

#[tokio::test]
async fn the_state_lists_the_pods_and_plans_over_the_replicas() {
    let api = FakeApi::start_rolling("v1", 4).await;
    let traffic = traffic_for(&api);
    let idle = traffic.state().await.unwrap();
    assert_eq!(
        (idle.stable_version.as_str(), idle.new_version.as_deref()),
        ("v1", None)
    );
    assert_eq!(
        (idle.stable.len(), idle.new.len(), idle.planned_new),
        (4, 0, None)
    );
    assert!(idle.stable.iter().all(|i| i.healthy && i.in_rotation));
    assert!(idle.stable[0].name.starts_with("checkout-"), "{idle:?}");

    traffic.prepare("v2").await.unwrap();
    let prepared = traffic.state().await.unwrap();
    assert_eq!(prepared.planned_new, Some(4));
    assert_eq!(prepared.new_version.as_deref(), Some("v2"));
    traffic.set_instances(4, 1).await.unwrap();
    assert!(paused(&api));
    let state = traffic.state().await.unwrap();
    let ready_new = state.new.iter().filter(|i| i.in_rotation).count();
    assert!(ready_new >= 1, "{state:?}");
    assert_eq!(state.stable_version, "v1");
    // Ready pods share the traffic evenly.
    let ready_all = ready_new + state.stable.iter().filter(|i| i.in_rotation).count();
    let share = (ready_new * 100 + ready_all / 2) / ready_all;
    assert_eq!(state.new_weight as usize, share);
    // Pods being deleted are not instances.
    let terminating = api
        .pods()
        .iter()
        .filter(|p| !p["metadata"]["deletionTimestamp"].is_null())
        .count();
    assert_eq!(
        state.stable.len() + state.new.len() + terminating,
        api.pods().len()
    );
}

#[tokio::test]
async fn a_rollout_past_its_progress_deadline_fails_the_batch() {
    let api = FakeApi::start_rolling("v1", 4).await;
    api.never_ready(V2);
    progress_deadline(&api, 1);
    let traffic = traffic_for(&api);
    traffic.prepare("v2").await.unwrap();
    let e = traffic.set_instances(4, 1).await.unwrap_err();
    assert!(matches!(e, ProviderError::Failed { .. }), "{e:?}");
    assert!(
        e.to_string().contains("progress deadline was exceeded"),
        "{e}"
    );
    // The crash-looping pod is an unhealthy new instance, out of rotation.
    let state = traffic.state().await.unwrap();
    assert!(
        state.new.iter().all(|i| !i.healthy && !i.in_rotation) && !state.new.is_empty(),
        "{state:?}"
    );
    assert_eq!(state.new_weight, 0);
}

#[tokio::test]
async fn listing_pods_names_what_rbac_forbids() {
    let api = FakeApi::start_rolling("v1", 4).await;
    let traffic = traffic_for(&api);
    api.fail(Fault {
        method: Method::GET,
        plural: "pods",
        answer: Answer::Status(403),
        times: 1,
    });
    let e = traffic.state().await.unwrap_err().to_string();
    assert!(
        e.contains("forbidden: cannot list pods in namespace shop"),
        "{e}"
    );
    assert!(e.contains("Kubernetes Deployment shop/checkout"), "{e}");
}

#[tokio::test]
async fn a_conflicting_deployment_write_is_read_again_and_retried() {
    let api = FakeApi::start_rolling("v1", 4).await;
    let traffic = traffic_for(&api);
    traffic.prepare("v2").await.unwrap();
    api.fail(Fault {
        method: Method::PUT,
        plural: "deployments",
        answer: Answer::Status(409),
        times: 1,
    });
    traffic.set_instances(4, 1).await.unwrap();
    let log = api.log();
    let puts: Vec<usize> = (0..log.len())
        .filter(|i| log[*i] == "PUT deployments/checkout")
        .collect();
    // The refused PUT, a fresh GET, the PUT again; then the pause.
    assert!(puts.len() >= 3, "{log:#?}");
    assert_eq!(log[puts[0] + 1], "GET deployments/checkout", "{log:#?}");
    assert_eq!(puts[1], puts[0] + 2, "{log:#?}");
    let d = api.get("deployments", "checkout");
    assert_eq!(d["spec"]["template"]["spec"]["containers"][1]["image"], V2);
    assert!(paused(&api));
}

#[tokio::test]
async fn a_template_changed_by_someone_else_is_refused_but_rolled_back() {
    let api = FakeApi::start_rolling("v1", 4).await;
    let before = api.get("deployments", "checkout")["spec"]["template"].clone();
    let traffic = traffic_for(&api);
    traffic.prepare("v2").await.unwrap();
    traffic.set_instances(4, 1).await.unwrap();
    api.edit("deployments", "checkout", |d: &mut Value| {
        d["spec"]["template"]["spec"]["containers"][1]["image"] =
            "registry.example.com/checkout:v9".into();
        let generation = d["metadata"]["generation"].as_i64().unwrap();
        d["metadata"]["generation"] = (generation + 1).into();
    });
    let e = traffic.set_instances(3, 1).await.unwrap_err();
    assert!(matches!(e, ProviderError::Rejected { .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("changed by someone else"), "{e}");
    assert!(e.contains("runs v9, neither v1 nor v2"), "{e}");

    // The rollback restores the template all the same.
    traffic.set_instances(4, 0).await.unwrap();
    traffic.discard().await.unwrap();
    assert_eq!(
        api.get("deployments", "checkout")["spec"]["template"],
        before
    );
    until(&api, "every pod back on v1", |api| {
        pods(api) == vec![(V1.to_string(), true); 4]
    })
    .await;
}

#[tokio::test]
async fn a_deployment_paused_or_mid_rollout_is_not_released() {
    let api = FakeApi::start_rolling("v1", 4).await;
    let traffic = traffic_for(&api);
    api.edit("deployments", "checkout", |d: &mut Value| {
        d["spec"]["paused"] = true.into();
    });
    let e = traffic.prepare("v2").await.unwrap_err().to_string();
    assert!(e.contains("paused by someone else"), "{e}");

    api.edit("deployments", "checkout", |d: &mut Value| {
        d["spec"]["paused"] = Value::Null;
        d["spec"]["template"]["spec"]["containers"][1]["image"] =
            "registry.example.com/checkout:v1.1".into();
        let generation = d["metadata"]["generation"].as_i64().unwrap();
        d["metadata"]["generation"] = (generation + 1).into();
    });
    let e = traffic.prepare("v2").await.unwrap_err().to_string();
    assert!(e.contains("is still rolling out"), "{e}");
}

#[tokio::test]
async fn a_deployment_left_held_by_an_interrupted_release_says_how_to_undo_it() {
    let api = FakeApi::start_rolling("v1", 4).await;
    let interrupted = traffic_for(&api);
    interrupted.prepare("v2").await.unwrap();
    interrupted.set_instances(4, 1).await.unwrap();
    let held = api.get("deployments", "checkout");
    assert_eq!(held["spec"]["paused"], true);
    assert_eq!(
        held["metadata"]["annotations"]["helmsman.dev/held-at-batch"],
        "v1 → v2"
    );
    // helmsman died here; the next one finds the Deployment held.
    let e = traffic_for(&api)
        .prepare("v3")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("held at a batch by an unfinished helmsman release (v1 → v2)")
            && e.contains("kubectl rollout undo deployment/checkout"),
        "{e}"
    );
    // The release that holds it lets go when it goes on.
    interrupted.set_instances(3, 1).await.unwrap();
    interrupted.set_instances(0, 0).await.unwrap();
    let restored = api.get("deployments", "checkout");
    assert!(
        restored["metadata"]["annotations"]["helmsman.dev/held-at-batch"].is_null(),
        "{restored}"
    );
    assert!(restored["spec"]["paused"].is_null(), "{restored}");
}

/// A host killed while its rolling release held the Deployment at a batch:
/// the next host takes the release over from the journal, reads the
/// cluster, and rolls it back (a rolling release is never resumed half-way):
/// every pod back on the previous image, the Deployment no longer paused
/// or marked held, the journal saying where it was interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_held_at_a_batch_by_a_crash_is_rolled_back_by_the_next_host() {
    use helmsman::config::{self, Config, Environment, defaults};
    use helmsman::pipeline::recover::{self, OnRestart};
    use helmsman::store::{History, ReleaseStart};

    let api = FakeApi::start_rolling("v1", 4).await;
    let crashed = traffic_for(&api);
    crashed.prepare("v2").await.unwrap();
    crashed.set_instances(4, 1).await.unwrap();
    assert!(paused(&api), "held at its first batch");
    let state = tempfile::tempdir().unwrap();
    let mut history = History::open(state.path()).unwrap();
    history
        .begin(&ReleaseStart {
            deployment: None,
            id: "r-crashed".into(),
            target: target(),
            strategy: "rolling".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
            started_by: alice(),
            started_at: chrono::Utc::now(),
        })
        .unwrap();
    let service = config::Service {
        name: "checkout".into(),
        backend: config::Backend::Kubernetes(backend(&api)),
        strategy: rolling(Duration::from_millis(100)),
        analysis: defaults::analysis(),
        triggers: defaults::triggers(),
        bands: defaults::bands(),
        health: defaults::health(),
        metrics: config::MetricsSource::Local,
        migrations: None,
        hooks: Vec::new(),
        workdir: ".".into(),
    };
    let config = Config {
        source: "helmsman.toml".into(),
        environments: vec![Environment {
            name: target().env,
            requires: Vec::new(),
            services: vec![service],
            preflight: Default::default(),
            watch_after: None,
        }],
        notify: Vec::new(),
    };

    let undriven = recover::undriven(&history).unwrap();
    assert_eq!(undriven.len(), 1);
    let mut events = Vec::new();
    let mut watcher = |e: &helmsman::engine::Event| events.push(e.reason.clone());
    let taken_over = recover::take_over(
        &config,
        &undriven[0],
        OnRestart::Resume,
        &mut history,
        &mut watcher,
    );
    let result = tokio::time::timeout(Duration::from_secs(120), taken_over)
        .await
        .expect("taken over within 2 minutes")
        .unwrap();
    assert_eq!(result, ReleaseResult::RolledBack, "{events:#?}");
    until(&api, "every pod back on v1", |api| {
        pods(api) == vec![(V1.to_string(), true); 4]
    })
    .await;
    let deployment = api.get("deployments", "checkout");
    assert!(deployment["spec"]["paused"].is_null(), "{deployment}");
    assert!(
        deployment["metadata"]["annotations"]["helmsman.dev/held-at-batch"].is_null(),
        "{deployment}"
    );
    let entry = &history.entries(&Default::default()).unwrap()[0];
    assert_eq!(entry.result, Some(ReleaseResult::RolledBack));
    assert!(
        entry
            .reason
            .starts_with("interrupted before its first step; rolled back by the host"),
        "{}",
        entry.reason
    );
}
