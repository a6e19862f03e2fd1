//! The Prometheus metrics provider: against a real Prometheus (Debian's
//! `prometheus`, on PATH; `.ci/run` installs it) scraping the embedded data
//! plane of a demo-like world, and against loopback servers that fail on
//! purpose — unreachable, slow, errors, garbage, answers without numbers.

#[path = "prometheus/canned.rs"]
mod canned;
mod ports;
#[path = "prometheus/server.rs"]
mod server;
mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use helmsman::cli::demo::DEMO_CONFIG;
use helmsman::config::metrics::PrometheusSource;
use helmsman::config::{self, Backend, Config, MetricsSource, Service, Step, Strategy};
use helmsman::demo::scenario::Scenario;
use helmsman::demo::world::{World, WorldPlan};
use helmsman::engine::{Actor, Command, CommandKind, Event, Phase, ReleaseResult, TriggerKind};
use helmsman::pipeline::{self, ReleaseRequest, StartedRelease, backends};
use helmsman::providers::metrics::prometheus::{self, PrometheusMetrics};
use helmsman::providers::{Metrics, ProviderError};

use canned::{Canned, SlowProxy, vector};
use helmsman::strategy::Canary;
use server::Prometheus;

// ----- a demo-like world judged on Prometheus' numbers ------------------

