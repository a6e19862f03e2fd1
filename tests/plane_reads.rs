//! A release's traffic and metrics providers share the reads of their data
//! plane: a periodic reading of both costs one admin call, never answered
//! by a call sent before it was asked for, and a data plane from before
//! the combined call is still read. Reads of several planes are gathered
//! into one call that a plane answers for its siblings; a plane it cannot
//! answer for, or a call that fails, leaves each plane to be read on its
//! own. Checked through recording proxies in front of real data planes,
//! so every answer is the data plane's own; each recording test's proxies
//! listen on a loopback address of their own, so no other test's reads
//! are gathered with theirs.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use helmsman::config::ConnectionLimits;
use helmsman::dataplane::DataPlane;
use helmsman::metrics::Reading;
use helmsman::observed::TrafficState;
use helmsman::providers::metrics::local::LocalMetrics;
use helmsman::providers::traffic::local::LocalTraffic;
use helmsman::providers::{Metrics, Traffic, Weights};
use support::{Behaviour, Upstream, client, config, fast_health};

/// Forwards admin GETs to `plane`, answering `delay` after the data
/// plane did, and records each path;
/// with `legacy`, answers `/api/v1/observed` (and the gathered call) with
/// 404 as a data plane from before that call would.
struct Recorder {
    addr: SocketAddr,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    /// Listens on `ip` (a loopback address of the test's own).
    async fn start(ip: &str, plane: SocketAddr, delay: Duration, legacy: bool) -> Recorder {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = paths.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let path = request.uri().to_string();
                        seen.lock().unwrap().push(path.clone());
                        let legacy = legacy && path.starts_with("/api/v1/observed");
                        let (status, body) = if legacy {
                            (404, Bytes::from_static(b"{\"error\":\"not found\"}"))
                        } else {
                            let answer = client()
                                .get(format!("http://{plane}{path}"))
                                .send()
                                .await
                                .unwrap();
                            (answer.status().as_u16(), answer.bytes().await.unwrap())
                        };
                        tokio::time::sleep(delay).await;
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(body))
                                .unwrap(),
                        )
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Recorder { addr, paths }
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

async fn plane_at_25() -> (Vec<Upstream>, DataPlane, LocalTraffic) {
    plane_at(25).await
}

/// A data plane on v1 with v2 at `weight` %, and a provider steering it.
async fn plane_at(weight: u8) -> (Vec<Upstream>, DataPlane, LocalTraffic) {
    let ups = vec![
        Upstream::start("v1", Behaviour::default()).await,
        Upstream::start("v2", Behaviour::default()).await,
    ];
    let cfg = config(
        "v1",
        &[("v1", vec![ups[0].addr]), ("v2", vec![ups[1].addr])],
        fast_health(),
    );
    let plane = DataPlane::start(cfg).await.unwrap();
    let steer = LocalTraffic::new(
        plane.admin_addr(),
        Some(plane.admin_token().clone()),
        &ConnectionLimits::default(),
    );
    steer.prepare("v2").await.unwrap();
    steer.set_weight(weight).await.unwrap();
    (ups, plane, steer)
}

