//! The embedded data plane against real upstream HTTP servers on loopback.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use helmsman::config::ConnectionLimits;
use helmsman::dataplane::DataPlane;
use helmsman::metrics::Reading;
use helmsman::observed::TrafficState;
use helmsman::providers::metrics::local::LocalMetrics;
use helmsman::providers::traffic::local::LocalTraffic;
use helmsman::providers::{Metrics, ProviderError, Rotation, Switch, Traffic, Weights};
use serde_json::{Value, json};
use support::{Behaviour, Upstream, client, config, dead_addr, fast_health};
use tokio::sync::{Notify, Semaphore};

/// Sends `n` GETs through the proxy, 8 at a time; returns status/upstream counts.
async fn send(plane: &DataPlane, n: usize) -> BTreeMap<(u16, String), usize> {
    let http = client();
    let url = format!("http://{}/", plane.listen_addr());
    let results = futures::future::join_all((0..8).map(|w| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let mut seen = Vec::new();
            for _ in (w..n).step_by(8) {
                let r = http.get(&url).send().await.unwrap();
                let status = r.status().as_u16();
                seen.push((status, r.text().await.unwrap()));
            }
            seen
        }
    }))
    .await;
    let mut counts = BTreeMap::new();
    for seen in results.into_iter().flatten() {
        *counts.entry(seen).or_insert(0) += 1;
    }
    counts
}