/// The demo's configuration cut down to dev/checkout: its shortened
/// windows and analysis (assets/demo.toml), with `steps` for the canary.
/// Without its migrations: these tests drive the engine alone, and the
/// pipeline is what runs expand.
fn demo_checkout(steps: Vec<Step>) -> Config {
    let mut config = config::parse_str(DEMO_CONFIG, Path::new("demo.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    config.environments.truncate(1);
    let services = &mut config.environments[0].services;
    services.retain(|s| s.name == "checkout");
    services[0].strategy = Strategy::Canary(Canary { steps });
    services[0].migrations = None;
    config
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The templates config.example.toml documents for helmsman's own data
/// plane (prod/checkout inherits them from `[defaults.metrics]`), at `url`.
fn example_templates(url: String) -> PrometheusSource {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let config = config::load_file(&example).unwrap_or_else(|e| panic!("{e}"));
    match &config.service("prod", "checkout").unwrap().metrics {
        MetricsSource::Prometheus(p) => PrometheusSource { url, ..p.clone() },
        other => panic!("the example's prod/checkout reads {other:?}"),
    }
}

/// A world whose new checkout version behaves as `scenario` says, under
/// load, and a real Prometheus scraping its data plane.
async fn world_with_prometheus(
    steps: Vec<Step>,
    scenario: Scenario,
) -> Option<(World, Prometheus, Service)> {
    let plan = WorldPlan {
        scenario,
        released_service: "checkout".into(),
        rate: 200,
        load_every_service: false,
    };
    let world = World::start(demo_checkout(steps), &plan).await.unwrap();
    let mut service = world.config.service("dev", "checkout").unwrap().clone();
    let Backend::Local(backend) = &service.backend else {
        panic!("the demo's checkout has a local backend");
    };
    let prometheus = Prometheus::start(&[backend.admin]).await?;
    prometheus.wait_for_targets().await;
    service.metrics = MetricsSource::Prometheus(example_templates(prometheus.url()));
    Some((world, prometheus, service))
}

async fn start(service: &Service) -> StartedRelease {
    let request = ReleaseRequest {
        service: "checkout".into(),
        version: "v1.5.0".into(),
        envs: vec!["dev".into()],
        strategy: None,
        actor: Actor::Engine,
        force: false,
    };
    let started = pipeline::start_release("dev", service, &request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The numbers the release is judged on come from Prometheus alone.
    let metrics = backends::providers_for(&started.spec).metrics;
    assert!(
        metrics
            .describe()
            .starts_with("Prometheus http://127.0.0.1:")
    );
    started
}

fn drain(events: &mut tokio::sync::mpsc::UnboundedReceiver<std::sync::Arc<Event>>) -> Vec<Event> {
    std::iter::from_fn(|| events.try_recv().ok().map(|e| Event::clone(&e))).collect()
}

fn show(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| format!("{} → {}: {}\n", e.from, e.to, e.reason))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_canary_is_rolled_back_on_prometheus_numbers_alone() {
    let steps = vec![Step::Weight(50), Step::Pause(secs(30)), Step::Weight(100)];
    let Some((world, _prometheus, service)) =
        world_with_prometheus(steps, Scenario::BadErrors).await
    else {
        return;
    };
    let mut release = start(&service).await.handle;
    let result = tokio::time::timeout(Duration::from_secs(60), &mut release.task)
        .await
        .expect("decided within a minute")
        .unwrap();
    let events = drain(&mut release.events);
    assert_eq!(result, ReleaseResult::RolledBack, "{}", show(&events));
    let rollback = events
        .iter()
        .find(|e| e.to == Phase::RollingBack)
        .unwrap_or_else(|| panic!("{}", show(&events)));
    let verdict = rollback.verdict.as_ref().expect("a verdict with numbers");
    assert_eq!(
        verdict.trigger,
        TriggerKind::ErrorRate,
        "{}",
        rollback.reason
    );
    // The new version answers 8 % of its requests with 500, the stable one 0.1 %.
    let rate = verdict.new_value.unwrap();
    assert!((4.0..=12.0).contains(&rate), "{}", rollback.reason);
    assert!(verdict.new_requests >= 40, "{}", rollback.reason);
    assert!(verdict.baseline_requests > 0, "{}", rollback.reason);
    // The window the detector found shows the effect past what is
    // tolerated, and its bounds exclude no difference at all. Its printed
    // bounds are a confidence sequence at the full confidence, wider than
    // the detector's own test: a breach caught after two seconds can print
    // a lower bound just under the tolerated points.
    let effect = rate - verdict.baseline_value.unwrap();
    assert!(effect > verdict.tolerated.unwrap(), "{}", rollback.reason);
    assert!(verdict.lower.unwrap() > 0.0, "{}", rollback.reason);
    assert!(
        rollback.reason.contains("error rate"),
        "{}",
        rollback.reason
    );
    assert_eq!(events.last().unwrap().to, Phase::RolledBack);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_holds_while_prometheus_is_away_and_resumes_by_itself() {
    // A 2 s pause between two weights: held, it must outlast its time
    // without the weight moving on.
    let steps = vec![
        Step::Weight(20),
        Step::Pause(secs(2)),
        Step::Weight(60),
        Step::Pause(secs(60)),
    ];
    let Some((world, mut prometheus, mut service)) =
        world_with_prometheus(steps, Scenario::Good).await
    else {
        return;
    };
    // Reads every few hundred ms: this outage must stay a hold, not reach
    // the limit of failed reads that rolls back.
    service.analysis.max_failed_reads = 1000;
    let started = start(&service).await;
    let mut snapshots = started.handle.snapshots.clone();
    let within = Duration::from_secs(30);
    tokio::time::timeout(
        within,
        snapshots.wait_for(|s| s.desired_weight == 20 && s.metrics_at.is_some()),
    )
    .await
    .expect("the canary starts")
    .unwrap();

    prometheus.stop().await;
    let held = tokio::time::timeout(within, snapshots.wait_for(|s| s.phase == Phase::Paused))
        .await
        .expect("held once Prometheus is gone")
        .unwrap()
        .clone();
    assert!(
        held.reason
            .contains(&format!("Prometheus {}", prometheus.url())),
        "{}",
        held.reason
    );
    assert!(held.reason.contains("cannot connect"), "{}", held.reason);
    // Longer than the pause: nothing advances on missing numbers.
    tokio::time::sleep(Duration::from_secs(4)).await;
    {
        let now = snapshots.borrow();
        assert_eq!(now.phase, Phase::Paused, "{}", now.reason);
        assert_eq!(now.desired_weight, 20);
        assert_eq!(now.step, held.step);
    }

    prometheus.restart().await;
    let resumed = tokio::time::timeout(within, snapshots.wait_for(|s| s.desired_weight == 60))
        .await
        .expect("it carries on by itself when answers return")
        .unwrap()
        .clone();
    assert_ne!(resumed.phase, Phase::Paused, "{}", resumed.reason);

    let reply = started
        .handle
        .send(Command {
            target: started.spec.target.clone(),
            kind: CommandKind::Rollback,
            actor: Actor::Engine,
        })
        .await;
    assert!(reply.is_some());
    let result = tokio::time::timeout(within, started.handle.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);
    world.stop().await;
}

#[tokio::test]
async fn the_example_templates_are_promql_this_prometheus_accepts() {
    let Some(prometheus) = Prometheus::start(&[]).await else {
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let config = config::load_file(&example).unwrap_or_else(|e| panic!("{e}"));
    let mut checked = 0;
    for env in &config.environments {
        for service in &env.services {
            let MetricsSource::Prometheus(source) = &service.metrics else {
                continue;
            };
            let source = PrometheusSource {
                url: prometheus.url(),
                ..source.clone()
            };
            let provider = PrometheusMetrics::new(&source, &env.name, &service.name, "v1", "v2");
            // Nothing is scraped, so there is no data — but no query is refused.
            let err = provider.read().await.unwrap_err();
            assert!(matches!(err, ProviderError::NoData { .. }), "{err}");
            checked += 1;
        }
    }
    assert_eq!(
        checked, 3,
        "both documented conventions, the second one twice (catalog, payments)"
    );
}

// ----- failures, on loopback servers that misbehave on purpose -------------

/// A service reading Prometheus at `url` with simple templates.
fn source(url: &str, extra: &str) -> PrometheusSource {
    let text = r#"[[environments]]
name = "dev"
[[environments.services]]
name = "checkout"
[environments.services.backend]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
stable = "v1"
versions = { v1 = ["127.0.0.1:1"], v2 = ["127.0.0.1:2"] }
[environments.services.metrics]
type = "prometheus"
url = "URL"
requests = 'sum(requests{version="{version}"})'
errors_by_kind = 'sum by (kind) (errors{version="{version}"})'
latency_buckets = 'sum by (le) (buckets{version="{version}"})'
"#
    .replace("URL", url)
        + extra;
    let env = |var: &str| (var == "PROM_TOKEN").then(|| "s3cret".to_string());
    let config =
        config::parse_str(&text, Path::new("h.toml"), &env).unwrap_or_else(|e| panic!("{e}"));
    match &config.environments[0].services[0].metrics {
        MetricsSource::Prometheus(p) => p.clone(),
        other => panic!("{other:?}"),
    }
}

fn provider(source: &PrometheusSource) -> PrometheusMetrics {
    PrometheusMetrics::new(source, "dev", "checkout", "v1", "v2")
}

/// Healthy answers: v1 served 1 000 requests (2 errors), v2 200 (10 errors
/// of two kinds), latency buckets at 50 ms and 250 ms.
fn healthy(query: &str) -> (u16, String) {
    let v2 = query.contains("\"v2\"");
    let body = if query.starts_with("sum(requests") {
        vector(&[(&[], if v2 { "200" } else { "1000" })])
    } else if query.starts_with("sum by (kind)") {
        if v2 {
            vector(&[
                (&[("kind", "http_500")], "7"),
                (&[("kind", "Timeout")], "3"),
            ])
        } else {
            vector(&[(&[("kind", "http_500")], "2")])
        }
    } else {
        let (fast, all) = if v2 { ("150", "200") } else { ("990", "1000") };
        vector(&[
            (&[("le", "0.05")], fast),
            (&[("le", "0.25")], all),
            (&[("le", "+Inf")], all),
        ])
    };
    (200, body)
}

#[tokio::test]
async fn a_reading_is_both_versions_asked_by_form_post_with_the_token() {
    let server = Canned::start(Arc::new(healthy), Duration::from_millis(20)).await;
    let source = source(
        &format!("{}/", server.url),
        "token = \"${PROM_TOKEN}\"\nmax_concurrent = 2\n",
    );
    let reading = provider(&source).read().await.unwrap();
    assert_eq!((reading.new.requests, reading.new.errors), (200, 10));
    assert_eq!(reading.new.errors_by_kind["Timeout"], 3);
    assert_eq!(*reading.new.latency.bounds_ms, [50.0, 250.0]);
    assert_eq!(reading.new.latency.counts, vec![150, 50, 0]);
    assert_eq!(
        (reading.baseline.requests, reading.baseline.errors),
        (1000, 2)
    );
    assert_eq!(reading.baseline.latency.total(), 1000);

    let seen = server.queries();
    assert_eq!(seen.len(), 6, "three queries for each version");
    for s in &seen {
        assert_eq!(
            (s.method.as_str(), s.path.as_str()),
            ("POST", "/api/v1/query")
        );
        assert_eq!(s.content_type, "application/x-www-form-urlencoded");
        assert_eq!(s.authorization, "Bearer s3cret");
    }
    assert!(
        seen.iter()
            .any(|s| s.query == r#"sum by (kind) (errors{version="v2"})"#)
    );
    assert!(
        seen.iter()
            .any(|s| s.query == r#"sum(requests{version="v1"})"#)
    );
    let most = server
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=2).contains(&most), "{most} queries in flight at once");
}

#[tokio::test]
async fn a_new_version_without_series_has_served_nothing_yet() {
    let answer = |query: &str| {
        if query.contains("\"v2\"") {
            (200, vector(&[]))
        } else {
            healthy(query)
        }
    };
    let server = Canned::start(Arc::new(answer), Duration::ZERO).await;
    let reading = provider(&source(&server.url, "")).read().await.unwrap();
    assert_eq!((reading.new.requests, reading.new.errors), (0, 0));
    assert_eq!(reading.new.latency.total(), 0);
    assert_eq!(reading.baseline.requests, 1000);
}

/// Answers `bad` to every query of `metric` for the stable version v1.
fn spoil(metric: &'static str, status: u16, bad: String) -> Arc<canned::Answer> {
    Arc::new(move |query: &str| {
        if query.contains(metric) && query.contains("\"v1\"") {
            (status, bad.clone())
        } else {
            healthy(query)
        }
    })
}

#[tokio::test]
async fn answers_without_numbers_are_no_data_never_a_reading() {
    let scalar = |v: &str| {
        format!(r#"{{"status":"success","data":{{"resultType":"scalar","result":[1.5,"{v}"]}}}}"#)
    };
    let cases = [
        ("requests", scalar("NaN"), "the value is NaN"),
        ("requests", scalar("+Inf"), "the value is +Inf"),
        ("requests", vector(&[]), "an empty result"),
        ("buckets", vector(&[]), "an empty result"),
        ("buckets", vector(&[(&[("le", "+Inf")], "-Inf")]), "-Inf"),
        ("errors", vector(&[(&[("kind", "x")], "NaN")]), "NaN"),
    ];
    for (metric, body, words) in cases {
        let server = Canned::start(spoil(metric, 200, body), Duration::ZERO).await;
        let err = provider(&source(&server.url, "")).read().await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ProviderError::NoData { .. }),
            "{metric}: {text}"
        );
        assert!(
            text.starts_with(&format!("Prometheus {} has no data", server.url)),
            "{text}"
        );
        assert!(text.contains(words), "{metric}: {text}");
        // The query is named, so the operator can paste it into Prometheus.
        assert!(
            text.contains(&format!("{metric}{{version=\"v1\"}}")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn prometheus_errors_and_garbage_are_named_in_clear_words() {
    let cases = [
        (
            400,
            r#"{"status":"error","errorType":"bad_data","error":"1:7: parse error: unclosed left parenthesis"}"#,
            "Prometheus URL refused: `requests` of v1: bad_data: 1:7: parse error: unclosed left parenthesis; query: sum(requests{version=\"v1\"})",
        ),
        (
            503,
            r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#,
            "timeout: query timed out",
        ),
        (
            502,
            "<html>Bad Gateway</html>",
            "HTTP 502: <html>Bad Gateway</html>",
        ),
        (
            200,
            r#"{"status":"success","data":"#,
            "answered invalid data: `requests` of v1: not a Prometheus answer",
        ),
        (
            200,
            r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
            "a range vector",
        ),
    ];
    for (status, body, words) in cases {
        let server =
            Canned::start(spoil("requests", status, body.to_string()), Duration::ZERO).await;
        let err = provider(&source(&server.url, "")).read().await.unwrap_err();
        let text = err.to_string();
        let words = words.replace("URL", &server.url);
        assert!(text.contains(&words), "expected `{words}` in: {text}");
    }
}

#[tokio::test]
async fn a_prometheus_that_is_not_there_is_named_with_its_url() {
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let url = format!("http://{gone}");
    let err = provider(&source(&url, "")).read().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{text}");
    assert!(
        text.starts_with(&format!("Prometheus {url} is unreachable")),
        "{text}"
    );
    assert!(text.contains("cannot connect"), "{text}");
}

#[tokio::test]
async fn a_prometheus_slower_than_the_timeout_is_a_timeout() {
    let server = Canned::start(Arc::new(healthy), Duration::ZERO).await;
    let upstream = server.url.trim_start_matches("http://").parse().unwrap();
    let proxy = SlowProxy::start(upstream, Duration::from_secs(10)).await;
    let source = source(&proxy.url, "timeout = \"300ms\"\n");
    let err = tokio::time::timeout(Duration::from_secs(5), provider(&source).read())
        .await
        .expect("the provider's own timeout fires first")
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{text}");
    assert!(text.contains("no answer within 300ms"), "{text}");
    assert!(text.contains(&proxy.url), "{text}");
}

#[tokio::test]
async fn resource_use_is_asked_per_version_and_never_guessed() {
    let answer = |query: &str| {
        let v2 = query.contains("\"v2\"");
        if query.starts_with("cpu_pct") {
            (200, vector(&[(&[], if v2 { "41.5" } else { "37.25" })]))
        } else if query.starts_with("memory_pct") && v2 {
            // Two series where one number is asked for: not measured.
            (
                200,
                vector(&[(&[("pod", "a")], "60"), (&[("pod", "b")], "70")]),
            )
        } else {
            (200, vector(&[(&[], "55")]))
        }
    };
    let server = Canned::start(Arc::new(answer), Duration::ZERO).await;
    let source_for = source;
    let source = source_for(
        &server.url,
        "cpu = 'cpu_pct{version=\"{version}\",service=\"{service}\"}'\n\
         memory = 'memory_pct{version=\"{version}\"}'\n",
    );
    let versions = prometheus::Versions {
        env: "dev",
        service: "checkout",
        new: "v2",
        stable: "v1",
    };
    let used = prometheus::resource_use(&source, &versions).await;
    assert_eq!(
        (used.cpu_pct.new, used.cpu_pct.stable),
        (Some(41.5), Some(37.25))
    );
    assert_eq!(
        (used.memory_pct.new, used.memory_pct.stable),
        (None, Some(55.0))
    );
    assert!(
        server
            .queries()
            .iter()
            .any(|s| s.query == r#"cpu_pct{version="v2",service="checkout"}"#)
    );

    // Without the templates nothing is asked; Prometheus away, nothing is known.
    let none = prometheus::resource_use(&source_for(&server.url, ""), &versions).await;
    assert_eq!(none, helmsman::metrics::ResourceUse::default());
    let away = source_for(
        "http://127.0.0.1:1",
        "cpu = 'cpu_pct{version=\"{version}\"}'\n",
    );
    let unknown = prometheus::resource_use(&away, &versions).await;
    assert_eq!((unknown.cpu_pct.new, unknown.cpu_pct.stable), (None, None));
}
