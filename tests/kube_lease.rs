//! The Lease `helmsman-<service>` that keeps two machines from driving a
//! release of one Kubernetes service at once, against the fake API server
//! on loopback (tests/kube/fake_api.rs): taken, renewed and released by
//! the release pipeline; a live holder refuses a release before anything
//! is written; an expired one is taken over.

#[path = "kube/api_status.rs"]
mod api_status;
#[allow(dead_code)] // shared with tests/kube.rs
#[path = "kube/driven.rs"]
mod driven;
#[allow(dead_code)] // shared with tests/kube.rs
#[path = "kube/fake_api.rs"]
mod fake_api;
#[allow(dead_code)] // the pod-by-pod controller is tests/kube_rolling.rs's
#[path = "kube/fake_controller.rs"]
mod fake_controller;

use std::time::Duration;

use chrono::{DateTime, Utc};
use hyper::Method;
use serde_json::{Value, json};

use helmsman::cli::ExitCode;
use helmsman::config::{self, Config, KubernetesBackend, KubernetesSplit};
use helmsman::engine::{Command, CommandKind, Event, ReleaseResult};
use helmsman::pipeline::{self, Attached, PipelineError, ReleaseRequest, Watcher};
use helmsman::providers::traffic::kubernetes::Patience;
use helmsman::providers::traffic::kubernetes::lease::{self, LeaseError, LeaseTerms};
use helmsman::store::History;

use driven::{alice, target};
use fake_api::{Answer, FakeApi, Fault, NAMESPACE};

const LEASE: &str = "helmsman-checkout";

fn config_for(api: &FakeApi) -> Config {
    let text = format!(
        r#"
[[environments]]
name = "prod"
[[environments.services]]
name = "checkout"
strategy = "canary"
[environments.services.backend]
type = "kubernetes"
kubeconfig = "{}"
context = "fake"
namespace = "{NAMESPACE}"
traffic = "gateway-api"
route = "checkout"
stable_service = "checkout-stable"
canary_service = "checkout-canary"
stable_deployment = "checkout-stable"
canary_deployment = "checkout-canary"
container = "app"
image = "registry.example.com/checkout:{{version}}"
canary_replicas = 2
[environments.services.metrics]
type = "prometheus"
url = "http://127.0.0.1:9"
requests = 'sum(http_requests_total{{version="{{version}}"}})'
errors_by_kind = 'sum by (kind) (http_errors_total{{version="{{version}}"}})'
p95_seconds = 'p95{{version="{{version}}"}}'
"#,
        api.kubeconfig.display()
    );
    config::parse_str(&text, std::path::Path::new("h.toml"), &|_| None).expect("valid")
}

fn request() -> ReleaseRequest {
    ReleaseRequest {
        service: "checkout".into(),
        version: "v2".into(),
        envs: vec!["prod".into()],
        strategy: None,
        actor: alice(),
        force: false,
    }
}

fn backend(api: &FakeApi) -> KubernetesBackend {
    KubernetesBackend {
        kubeconfig: Some(api.kubeconfig.to_str().unwrap().to_string()),
        context: Some("fake".into()),
        namespace: NAMESPACE.to_string(),
        split: KubernetesSplit::RollingUpdate {
            deployment: "checkout".into(),
        },
        container: None,
        image: "registry.example.com/checkout:{version}".into(),
    }
}

fn held_lease(holder: &str, renewed: DateTime<Utc>, transitions: i32) -> Value {
    let micro = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": { "name": LEASE },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 30,
            "acquireTime": micro(renewed - chrono::Duration::minutes(5)),
            "renewTime": micro(renewed),
            "leaseTransitions": transitions,
        }
    })
}

fn time_of(lease: &Value, field: &str) -> DateTime<Utc> {
    lease["spec"][field].as_str().unwrap().parse().unwrap()
}

/// Rolls the release back as soon as it starts, after looking at the Lease.
struct RollBackAtOnce<'a> {
    api: &'a FakeApi,
    lease_while_running: Option<Value>,
}

impl Watcher for RollBackAtOnce<'_> {
    fn event(&mut self, _event: &Event) {}

    fn started(&mut self, release: Attached) {
        self.lease_while_running = Some(self.api.get("leases", LEASE));
        let (reply, _answer) = tokio::sync::oneshot::channel();
        let command = Command {
            target: target(),
            kind: CommandKind::Rollback,
            actor: alice(),
        };
        release.commands.try_send((command, reply)).unwrap();
    }
}

