//! `/metrics` in the Prometheus text exposition format 0.0.4, so a real
//! Prometheus can scrape the data plane and the `prometheus` metrics
//! provider can judge the same numbers as the `local` one.

use std::fmt::Write;

use super::counters::{CounterSnapshot, Side};
use super::state::Shared;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One series' counters with its identifying labels.
pub struct Series<'a> {
    pub side: Side,
    pub version: &'a str,
    pub counters: CounterSnapshot,
}

/// One instance's health, for the `helmsman_instance_healthy` gauge.
pub struct InstanceGauge<'a> {
    pub side: Side,
    pub version: &'a str,
    pub instance: String,
    pub healthy: bool,
    pub in_rotation: bool,
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders the whole exposition. Pure, so the format is unit-tested.
/// One 0/1 gauge per instance.
fn instance_gauge(
    out: &mut String,
    service: &str,
    instances: &[InstanceGauge<'_>],
    name: &str,
    help: &str,
    value: fn(&InstanceGauge<'_>) -> bool,
) {
    header(out, name, "gauge", help);
    for i in instances {
        let _ = writeln!(
            out,
            "{name}{{service=\"{service}\",version=\"{}\",side=\"{}\",instance=\"{}\"}} {}",
            escape(i.version),
            i.side.as_str(),
            escape(&i.instance),
            u8::from(value(i))
        );
    }
}

pub fn render(
    service: &str,
    series: &[Series<'_>],
    new_weight: u8,
    instances: &[InstanceGauge<'_>],
) -> String {
    let service = escape(service);
    let labels = |s: &Series<'_>| {
        format!(
            "service=\"{service}\",version=\"{}\",side=\"{}\"",
            escape(s.version),
            s.side.as_str()
        )
    };
    let mut out = String::with_capacity(4096 + series.len() * 4096);

    header(
        &mut out,
        "helmsman_requests_total",
        "counter",
        "Requests proxied to a version, by side.",
    );
    for s in series {
        let _ = writeln!(
            out,
            "helmsman_requests_total{{{}}} {}",
            labels(s),
            s.counters.sample.requests
        );
    }

    header(
        &mut out,
        "helmsman_errors_total",
        "counter",
        "Failed requests by error kind (http_<status>, connect, or the error-kind header's value).",
    );
    for s in series {
        for (kind, n) in &s.counters.sample.errors_by_kind {
            let _ = writeln!(
                out,
                "helmsman_errors_total{{{},kind=\"{}\"}} {n}",
                labels(s),
                escape(kind)
            );
        }
    }

    header(
        &mut out,
        "helmsman_responses_total",
        "counter",
        "Responses sent to clients, by status class.",
    );
    for s in series {
        for (class, n) in CLASSES.iter().zip(s.counters.classes) {
            let _ = writeln!(
                out,
                "helmsman_responses_total{{{},class=\"{class}\"}} {n}",
                labels(s)
            );
        }
    }

    header(
        &mut out,
        "helmsman_request_duration_seconds",
        "histogram",
        "Time from receiving a request to the upstream's response head.",
    );
    for s in series {
        let l = labels(s);
        let latency = &s.counters.sample.latency;
        let counts = &latency.counts;
        let mut cumulative = 0u64;
        for (bound_ms, n) in latency.bounds_ms.iter().zip(counts) {
            cumulative += n;
            let _ = writeln!(
                out,
                "helmsman_request_duration_seconds_bucket{{{l},le=\"{}\"}} {cumulative}",
                bound_ms / 1000.0
            );
        }
        let total: u64 = counts.iter().sum();
        let _ = writeln!(
            out,
            "helmsman_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {total}"
        );
        let _ = writeln!(
            out,
            "helmsman_request_duration_seconds_sum{{{l}}} {}",
            s.counters.latency_sum_seconds
        );
        let _ = writeln!(
            out,
            "helmsman_request_duration_seconds_count{{{l}}} {total}"
        );
    }

    header(
        &mut out,
        "helmsman_new_weight",
        "gauge",
        "Percent of requests routed to the new version.",
    );
    let _ = writeln!(
        out,
        "helmsman_new_weight{{service=\"{service}\"}} {new_weight}"
    );

    instance_gauge(
        &mut out,
        &service,
        instances,
        "helmsman_instance_healthy",
        "1 when the instance passes its health checks.",
        |i| i.healthy,
    );
    instance_gauge(
        &mut out,
        &service,
        instances,
        "helmsman_instance_in_rotation",
        "1 when the instance receives user traffic.",
        |i| i.in_rotation,
    );
    out
}

/// The exposition of a running data plane.
pub fn render_shared(shared: &Shared) -> String {
    let table = shared.table();
    let all = shared.registry.all();
    let series: Vec<Series<'_>> = all
        .iter()
        .map(|(side, version, counters)| Series {
            side: *side,
            version,
            counters: counters.snapshot(),
        })
        .collect();
    let instances: Vec<InstanceGauge<'_>> = std::iter::once(&table.stable)
        .chain(table.new.as_ref())
        .flat_map(|route| {
            route
                .instances
                .iter()
                .enumerate()
                .map(move |(i, u)| InstanceGauge {
                    side: route.side,
                    version: &route.version,
                    instance: u.addr.to_string(),
                    healthy: u.health.is_healthy(),
                    in_rotation: i < route.in_rotation,
                })
        })
        .collect();
    render(&shared.name, &series, table.new_weight(), &instances)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::dataplane::counters::{Outcome, VersionCounters};

    #[test]
    fn renders_counters_histogram_and_gauges() {
        let c = VersionCounters::default();
        c.record(
            Outcome::Answered {
                status: 200,
                error_kind: None,
            },
            Duration::from_millis(3),
        );
        c.record(
            Outcome::Answered {
                status: 503,
                error_kind: Some("Time\"out"),
            },
            Duration::from_millis(70),
        );
        let text = render(
            "dev/checkout",
            &[Series {
                side: Side::New,
                version: "v2",
                counters: c.snapshot(),
            }],
            25,
            &[InstanceGauge {
                side: Side::New,
                version: "v2",
                instance: "127.0.0.1:9".into(),
                healthy: false,
                in_rotation: true,
            }],
        );
        let l = r#"service="dev/checkout",version="v2",side="new""#;
        let bucket = |le: &str, count: u32| {
            format!("helmsman_request_duration_seconds_bucket{{{l},le=\"{le}\"}} {count}\n")
        };
        for sample in [
            format!("helmsman_requests_total{{{l}}} 2\n"),
            format!("helmsman_errors_total{{{l},kind=\"Time\\\"out\"}} 1\n"),
            format!("helmsman_responses_total{{{l},class=\"5xx\"}} 1\n"),
            // 3 ms and 70 ms: one request by the 3 ms bucket, both by 80 ms.
            bucket("0.003", 1),
            bucket("0.08", 2),
            bucket("+Inf", 2),
            format!("helmsman_request_duration_seconds_count{{{l}}} 2\n"),
            "helmsman_new_weight{service=\"dev/checkout\"} 25\n".to_string(),
            "helmsman_instance_healthy{service=\"dev/checkout\",version=\"v2\",side=\"new\",instance=\"127.0.0.1:9\"} 0\n".to_string(),
        ] {
            assert!(text.contains(&sample), "no {sample:?} in\n{text}");
        }
        // Every family is declared exactly once, before its samples.
        assert_eq!(
            text.matches("# TYPE helmsman_requests_total counter")
                .count(),
            1
        );
        assert!(text.ends_with('\n'));
    }
}