/// What `plane` answers on `path` itself.
async fn direct<T: serde::de::DeserializeOwned>(plane: &DataPlane, path: &str) -> T {
    let url = format!("http://{}{path}", plane.admin_addr());
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A release's providers, as it builds them: the metrics provider shares
/// the traffic provider's reads.
fn providers(admin: SocketAddr) -> (LocalTraffic, LocalMetrics) {
    let traffic = LocalTraffic::new(admin, None, &ConnectionLimits::default());
    let metrics = LocalMetrics::sharing(traffic.reads());
    (traffic, metrics)
}

#[tokio::test]
async fn a_reading_of_traffic_and_counters_together_costs_one_admin_call() {
    let (_ups, plane, _) = plane_at_25().await;
    let recorder = Recorder::start("127.0.0.2", plane.admin_addr(), Duration::ZERO, false).await;
    let (traffic, metrics) = providers(recorder.addr);

    let (state, reading) = tokio::join!(traffic.state(), metrics.read());
    let (state, reading) = (state.unwrap(), reading.unwrap());

    assert_eq!(recorder.paths(), ["/api/v1/observed"]);
    assert_eq!(state, direct::<TrafficState>(&plane, "/api/v1/state").await);
    assert_eq!(state.new_weight, 25);
    assert_eq!(reading, direct::<Reading>(&plane, "/api/v1/counters").await);
}

#[tokio::test]
async fn a_read_asked_for_after_one_was_sent_gets_a_call_of_its_own() {
    let (_ups, plane, steer) = plane_at_25().await;
    // Slow answers, so the first call is still in flight when the weight
    // changes and the second read is asked for.
    let recorder = Recorder::start(
        "127.0.0.3",
        plane.admin_addr(),
        Duration::from_millis(300),
        false,
    )
    .await;
    let (traffic, _) = providers(recorder.addr);

    let first = tokio::spawn({
        let traffic = traffic.clone();
        async move { traffic.state().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    steer.set_weight(50).await.unwrap();
    let second = traffic.state().await.unwrap();

    assert_eq!(first.await.unwrap().unwrap().new_weight, 25);
    assert_eq!(
        second.new_weight, 50,
        "a read asked for after a write sees the write"
    );
    assert_eq!(recorder.paths(), ["/api/v1/observed", "/api/v1/observed"]);
}

#[tokio::test]
async fn a_data_plane_without_the_combined_call_is_read_with_two() {
    let (_ups, plane, _) = plane_at_25().await;
    let recorder = Recorder::start("127.0.0.4", plane.admin_addr(), Duration::ZERO, true).await;
    let (traffic, metrics) = providers(recorder.addr);

    let (state, reading) = tokio::join!(traffic.state(), metrics.read());

    assert_eq!(
        state.unwrap(),
        direct::<TrafficState>(&plane, "/api/v1/state").await
    );
    assert_eq!(
        reading.unwrap(),
        direct::<Reading>(&plane, "/api/v1/counters").await
    );
    assert_eq!(
        recorder.paths(),
        ["/api/v1/observed", "/api/v1/state", "/api/v1/counters"]
    );
}

#[tokio::test]
async fn reads_of_planes_in_one_process_are_answered_together_each_with_its_own_state() {
    let planes = futures::future::join_all([10, 20, 30].map(plane_at)).await;
    let readers: Vec<_> = planes
        .iter()
        .map(|(_, plane, _)| providers(plane.admin_addr()))
        .collect();

    let readings = futures::future::join_all(
        readers
            .iter()
            .map(|(traffic, metrics)| async { tokio::join!(traffic.state(), metrics.read()) }),
    )
    .await;

    for ((_, plane, _), (state, reading)) in planes.iter().zip(readings) {
        assert_eq!(
            state.unwrap(),
            direct::<TrafficState>(plane, "/api/v1/state").await
        );
        assert_eq!(
            reading.unwrap(),
            direct::<Reading>(plane, "/api/v1/counters").await
        );
    }
}

#[tokio::test]
async fn a_plane_the_gathered_call_cannot_answer_for_is_read_on_its_own() {
    let (_a_ups, a, _) = plane_at(10).await;
    let (_b_ups, b, _) = plane_at(20).await;
    // In front of each plane, on another address than the planes': plane
    // a, asked through its recorder, knows no plane at either recorder's.
    let ra = Recorder::start("127.0.0.5", a.admin_addr(), Duration::ZERO, false).await;
    let rb = Recorder::start("127.0.0.5", b.admin_addr(), Duration::ZERO, false).await;
    let ((ta, _), (tb, _)) = (providers(ra.addr), providers(rb.addr));

    let (sa, sb) = tokio::join!(ta.state(), tb.state());

    assert_eq!(sa.unwrap().new_weight, 10);
    assert_eq!(sb.unwrap().new_weight, 20);
    let asked =
        format!("/api/v1/observed/siblings?admin={}%2C{}", ra.addr, rb.addr).replace(':', "%3A");
    assert_eq!(ra.paths(), [asked.as_str(), "/api/v1/observed"]);
    assert_eq!(rb.paths(), ["/api/v1/observed"]);
}

#[tokio::test]
async fn a_plane_that_is_down_fails_its_own_read_only() {
    let (_a_ups, a, _) = plane_at(10).await;
    let (_b_ups, b, _) = plane_at(20).await;
    let (ta, _) = providers(a.admin_addr());
    let (tb, _) = providers(b.admin_addr());
    b.shutdown().await;

    // b's read first: the gathered call goes to b, which is gone.
    let (sb, sa) = tokio::join!(tb.state(), ta.state());

    assert_eq!(sa.unwrap().new_weight, 10);
    match sb {
        Err(helmsman::providers::ProviderError::Unreachable { .. }) => {}
        other => panic!("{other:?}"),
    }
}