#[tokio::test]
async fn a_release_takes_the_lease_and_releases_it_when_it_ends() {
    let api = FakeApi::start("v1").await;
    let state = tempfile::tempdir().unwrap();
    let mut history = History::open(state.path()).unwrap();
    let mut watcher = RollBackAtOnce {
        api: &api,
        lease_while_running: None,
    };
    let before = Utc::now();
    let result = pipeline::run(&config_for(&api), &request(), &mut history, &mut watcher)
        .await
        .unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);

    // While the release ran, the Lease was ours and fresh.
    let running = watcher.lease_while_running.expect("the release started");
    let holder = running["spec"]["holderIdentity"].as_str().unwrap();
    assert!(holder.starts_with("alice@"), "{holder}");
    assert!(
        holder.ends_with(&format!(" pid {}", std::process::id())),
        "{holder}"
    );
    assert_eq!(running["spec"]["leaseDurationSeconds"], 30);
    assert_eq!(running["spec"]["leaseTransitions"], 0);
    assert!(time_of(&running, "renewTime") >= before);
    assert!(time_of(&running, "acquireTime") >= before);

    // Created before any Deployment or route was written, released at the end.
    let log = api.log();
    let created = log
        .iter()
        .position(|l| l == &format!("POST leases/{LEASE}"))
        .unwrap();
    let first_write = log.iter().position(|l| l.starts_with("PUT d")).unwrap();
    assert!(created < first_write, "{log:#?}");
    assert_eq!(
        log.last().unwrap(),
        &format!("PUT leases/{LEASE}"),
        "{log:#?}"
    );
    let after = api.get("leases", LEASE);
    assert!(after["spec"]["holderIdentity"].is_null(), "{after}");
}

#[tokio::test]
async fn a_lease_held_by_another_live_holder_refuses_the_release() {
    let api = FakeApi::start("v1").await;
    api.add(held_lease("bob@bastion-2 pid 77", Utc::now(), 1));
    let state = tempfile::tempdir().unwrap();
    let mut history = History::open(state.path()).unwrap();
    let mut events = |_: &Event| {};
    let e = pipeline::run(&config_for(&api), &request(), &mut history, &mut events)
        .await
        .unwrap_err();

    assert!(matches!(e, PipelineError::LeaseHeld { .. }), "{e:?}");
    assert!(e.is_refusal());
    assert_eq!(ExitCode::from(&e).code(), 1);
    let words = e.to_string();
    assert!(
        words.starts_with(&format!(
            "prod/checkout: refused: the Lease {NAMESPACE}/{LEASE} is held by bob@bastion-2 pid \
             77 since "
        )),
        "{words}"
    );
    assert!(words.contains("a release of it runs from there"), "{words}");
    // Nothing was written: not the Lease, not a Deployment, not the route.
    let log = api.log();
    assert!(
        log.iter()
            .all(|l| !l.starts_with("PUT") && !l.starts_with("POST")),
        "{log:#?}"
    );
    assert_eq!(api.weights(), (100, 0));
    assert_eq!(
        api.get("leases", LEASE)["spec"]["holderIdentity"],
        "bob@bastion-2 pid 77"
    );
}

fn terms(duration: Duration) -> LeaseTerms {
    LeaseTerms {
        duration,
        patience: Patience {
            request_timeout: Duration::from_millis(500),
            attempts: 3,
            first_backoff: Duration::from_millis(20),
            conflicts: 3,
            ..Patience::default()
        },
    }
}

/// `holder` takes the Lease of checkout for `duration`.
async fn take(
    api: &FakeApi,
    holder: &str,
    duration: Duration,
) -> Result<lease::LeaseHold, LeaseError> {
    lease::take_with(&backend(api), "checkout", holder, terms(duration)).await
}

