//! HAProxy's runtime API, as helmsman speaks it, against a real HAProxy
//! (Debian's `haproxy`; `.ci/run` installs it) in front of real loopback
//! upstreams: what is read back is what HAProxy really does with traffic.

mod ports;
#[path = "haproxy/server.rs"]
mod server;
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use helmsman::demo::sample_service::{Behaviour, SampleService};
use helmsman::providers::haproxy::{Address, Admin, HaProxyMetrics, HaProxyTraffic, RuntimeApi};
use helmsman::providers::{Metrics, ProviderError, Traffic};
use server::HaProxy;

const TIMEOUT: Duration = Duration::from_secs(5);

async fn upstream(version: &str) -> SampleService {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    SampleService::start(any, Behaviour::healthy(version))
        .await
        .unwrap()
}

/// Sends `n` requests through HAProxy; how many each version answered.
async fn spread(haproxy: &HaProxy, n: usize) -> HashMap<String, usize> {
    let client = support::client();
    let mut answered = HashMap::new();
    for _ in 0..n {
        let response = client
            .get(format!("http://127.0.0.1:{}/", haproxy.listen))
            .send()
            .await
            .unwrap();
        let version = response.headers()["x-version"]
            .to_str()
            .unwrap()
            .to_string();
        *answered.entry(version).or_insert(0) += 1;
    }
    answered
}

