//! Zero downtime: constant load through the data plane while a canary, a
//! blue-green switch, a rolling replacement and a rollback are driven through
//! `LocalTraffic`. Not one request may fail, and traffic must really move.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use helmsman::config::ConnectionLimits;
use helmsman::dataplane::DataPlane;
use helmsman::providers::metrics::local::LocalMetrics;
use helmsman::providers::traffic::local::LocalTraffic;
use helmsman::providers::{Metrics, Rotation, Switch, Traffic, Weights};
use support::{Behaviour, Upstream, client, config};

/// Client loops sending requests concurrently.
const LOOPS: usize = 4;
/// Upper bound per loop, so a broken test cannot run forever.
const MAX_PER_LOOP: usize = 50_000;
/// Requests that must pass between two traffic changes.
const PER_STEP: usize = 40;

struct Load {
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    loops: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(url: String, known: Vec<String>) -> Load {
        let sent = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let http = client();
        let loops = (0..LOOPS)
            .map(|_| {
                let (http, url, known) = (http.clone(), url.clone(), known.clone());
                let (sent, stop) = (sent.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    for _ in 0..MAX_PER_LOOP {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        match http.get(&url).send().await {
                            Ok(r) => {
                                let status = r.status();
                                let body = r.text().await.unwrap_or_default();
                                if status != 200 || !known.contains(&body) {
                                    failures.push(format!("HTTP {status}: {body:?}"));
                                }
                            }
                            Err(e) => failures.push(format!("transport: {e}")),
                        }
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    failures
                })
            })
            .collect();
        Load { sent, stop, loops }
    }

    /// Lets at least `n` more requests through before the next change.
    async fn let_through(&self, n: usize) {
        let target = self.sent.load(Ordering::Relaxed) + n;
        while self.sent.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn stop(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = Vec::new();
        for l in self.loops {
            failures.extend(l.await.unwrap());
        }
        (self.sent.load(Ordering::Relaxed), failures)
    }
}

/// Which upstreams answer `n` sequential requests right now, by version prefix.
async fn versions_seen(plane: &DataPlane, n: usize) -> BTreeMap<String, usize> {
    let http = client();
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let body = http
            .get(format!("http://{}/", plane.listen_addr()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let version = body.split('-').next().unwrap_or_default().to_string();
        *seen.entry(version).or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_across_canary_blue_green_rolling_and_rollback() {
    let mut upstreams = Vec::new();
    for name in ["v1-a", "v1-b", "v1-c", "v2-a", "v2-b", "v2-c"] {
        upstreams.push(Upstream::start(name, Behaviour::default()).await);
    }
    let addrs = |prefix: &str| {
        upstreams
            .iter()
            .filter(|u| u.name.starts_with(prefix))
            .map(|u| u.addr)
            .collect::<Vec<_>>()
    };
    let cfg = config(
        "v1",
        &[("v1", addrs("v1")), ("v2", addrs("v2"))],
        support::fast_health(),
    );
    let plane = DataPlane::start(cfg).await.unwrap();
    let traffic = LocalTraffic::new(
        plane.admin_addr(),
        Some(plane.admin_token().clone()),
        &ConnectionLimits::default(),
    );
    let metrics = LocalMetrics::new(plane.admin_addr(), &ConnectionLimits::default());
    let known = upstreams.iter().map(|u| u.name.clone()).collect();
    let load = Load::start(format!("http://{}/", plane.listen_addr()), known);
    load.let_through(PER_STEP).await;

    // Canary v1 → v2.
    traffic.prepare("v2").await.unwrap();
    load.let_through(PER_STEP).await;
    for weight in [5, 25, 50, 100] {
        traffic.set_weight(weight).await.unwrap();
        load.let_through(PER_STEP).await;
    }
    traffic.finish().await.unwrap();
    load.let_through(PER_STEP).await;
    assert_eq!(
        versions_seen(&plane, 12).await,
        BTreeMap::from([("v2".into(), 12)])
    );

    // Blue-green v2 → v1: switch, then scale the old side down.
    traffic.prepare("v1").await.unwrap();
    load.let_through(PER_STEP).await;
    traffic.switch(true).await.unwrap();
    load.let_through(PER_STEP).await;
    traffic.set_instances(0, 3).await.unwrap();
    load.let_through(PER_STEP).await;
    traffic.finish().await.unwrap();
    load.let_through(PER_STEP).await;
    assert_eq!(
        versions_seen(&plane, 12).await,
        BTreeMap::from([("v1".into(), 12)])
    );

    // Rolling v1 → v2, one instance at a time (max surge 1, max unavailable 0).
    traffic.prepare("v2").await.unwrap();
    for (stable, new) in [(3, 1), (2, 1), (2, 2), (1, 2), (1, 3), (0, 3)] {
        traffic.set_instances(stable, new).await.unwrap();
        load.let_through(PER_STEP).await;
        let state = traffic.state().await.unwrap();
        assert_eq!(
            state.stable.iter().filter(|i| i.in_rotation).count(),
            stable
        );
        assert_eq!(state.new.iter().filter(|i| i.in_rotation).count(), new);
    }
    traffic.finish().await.unwrap();
    load.let_through(PER_STEP).await;
    assert_eq!(
        versions_seen(&plane, 12).await,
        BTreeMap::from([("v2".into(), 12)])
    );

    // Rollback: v1 gets half the traffic, then is discarded.
    traffic.prepare("v1").await.unwrap();
    // v1 served as the new side before (blue-green): counters are cumulative.
    let before = metrics.read().await.unwrap();
    traffic.set_weight(50).await.unwrap();
    load.let_through(PER_STEP).await;
    // At 50 % the new side really got its half of the load.
    let reading = metrics.read().await.unwrap().since(&before);
    assert!(
        reading.new.requests >= (PER_STEP / 2) as u64 - 2,
        "{reading:?}"
    );
    traffic.discard().await.unwrap();
    load.let_through(PER_STEP).await;
    assert_eq!(
        versions_seen(&plane, 12).await,
        BTreeMap::from([("v2".into(), 12)])
    );
    let state = traffic.state().await.unwrap();
    assert_eq!((state.stable_version.as_str(), state.new_weight), ("v2", 0));

    let (sent, failures) = load.stop().await;
    assert!(sent >= 20 * PER_STEP, "only {sent} requests were sent");
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed, first: {:?}",
        failures.len(),
        failures.first()
    );
    plane.shutdown().await;
}