#[tokio::test]
async fn an_expired_lease_of_another_holder_is_taken_over() {
    let api = FakeApi::start_with(Vec::new()).await;
    api.add(held_lease(
        "bob@bastion-2 pid 77",
        Utc::now() - chrono::Duration::seconds(31),
        3,
    ));
    // Another writer wins the first write: read again and take it still.
    api.fail(Fault {
        method: Method::PUT,
        plural: "leases",
        answer: Answer::Status(409),
        times: 1,
    });
    let before = Utc::now();
    let hold = take(&api, "carol@bastion-1 pid 5", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(hold.lease(), format!("{NAMESPACE}/{LEASE}"));
    let taken = api.get("leases", LEASE);
    assert_eq!(taken["spec"]["holderIdentity"], "carol@bastion-1 pid 5");
    assert_eq!(taken["spec"]["leaseTransitions"], 4);
    assert!(time_of(&taken, "acquireTime") >= before);
    assert!(time_of(&taken, "renewTime") >= before);
    let log = api.log();
    assert_eq!(
        log,
        [
            format!("GET leases/{LEASE}"),
            format!("PUT leases/{LEASE}"),
            format!("GET leases/{LEASE}"),
            format!("PUT leases/{LEASE}"),
        ]
    );
    hold.release().await;
    assert!(api.get("leases", LEASE)["spec"]["holderIdentity"].is_null());
}

#[tokio::test]
async fn a_held_lease_is_renewed_every_third_of_its_duration() {
    let api = FakeApi::start_with(Vec::new()).await;
    let hold = take(&api, "carol@bastion-1 pid 5", Duration::from_secs(3))
        .await
        .unwrap();
    let first = time_of(&api.get("leases", LEASE), "renewTime");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let renewed = api.get("leases", LEASE);
    assert_eq!(renewed["spec"]["holderIdentity"], "carol@bastion-1 pid 5");
    assert_eq!(renewed["spec"]["leaseDurationSeconds"], 3);
    let second = time_of(&renewed, "renewTime");
    assert!(
        second > first + chrono::Duration::milliseconds(1500),
        "{first} {second}"
    );

    // While it is renewed, a second taker is refused; dropped, it is no
    // longer written.
    let e = take(&api, "dave@bastion-3 pid 9", Duration::from_secs(3))
        .await
        .err()
        .expect("held");
    let LeaseError::Held(held) = e else {
        panic!("{e}")
    };
    assert_eq!(held.holder, "carol@bastion-1 pid 5");
    drop(hold);
    let writes = api.writes_of("leases", LEASE).len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(api.writes_of("leases", LEASE).len(), writes);
}

/// Another holder taking the Lease over (an operator forcing it from a
/// second bastion) is noticed at the next renewal: the hold says it is
/// lost and why, so the release it guards pauses instead of writing on.
#[tokio::test]
async fn a_lease_taken_by_another_holder_is_reported_lost() {
    let api = FakeApi::start_with(Vec::new()).await;
    let hold = take(&api, "carol@bastion-1 pid 5", Duration::from_secs(3))
        .await
        .unwrap();
    let mut lost = hold.lost();
    assert!(lost.borrow().is_none(), "held");
    api.edit("leases", LEASE, |lease| {
        lease["spec"]["holderIdentity"] = "dave@bastion-3 pid 9".into();
    });
    let why = tokio::time::timeout(Duration::from_secs(5), lost.wait_for(Option::is_some))
        .await
        .expect("noticed within a renewal")
        .unwrap()
        .clone()
        .unwrap();
    assert!(
        why.contains("the Lease shop/helmsman-checkout is lost")
            && why.contains("no longer held by carol@bastion-1 pid 5, but by dave@bastion-3 pid 9"),
        "{why}"
    );
    // It is not written any more: the new holder keeps it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        api.get("leases", LEASE)["spec"]["holderIdentity"],
        "dave@bastion-3 pid 9"
    );
}

/// Records the events and, once the loss of the Lease is said, rolls the
/// release back.
struct RollBackOnceLost {
    events: std::sync::Arc<std::sync::Mutex<Vec<Event>>>,
    commands: Option<helmsman::pipeline::CommandSender>,
}

impl Watcher for RollBackOnceLost {
    fn event(&mut self, event: &Event) {
        self.events.lock().unwrap().push(event.clone());
        if event.reason.contains("is lost")
            && let Some(commands) = &self.commands
        {
            let (reply, _answer) = tokio::sync::oneshot::channel();
            let command = Command {
                target: target(),
                kind: CommandKind::Rollback,
                actor: alice(),
            };
            let _ = commands.try_send((command, reply));
        }
    }

    fn started(&mut self, release: Attached) {
        self.commands = Some(release.commands);
    }
}

/// A release whose Lease another holder takes over pauses at the next
/// renewal (another bastion may be driving the service) and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_whose_lease_is_taken_over_pauses_and_says_why() {
    let api = FakeApi::start("v1").await;
    let state = tempfile::tempdir().unwrap();
    let mut history = History::open(state.path()).unwrap();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut watcher = RollBackOnceLost {
        events: events.clone(),
        commands: None,
    };
    // Another holder takes the Lease once the release has it.
    let taker = async {
        while api
            .log()
            .iter()
            .all(|l| l != &format!("POST leases/{LEASE}"))
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        api.edit("leases", LEASE, |lease| {
            lease["spec"]["holderIdentity"] = "dave@bastion-3 pid 9".into();
        });
    };
    let config = config_for(&api);
    let request = request();
    let release = pipeline::run(&config, &request, &mut history, &mut watcher);
    let (result, ()) = tokio::time::timeout(Duration::from_secs(40), async {
        tokio::join!(release, taker)
    })
    .await
    .expect("paused within a renewal, then rolled back");
    let result = result.unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);
    let events = events.lock().unwrap();
    let lost = events
        .iter()
        .find(|e| e.reason.contains("is lost"))
        .unwrap_or_else(|| panic!("the loss is said: {events:#?}"));
    assert!(
        lost.reason.contains("but by dave@bastion-3 pid 9")
            && lost
                .reason
                .contains("pausing — another bastion may be driving this service"),
        "{}",
        lost.reason
    );
    // The engine's answer to the pause: paused by the engine, not by a person.
    assert!(
        events.iter().any(|e| e.reason.contains("paused by engine")),
        "{events:#?}"
    );
}