/// Waits (bounded) until `server`'s health is `up` as HAProxy judges it.
async fn until_up(api: &RuntimeApi, server: &str, up: bool) {
    for _ in 0..100 {
        let servers = api.servers("web").await.unwrap();
        if servers.iter().any(|s| s.server == server && s.up == up) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{server} never {}", if up { "up" } else { "down" });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_and_states_set_are_what_haproxy_does() {
    let (v1, v2) = (upstream("v1").await, upstream("v2").await);
    let Some(haproxy) = HaProxy::start(&[("v1-a", v1.addr(), 100), ("v2-a", v2.addr(), 0)]).await
    else {
        return;
    };
    // The same API on the socket and on TCP.
    let socket = RuntimeApi::new(Address::Socket(haproxy.socket()), TIMEOUT);
    let tcp = RuntimeApi::new(
        Address::parse(&format!("127.0.0.1:{}", haproxy.api_port)).unwrap(),
        TIMEOUT,
    );
    let servers = socket.servers("web").await.unwrap();
    assert_eq!(servers, tcp.servers("web").await.unwrap());
    let weights: Vec<(String, u16, u16)> = servers
        .iter()
        .map(|s| (s.server.clone(), s.weight, s.file_weight))
        .collect();
    assert_eq!(
        weights,
        [("v1-a".to_string(), 100, 100), ("v2-a".to_string(), 0, 0)]
    );
    until_up(&socket, "v2-a", true).await;
    assert_eq!(
        spread(&haproxy, 40).await,
        HashMap::from([("v1".into(), 40)])
    );

    // Even weights: HAProxy's round robin answers half and half.
    tcp.set_weight("web", "v2-a", 100).await.unwrap();
    let read = socket.servers("web").await.unwrap();
    assert_eq!(read[1].weight, 100, "{read:?}");
    assert_eq!(read[1].file_weight, 0, "the file's weight is kept apart");
    assert_eq!(
        spread(&haproxy, 40).await,
        HashMap::from([("v1".into(), 20), ("v2".into(), 20)])
    );
    // `show stat` counted what each served, from HAProxy's start.
    let stats = socket.stats("web").await.unwrap();
    let served: Vec<(String, u64, u64)> = stats
        .iter()
        .map(|s| (s.server.clone(), s.sessions, s.responses[1]))
        .collect();
    assert_eq!(
        served,
        [("v1-a".to_string(), 60, 60), ("v2-a".to_string(), 20, 20)]
    );
    assert!(stats.iter().all(|s| s.status == "UP"), "{stats:?}");

    // Drained: v1 takes no new request.
    socket.set_state("web", "v1-a", Admin::Drain).await.unwrap();
    assert_eq!(socket.servers("web").await.unwrap()[0].admin, Admin::Drain);
    assert_eq!(
        spread(&haproxy, 10).await,
        HashMap::from([("v2".into(), 10)])
    );
    socket.set_state("web", "v1-a", Admin::Ready).await.unwrap();
    assert_eq!(socket.servers("web").await.unwrap()[0].admin, Admin::Ready);
    socket.set_state("web", "v2-a", Admin::Maint).await.unwrap();
    assert_eq!(socket.servers("web").await.unwrap()[1].admin, Admin::Maint);
    assert_eq!(
        spread(&haproxy, 10).await,
        HashMap::from([("v1".into(), 10)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_names_are_refused_in_haproxys_words_and_a_dead_server_is_down() {
    let (v1, v2) = (upstream("v1").await, upstream("v2").await);
    let Some(haproxy) = HaProxy::start(&[("v1-a", v1.addr(), 100), ("v2-a", v2.addr(), 100)]).await
    else {
        return;
    };
    let api = RuntimeApi::new(Address::Socket(haproxy.socket()), TIMEOUT);
    let refused = |e: ProviderError| match e {
        ProviderError::Rejected { detail, .. } => detail,
        other => panic!("not a refusal: {other}"),
    };
    let no_backend = refused(api.servers("shop").await.unwrap_err());
    assert!(no_backend.contains("backend"), "{no_backend}");
    let no_server = refused(api.set_weight("web", "v3-a", 10).await.unwrap_err());
    assert!(no_server.contains("No such server"), "{no_server}");
    // A name that would end the command is never sent.
    let injected = refused(
        api.set_weight("web", "v1-a weight 0;", 10)
            .await
            .unwrap_err(),
    );
    assert!(injected.contains("not a server name"), "{injected}");
    // A socket nobody listens on is unreachable, and said so.
    let gone = RuntimeApi::new(
        Address::Socket(haproxy.socket().with_extension("gone")),
        TIMEOUT,
    );
    assert!(matches!(
        gone.servers("web").await.unwrap_err(),
        ProviderError::Unreachable { .. }
    ));

    // An instance that dies is DOWN once its health checks fail.
    until_up(&api, "v2-a", true).await;
    v2.stop();
    until_up(&api, "v2-a", false).await;
    let stats = api.stats("web").await.unwrap();
    assert!(stats[1].status.starts_with("DOWN"), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_version_s_numbers_are_summed_from_its_servers_and_a_restart_is_refused() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let bad = Behaviour {
        error_pct: 50.0,
        ..Behaviour::healthy("v2")
    };
    let v1 = upstream("v1").await;
    let v2a = SampleService::start(any, bad.clone()).await.unwrap();
    let v2b = SampleService::start(any, bad).await.unwrap();
    let servers = [
        ("v1-a", v1.addr(), 100),
        ("v2-a", v2a.addr(), 100),
        ("v2-b", v2b.addr(), 100),
    ];
    let Some(mut haproxy) = HaProxy::start(&servers).await else {
        return;
    };
    let api = RuntimeApi::new(Address::Socket(haproxy.socket()), TIMEOUT);
    until_up(&api, "v2-b", true).await;
    let metrics = HaProxyMetrics::new(
        api.clone(),
        "web",
        vec!["v1-a".into()],
        vec!["v2-a".into(), "v2-b".into()],
    );
    let before = metrics.read().await.unwrap();
    assert_eq!((before.new.requests, before.baseline.requests), (0, 0));
    // Round robin over three even servers: a third to v1, two to v2,
    // whose instances answer every other request with a 500.
    let answered = spread(&haproxy, 300).await;
    assert_eq!(
        answered,
        HashMap::from([("v1".into(), 100), ("v2".into(), 200)])
    );
    let reading = metrics.read().await.unwrap();
    assert_eq!(reading.baseline.requests, 100);
    assert_eq!(reading.new.requests, 200);
    assert_eq!(reading.new.errors, 100);
    assert_eq!(
        reading.new.errors_by_kind,
        [("http_5xx".to_string(), 100)].into_iter().collect()
    );
    // The sample service's 0.1 % falls on request 1 000: none yet.
    assert_eq!(reading.baseline.errors, 0);
    // HAProxy's average response time, as the only latency it keeps.
    let avg = reading.new.p95_ms().expect("an average response time");
    assert!((0.0..1_000.0).contains(&avg), "{avg}");

    // A server the backend does not have is named with those it has.
    let wrong = HaProxyMetrics::new(api.clone(), "web", vec!["v1-a".into()], vec!["v3-a".into()]);
    match wrong.read().await.unwrap_err() {
        ProviderError::Invalid { detail, .. } => {
            assert!(
                detail.contains("no server `v3-a`") && detail.contains("`v2-b`"),
                "{detail}"
            )
        }
        other => panic!("{other}"),
    }

    // A restart puts every counter back to 0: refused, never judged, even
    // once the new process has counted more than the old one had.
    haproxy.restart().await;
    until_up(&api, "v2-b", true).await;
    spread(&haproxy, 330).await;
    match metrics.read().await.unwrap_err() {
        ProviderError::Invalid { detail, .. } => assert!(detail.contains("went back"), "{detail}"),
        other => panic!("{other}"),
    }
    // From the new start, readings climb again and are taken, on top of
    // what the old process had counted: totals never go back.
    spread(&haproxy, 30).await;
    let again = metrics.read().await.unwrap();
    assert_eq!(again.new.requests + again.baseline.requests, 300 + 360);
    assert_eq!(again.baseline.requests, 100 + 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serving_version_is_read_a_reload_is_undone_and_a_hand_change_is_drift() {
    let (v1, v2) = (upstream("v1").await, upstream("v2").await);
    let Some(mut haproxy) =
        HaProxy::start(&[("v1-a", v1.addr(), 100), ("v2-a", v2.addr(), 0)]).await
    else {
        return;
    };
    let api = RuntimeApi::new(Address::Socket(haproxy.socket()), TIMEOUT);
    until_up(&api, "v2-a", true).await;
    let versions = || {
        [
            ("v1".to_string(), vec!["v1-a".to_string()]),
            ("v2".to_string(), vec!["v2-a".to_string()]),
        ]
        .into_iter()
        .collect()
    };
    let refused = |e: ProviderError| match e {
        ProviderError::Rejected { detail, .. } => detail,
        other => panic!("not a refusal: {other}"),
    };

    // Before a release, the version serving is the one in rotation.
    let reader = HaProxyTraffic::new(api.clone(), "web", versions(), None);
    assert_eq!(reader.state().await.unwrap().stable_version, "v1");
    // A backend HAProxy does not have is named with those it has.
    let lost = HaProxyTraffic::new(api.clone(), "shop", versions(), None);
    let detail = refused(lost.state().await.unwrap_err());
    assert!(
        detail.contains("no backend `shop`") && detail.contains("`web`"),
        "{detail}"
    );

    let traffic = HaProxyTraffic::new(api.clone(), "web", versions(), Some("v1"));
    traffic.prepare("v2").await.unwrap();
    traffic.as_weights().unwrap().set_weight(50).await.unwrap();
    assert_eq!(traffic.state().await.unwrap().new_weight, 50);

    // A reload puts v2-a back to the file's weight 0: the next reading
    // says so and sets 50 % again, the one after shows it.
    haproxy.reload().await;
    let detail = refused(traffic.state().await.unwrap_err());
    assert!(
        detail.contains("reloaded or restarted") && detail.contains("`v2-a` is at weight 0"),
        "{detail}"
    );
    assert_eq!(traffic.state().await.unwrap().new_weight, 50);
    let answered = spread(&haproxy, 20).await;
    assert_eq!(
        answered,
        HashMap::from([("v1".into(), 10), ("v2".into(), 10)])
    );
    // Both versions in rotation: no reader can tell which one serves.
    let detail = refused(reader.state().await.unwrap_err());
    assert!(detail.contains("all in rotation"), "{detail}");

    // Someone sets a weight by hand in the same process: drift, which
    // helmsman holds on and does not overwrite.
    api.set_weight("web", "v2-a", 10).await.unwrap();
    let detail = refused(traffic.state().await.unwrap_err());
    assert!(detail.contains("drift"), "{detail}");
    let weight = api.servers("web").await.unwrap()[1].weight;
    assert_eq!(weight, 10);
    // Set back as helmsman had it: the release goes on.
    api.set_weight("web", "v2-a", 256).await.unwrap();
    let state = traffic.state().await.unwrap();
    assert!(
        state.new[0].healthy && state.new[0].in_rotation,
        "{state:?}"
    );

    // A new server HAProxy marks DOWN is an unhealthy new instance, which
    // the `unhealthy_instances` trigger counts.
    v2.stop();
    until_up(&api, "v2-a", false).await;
    let state = traffic.state().await.unwrap();
    assert!(!state.new[0].healthy, "{state:?}");
    assert_eq!(
        state.new_weight, 0,
        "a DOWN server takes no share: {state:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_a_switch_and_rolling_batches_move_requests_as_asked() {
    let (v1a, v1b) = (upstream("v1").await, upstream("v1").await);
    let (v2a, v2b) = (upstream("v2").await, upstream("v2").await);
    let servers = [
        ("v1-a", v1a.addr(), 100),
        ("v1-b", v1b.addr(), 100),
        ("v2-a", v2a.addr(), 0),
        ("v2-b", v2b.addr(), 0),
    ];
    let Some(haproxy) = HaProxy::start(&servers).await else {
        return;
    };
    let api = RuntimeApi::new(Address::Socket(haproxy.socket()), TIMEOUT);
    let versions = [
        (
            "v1".to_string(),
            vec!["v1-a".to_string(), "v1-b".to_string()],
        ),
        (
            "v2".to_string(),
            vec!["v2-a".to_string(), "v2-b".to_string()],
        ),
    ]
    .into_iter()
    .collect();
    // Driven as the engine drives any backend: through `dyn Traffic`.
    let traffic: Box<dyn Traffic> = Box::new(HaProxyTraffic::new(
        api.clone(),
        "web",
        versions,
        Some("v1"),
    ));
    let only = |version: &str, n: usize| HashMap::from([(version.to_string(), n)]);

    // Prepared: ready, health-checked, no request.
    traffic.prepare("v2").await.unwrap();
    until_up(&api, "v2-b", true).await;
    let state = traffic.state().await.unwrap();
    assert_eq!(
        (state.new_version.as_deref(), state.new_weight),
        (Some("v2"), 0)
    );
    assert!(
        state.new.iter().all(|i| i.healthy && !i.in_rotation),
        "{state:?}"
    );
    assert_eq!(spread(&haproxy, 20).await, only("v1", 20));

    // A canary at 25 %: HAProxy's weighted round robin gives v2 a quarter.
    traffic.set_weight(25).await.unwrap();
    assert_eq!(traffic.state().await.unwrap().new_weight, 25);
    let answered = spread(&haproxy, 400).await;
    let to_new = answered.get("v2").copied().unwrap_or(0);
    assert!((95..=105).contains(&to_new), "{answered:?}");
    traffic.set_weight(100).await.unwrap();
    assert_eq!(traffic.state().await.unwrap().new_weight, 100);
    assert_eq!(spread(&haproxy, 20).await, only("v2", 20));

    // Blue-green: switched back and forth whole.
    traffic.switch(false).await.unwrap();
    assert_eq!(spread(&haproxy, 20).await, only("v1", 20));
    traffic.switch(true).await.unwrap();
    assert_eq!(spread(&haproxy, 20).await, only("v2", 20));

    // Rolling: one server of each in rotation, the others drained.
    traffic.set_instances(1, 1).await.unwrap();
    let state = traffic.state().await.unwrap();
    let rotation = |instances: &[helmsman::observed::Instance]| {
        instances.iter().map(|i| i.in_rotation).collect::<Vec<_>>()
    };
    assert_eq!(rotation(&state.stable), [true, false]);
    assert_eq!(rotation(&state.new), [true, false]);
    assert_eq!(
        spread(&haproxy, 40).await,
        HashMap::from([("v1".into(), 20), ("v2".into(), 20)])
    );

    // A new instance that dies is out of rotation as HAProxy sees it.
    v2b.stop();
    traffic.set_instances(0, 2).await.unwrap();
    until_up(&api, "v2-b", false).await;
    let state = traffic.state().await.unwrap();
    assert_eq!(
        state.new.iter().map(|i| i.healthy).collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(state.new_weight, 100);
    assert_eq!(spread(&haproxy, 20).await, only("v2", 20));

    // A rollback: everything on v1, v2 drained and forgotten.
    traffic.discard().await.unwrap();
    let state = traffic.state().await.unwrap();
    assert_eq!((state.new_version, state.new_weight), (None, 0));
    assert_eq!(spread(&haproxy, 20).await, only("v1", 20));

    // A success: v2 stable at 100 %, v1 drained.
    traffic.prepare("v2").await.unwrap();
    traffic.set_weight(100).await.unwrap();
    traffic.finish().await.unwrap();
    let state = traffic.state().await.unwrap();
    assert_eq!(
        (state.stable_version.as_str(), state.new_version),
        ("v2", None)
    );
    assert_eq!(spread(&haproxy, 20).await, only("v2", 20));

    // A version without servers, and a server HAProxy does not have.
    assert!(traffic.prepare("v3").await.is_err());
    let bare = [
        ("v2".to_string(), vec!["v2-a".to_string()]),
        ("v9".to_string(), vec!["v9-a".to_string()]),
    ]
    .into_iter()
    .collect();
    let wrong = HaProxyTraffic::new(api.clone(), "web", bare, Some("v2"));
    match wrong.prepare("v9").await.unwrap_err() {
        ProviderError::Rejected { detail, .. } => {
            assert!(
                detail.contains("no server `v9-a`") && detail.contains("`v1-b`"),
                "{detail}"
            )
        }
        other => panic!("{other}"),
    }
}