/// An admin call as the operator makes it: state-changing calls carry the
/// data plane's token and a JSON body (`{}` when there is nothing to say).
async fn admin(plane: &DataPlane, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("http://{}{path}", plane.admin_addr());
    let mut req = client().request(method.parse().unwrap(), url);
    if method != "GET" {
        req = req
            .bearer_auth(plane.admin_token().expose())
            .json(&body.unwrap_or_else(|| json!({})));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The traffic provider of `plane`, with its admin token.
fn traffic_for(plane: &DataPlane) -> LocalTraffic {
    LocalTraffic::new(
        plane.admin_addr(),
        Some(plane.admin_token().clone()),
        &ConnectionLimits::default(),
    )
}

async fn two_versions() -> (Vec<Upstream>, DataPlane) {
    let ups = vec![
        Upstream::start("v1-a", Behaviour::default()).await,
        Upstream::start("v1-b", Behaviour::default()).await,
        Upstream::start("v2-a", Behaviour::default()).await,
    ];
    let cfg = config(
        "v1",
        &[
            ("v1", vec![ups[0].addr, ups[1].addr]),
            ("v2", vec![ups[2].addr]),
        ],
        fast_health(),
    );
    (ups, DataPlane::start(cfg).await.unwrap())
}

#[tokio::test]
async fn weights_are_honoured_and_counted() {
    let (_ups, plane) = two_versions().await;
    let traffic = traffic_for(&plane);
    let metrics = LocalMetrics::new(plane.admin_addr(), &ConnectionLimits::default());

    // Before any release: everything on stable, evenly over its instances.
    let before = send(&plane, 100).await;
    assert_eq!(before[&(200, "v1-a".into())], 50);
    assert_eq!(before[&(200, "v1-b".into())], 50);

    traffic.prepare("v2").await.unwrap();
    // Staged: health-checked, but no user traffic.
    let staged = send(&plane, 100).await;
    assert!(!staged.contains_key(&(200, "v2-a".into())));

    traffic.set_weight(25).await.unwrap();
    let counts = send(&plane, 2000).await;
    // The split is exact (not random) over every 100 consecutive requests.
    assert_eq!(counts[&(200, "v2-a".into())], 500, "{counts:?}");
    assert_eq!(
        counts[&(200, "v1-a".into())] + counts[&(200, "v1-b".into())],
        1500
    );

    let r = metrics.read().await.unwrap();
    assert_eq!(r.new.requests, 500);
    assert_eq!(r.new.errors, 0);
    assert_eq!(r.new.latency.total(), 500);
    assert_eq!(r.baseline.requests, 100 + 100 + 1500);
    assert_eq!(r.baseline.latency.total(), 1700);
    assert!(r.baseline.p95_ms().is_some());

    let state = traffic.state().await.unwrap();
    assert_eq!(state.new_weight, 25);
    assert_eq!(state.new_version.as_deref(), Some("v2"));
    assert!(state.new.iter().all(|i| i.in_rotation && i.healthy));
    assert_eq!(state.flag_percent, None);
    plane.shutdown().await;
}

#[tokio::test]
async fn errors_are_counted_by_kind() {
    let ok = Upstream::start("v1-a", Behaviour::default()).await;
    let failing = Upstream::start(
        "v2-503",
        Behaviour {
            status: Some(503),
            ..Default::default()
        },
    )
    .await;
    let timeout = Upstream::start(
        "v2-timeout",
        Behaviour {
            error_kind: Some("TimeoutException"),
            ..Default::default()
        },
    )
    .await;
    let dead = dead_addr().await;
    let cfg = config(
        "v1",
        &[
            ("v1", vec![ok.addr]),
            ("v2", vec![failing.addr, timeout.addr]),
            ("v3", vec![dead]),
        ],
        fast_health(),
    );
    let plane = DataPlane::start(cfg).await.unwrap();
    let traffic = traffic_for(&plane);
    traffic.prepare("v2").await.unwrap();
    traffic.switch(true).await.unwrap();
    let counts = send(&plane, 10).await;
    assert_eq!(counts[&(503, "v2-503".into())], 5);
    assert_eq!(counts[&(200, "v2-timeout".into())], 5);

    let (_, raw) = admin(&plane, "GET", "/api/v1/counters", None).await;
    let r: Reading = serde_json::from_value(raw).unwrap();
    assert_eq!((r.new.requests, r.new.errors), (10, 10));
    assert_eq!(r.new.errors_by_kind["http_503"], 5);
    assert_eq!(r.new.errors_by_kind["TimeoutException"], 5);
    assert_eq!(r.baseline.errors, 0);

    // A version nobody listens for: 502, counted as `connect`.
    traffic.discard().await.unwrap();
    traffic.prepare("v3").await.unwrap();
    traffic.set_weight(100).await.unwrap();
    let counts = send(&plane, 4).await;
    assert_eq!(
        counts[&(502, "upstream refused the connection\n".into())],
        4
    );
    let r = LocalMetrics::new(plane.admin_addr(), &ConnectionLimits::default())
        .read()
        .await
        .unwrap();
    assert_eq!(r.new.errors_by_kind["connect"], 4);
    assert_eq!(r.new.errors, 4);
    plane.shutdown().await;
}

#[tokio::test]
async fn a_refused_connection_is_retried_once_on_another_instance() {
    let alive = Upstream::start("v1-alive", Behaviour::default()).await;
    let dead = dead_addr().await;
    // Health checks far apart: the dead instance stays "healthy", so the
    // proxy really tries it and must retry.
    let mut health = fast_health();
    health.interval = Duration::from_secs(3600);
    let plane = DataPlane::start(config("v1", &[("v1", vec![dead, alive.addr])], health))
        .await
        .unwrap();
    let counts = send(&plane, 20).await;
    assert_eq!(counts[&(200, "v1-alive".into())], 20, "{counts:?}");
    let r = LocalMetrics::new(plane.admin_addr(), &ConnectionLimits::default())
        .read()
        .await
        .unwrap();
    assert_eq!((r.baseline.requests, r.baseline.errors), (20, 0));
    plane.shutdown().await;
}

#[tokio::test]
async fn forwards_path_query_body_and_headers() {
    let (_ups, plane) = two_versions().await;
    let r = client()
        .post(format!("http://{}/orders/42?x=1&y=2", plane.listen_addr()))
        .header("x-forwarded-for", "10.0.0.9")
        .header("connection", "x-hop")
        .header("x-hop", "must not pass")
        .body(vec![7u8; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["x-seen-path"], "/orders/42?x=1&y=2");
    assert_eq!(h["x-seen-xff"], "10.0.0.9, 127.0.0.1");
    assert_eq!(
        h["x-seen-hop"], "no",
        "headers named in Connection are hop-by-hop"
    );
    assert_eq!(h["x-seen-body-len"], "100000");
    plane.shutdown().await;
}

/// `/metrics` of a plane that served 40 requests at 50 %, asked for with
/// `accept`: its content type and its text.
async fn scraped(accept: Option<&str>) -> (String, String) {
    let (_ups, plane) = two_versions().await;
    let traffic = traffic_for(&plane);
    traffic.prepare("v2").await.unwrap();
    traffic.set_weight(50).await.unwrap();
    send(&plane, 40).await;
    let mut request = client().get(format!("http://{}/metrics", plane.admin_addr()));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    let text = r.text().await.unwrap();
    plane.shutdown().await;
    (content_type, text)
}

/// Feeds `text` to a parser's standard input; panics with what it said
/// unless it accepted it, and returns what it printed.
fn accepted_by(parser: &mut std::process::Command, text: &str) -> String {
    let mut child = parser
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{parser:?} rejected /metrics:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn metrics_exposition_is_valid_prometheus_text() {
    let (content_type, text) = scraped(None).await;
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    assert!(text.contains(
        "helmsman_requests_total{service=\"dev/checkout\",version=\"v2\",side=\"new\"} 20\n"
    ));
    assert!(text.contains("helmsman_new_weight{service=\"dev/checkout\"} 50\n"));
    assert!(text.contains("helmsman_request_duration_seconds_count{service=\"dev/checkout\",version=\"v1\",side=\"stable\"} 20\n"));
    assert_eq!(text.matches("helmsman_instance_healthy{").count(), 3);

    // The real parser: Prometheus' own `promtool check metrics`.
    let promtool = std::path::Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        support::missing_tool("/usr/bin/promtool (Debian's package prometheus)");
        return;
    }
    accepted_by(
        std::process::Command::new(promtool).args(["check", "metrics"]),
        &text,
    );
}

/// OpenMetrics for a scraper that asks for it alone, checked by the
/// reference parser: the Python client's (`.ci/run` installs it, pinned,
/// into target/py), which refuses what the format forbids — a histogram
/// without its +Inf bucket, a missing `# EOF`.
#[tokio::test]
async fn metrics_exposition_is_valid_openmetrics_when_asked_for() {
    let (content_type, text) = scraped(Some("application/openmetrics-text; version=1.0.0")).await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(text.contains(
        "helmsman_requests_total{service=\"dev/checkout\",version=\"v2\",side=\"new\"} 20\n"
    ));

    let python_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/py");
    if !python_path.join("prometheus_client").is_dir() {
        support::missing_tool("the Python prometheus-client in target/py (.ci/run installs it)");
        return;
    }
    let parse = [
        "import sys",
        "from prometheus_client.openmetrics.parser import text_string_to_metric_families",
        "for family in text_string_to_metric_families(sys.stdin.read()):",
        "    print(family.name, family.type, len(family.samples))",
    ]
    .join("\n");
    let families = accepted_by(
        std::process::Command::new("python3")
            .args(["-c", &parse])
            .env("PYTHONPATH", &python_path),
        &text,
    );
    assert!(
        families.contains("helmsman_request_duration_seconds histogram"),
        "{families}"
    );
    assert!(
        families.contains("helmsman_requests counter 2\n"),
        "{families}"
    );
}

/// Polls the admin state until `ready` holds (health checks run on real
/// time here; the bound only keeps a broken build from hanging).
async fn wait_for_state(
    traffic: &LocalTraffic,
    ready: impl Fn(&TrafficState) -> bool,
) -> TrafficState {
    for _ in 0..500 {
        let state = traffic.state().await.unwrap();
        if ready(&state) {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("state never reached: {:?}", traffic.state().await);
}

#[tokio::test]
async fn health_checks_mark_a_stopped_instance_and_route_around_it() {
    let mut ups = vec![
        Upstream::start("v1-a", Behaviour::default()).await,
        Upstream::start("v1-b", Behaviour::default()).await,
    ];
    let bad_new = Upstream::start(
        "v2-sick",
        Behaviour {
            unhealthy: true,
            ..Default::default()
        },
    )
    .await;
    let cfg = config(
        "v1",
        &[
            ("v1", vec![ups[0].addr, ups[1].addr]),
            ("v2", vec![bad_new.addr]),
        ],
        fast_health(),
    );
    let plane = DataPlane::start(cfg).await.unwrap();
    let traffic = traffic_for(&plane);

    // A staged version is health-checked while it gets no traffic.
    traffic.prepare("v2").await.unwrap();
    let state = wait_for_state(&traffic, |s| s.new.iter().all(|i| !i.healthy)).await;
    assert!(!state.new[0].in_rotation);

    let b_addr = ups[1].addr.to_string();
    ups.pop().unwrap().stop().await;
    let state = wait_for_state(&traffic, |s| {
        s.stable.iter().any(|i| i.name == b_addr && !i.healthy)
    })
    .await;
    assert!(state.stable.iter().any(|i| i.name != b_addr && i.healthy));

    let counts = send(&plane, 30).await;
    assert_eq!(counts.get(&(200, "v1-a".into())), Some(&30), "{counts:?}");

    let metrics = client()
        .get(format!("http://{}/metrics", plane.admin_addr()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(&format!(
        "helmsman_instance_healthy{{service=\"dev/checkout\",version=\"v1\",side=\"stable\",instance=\"{b_addr}\"}} 0\n"
    )));
    plane.shutdown().await;
}

#[tokio::test]
async fn a_plane_answers_for_the_planes_of_its_process_on_its_address() {
    let (_a_ups, a) = two_versions().await;
    let (_b_ups, b) = two_versions().await;
    traffic_for(&b).prepare("v2").await.unwrap();
    let nobody = "127.0.0.1:1";
    let list = format!("{},{},{nobody}", a.admin_addr(), b.admin_addr());

    let (s, v) = admin(
        &a,
        "GET",
        &format!("/api/v1/observed/siblings?admin={list}"),
        None,
    )
    .await;

    assert_eq!(s, 200, "{v}");
    let planes = v["planes"].as_object().unwrap();
    assert_eq!(planes.len(), 2, "nothing listens on {nobody}: {v}");
    for plane in [&a, &b] {
        let (_, own) = admin(plane, "GET", "/api/v1/observed", None).await;
        assert_eq!(planes[&plane.admin_addr().to_string()], own);
    }
    assert_eq!(
        planes[&b.admin_addr().to_string()]["traffic"]["new_version"],
        "v2"
    );

    let many = vec![nobody; helmsman::dataplane::admin::MAX_SIBLINGS + 1].join(",");
    let (s, v) = admin(
        &a,
        "GET",
        &format!("/api/v1/observed/siblings?admin={many}"),
        None,
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        v["error"].as_str().unwrap().contains("at most 128 at once"),
        "{v}"
    );
}

#[tokio::test]
async fn admin_api_changes_state_and_explains_refusals() {
    let (_ups, plane) = two_versions().await;
    let (s, v) = admin(&plane, "GET", "/api/v1/state", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["stable_version"], "v1");
    assert_eq!(v["new_version"], Value::Null);

    // Refusals, each with a JSON error naming the problem.
    let cases: Vec<(&str, &str, Option<Value>, u16, &str)> = vec![
        (
            "PUT",
            "/api/v1/release",
            Some(json!({"version": "v9"})),
            404,
            "unknown version `v9`",
        ),
        (
            "PUT",
            "/api/v1/release",
            Some(json!({"version": "v1"})),
            409,
            "already the stable",
        ),
        (
            "PUT",
            "/api/v1/weight",
            Some(json!({"new_percent": 10})),
            409,
            "no release is staged",
        ),
        ("POST", "/api/v1/finish", None, 409, "no release is staged"),
        (
            "PUT",
            "/api/v1/release",
            Some(json!({"vers": "v2"})),
            400,
            "invalid JSON body",
        ),
        (
            "PUT",
            "/api/v1/weight",
            Some(json!({"new_percent": "ten"})),
            400,
            "invalid JSON body",
        ),
        ("GET", "/api/v1/weight", None, 405, "use PUT"),
        ("PUT", "/api/v1/state", None, 405, "use GET"),
        ("GET", "/api/v2/nothing", None, 404, "no such endpoint"),
        (
            "GET",
            "/api/v1/observed/siblings",
            None,
            400,
            "name the planes",
        ),
        (
            "GET",
            "/api/v1/observed/siblings?admin=127.0.0.1:1,nowhere",
            None,
            400,
            "`nowhere` is not an admin address",
        ),
        ("PUT", "/api/v1/observed/siblings", None, 405, "use GET"),
    ];
    for (method, path, body, status, message) in cases {
        let (s, v) = admin(&plane, method, path, body.clone()).await;
        assert_eq!(s, status, "{method} {path} {body:?}: {v}");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{method} {path}: {error}");
    }

    let (s, v) = admin(
        &plane,
        "PUT",
        "/api/v1/release",
        Some(json!({"version": "v2"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["new_version"], "v2");
    assert_eq!(v["new"][0]["in_rotation"], false);
    let (s, v) = admin(
        &plane,
        "PUT",
        "/api/v1/weight",
        Some(json!({"new_percent": 101})),
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap().contains("0..=100")),
        (400, true)
    );
    let (s, v) = admin(
        &plane,
        "PUT",
        "/api/v1/instances",
        Some(json!({"stable": 3, "new": 1})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = admin(
        &plane,
        "PUT",
        "/api/v1/instances",
        Some(json!({"stable": 0, "new": 0})),
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (400, "at least one instance must stay in rotation")
    );

    let (s, v) = admin(
        &plane,
        "PUT",
        "/api/v1/weight",
        Some(json!({"new_percent": 30})),
    )
    .await;
    assert_eq!((s, v["new_weight"].as_u64()), (200, Some(30)));
    let (s, v) = admin(
        &plane,
        "PUT",
        "/api/v1/instances",
        Some(json!({"stable": 1, "new": 1})),
    )
    .await;
    assert_eq!((s, v["new_weight"].as_u64()), (200, Some(50)));
    assert_eq!(v["stable"][1]["in_rotation"], false);
    let (s, v) = admin(&plane, "POST", "/api/v1/discard", None).await;
    assert_eq!(
        (s, v["new_version"].clone(), v["new_weight"].as_u64()),
        (200, Value::Null, Some(0))
    );
    let (s, _) = admin(
        &plane,
        "PUT",
        "/api/v1/release",
        Some(json!({"version": "v2"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = admin(&plane, "POST", "/api/v1/finish", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (v["stable_version"].as_str(), v["new_version"].clone()),
        (Some("v2"), Value::Null)
    );
    assert_eq!(v["stable"][0]["in_rotation"], true);
    let counts = send(&plane, 10).await;
    assert_eq!(counts[&(200, "v2-a".into())], 10);

    // The providers report failures with the admin address in the message.
    let another = traffic_for(&plane);
    let refused = another.prepare("v9").await.unwrap_err();
    assert!(matches!(refused, ProviderError::Rejected { .. }));
    assert!(
        refused
            .to_string()
            .contains(&plane.admin_addr().to_string())
    );
    assert!(refused.to_string().contains("unknown version"));
    let backend: &dyn Traffic = &another;
    assert!(backend.set_flag(10).await.is_err());
    // Without the token, reading works and changing is refused, saying why.
    let anonymous = LocalTraffic::new(plane.admin_addr(), None, &ConnectionLimits::default());
    assert_eq!(anonymous.state().await.unwrap().stable_version, "v2");
    let refused = anonymous.discard().await.unwrap_err().to_string();
    assert!(
        refused.contains("401") && refused.contains("Authorization: Bearer"),
        "{refused}"
    );
    plane.shutdown().await;

    let gone = dead_addr().await;
    let err = LocalMetrics::new(gone, &ConnectionLimits::default())
        .read()
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&gone.to_string()));
}

#[tokio::test]
async fn a_request_in_flight_to_a_drained_instance_finishes() {
    let gate = Arc::new(Semaphore::new(0));
    let arrived = Arc::new(Notify::new());
    let old = Upstream::start(
        "v1-slow",
        Behaviour {
            gate: Some(gate.clone()),
            arrived: Some(arrived.clone()),
            ..Default::default()
        },
    )
    .await;
    let new = Upstream::start("v2-a", Behaviour::default()).await;
    let plane = DataPlane::start(config(
        "v1",
        &[("v1", vec![old.addr]), ("v2", vec![new.addr])],
        fast_health(),
    ))
    .await
    .unwrap();
    let traffic = traffic_for(&plane);
    traffic.prepare("v2").await.unwrap();

    let url = format!("http://{}/slow", plane.listen_addr());
    let in_flight = tokio::spawn(async move { client().get(url).send().await });
    arrived.notified().await;

    // The old version leaves rotation while its request is still running.
    traffic.set_instances(0, 1).await.unwrap();
    traffic.finish().await.unwrap();
    let counts = send(&plane, 5).await;
    assert_eq!(counts[&(200, "v2-a".into())], 5);

    gate.add_permits(1);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "v1-slow");
    plane.shutdown().await;
}

#[tokio::test]
async fn start_refuses_a_stable_version_without_instances() {
    let cfg = config("v1", &[("v2", vec![dead_addr().await])], fast_health());
    let err = DataPlane::start(cfg).await.err().unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("`v1`"));
}
