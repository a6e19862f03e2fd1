//! `/metrics`: the data plane's counters through prometheus-client, the
//! official Rust client, in the Prometheus text format 0.0.4 by default —
//! what Prometheus and `promtool` have always read here, every family,
//! label and bucket unchanged — or in OpenMetrics 1.0 when a scraper asks
//! for it (`Accept: application/openmetrics-text`, which Prometheus sends
//! first). The counters themselves stay the data plane's own atomics, on
//! the request path; a scrape reads a snapshot of them and a collector
//! encodes it.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::counters::{CounterSnapshot, Side};
use super::state::Shared;

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The two text formats a scraper may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus' text format 0.0.4: the default.
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it takes
    /// `application/openmetrics-text` and not the Prometheus text format.
    /// A scraper that takes both — Prometheus always lists both — keeps the
    /// text format: OpenMetrics writes bucket bounds as floats (`le="1.0"`
    /// where the text format writes `le="1"`), and Prometheus 2 stores `le`
    /// as written, so a scrape that switched would split every bucket's
    /// series in two.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Prometheus;
        };
        let (mut openmetrics, mut other) = (0.0_f64, 0.0_f64);
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f64>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => other = other.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && other == 0.0 {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// One series' counters with its identifying labels.
#[derive(Debug)]
pub struct Series {
    pub side: Side,
    pub version: String,
    pub counters: CounterSnapshot,
}

/// One instance's health, for the `helmsman_instance_healthy` gauge.
#[derive(Debug)]
pub struct InstanceGauge {
    pub side: Side,
    pub version: String,
    pub instance: String,
    pub healthy: bool,
    pub in_rotation: bool,
}

/// What one scrape encodes: a snapshot, owned, as a collector must be.
#[derive(Debug)]
struct Scrape {
    service: String,
    series: Vec<Series>,
    new_weight: u8,
    instances: Vec<InstanceGauge>,
}

impl Scrape {
    fn labels<'a>(&'a self, s: &'a Series) -> [(&'static str, &'a str); 3] {
        [
            ("service", &self.service),
            ("version", &s.version),
            ("side", s.side.as_str()),
        ]
    }

    /// One 0/1 gauge per instance.
    fn instance_gauge(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: fn(&InstanceGauge) -> bool,
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for i in &self.instances {
            let labels = [
                ("service", self.service.as_str()),
                ("version", &i.version),
                ("side", i.side.as_str()),
                ("instance", &i.instance),
            ];
            ConstGauge::new(i64::from(value(i))).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(
            "helmsman_requests",
            "Requests proxied to a version, by side.",
            None,
            MetricType::Counter,
        )?;
        for s in &self.series {
            let requests = ConstCounter::new(s.counters.sample.requests);
            requests.encode(family.encode_family(&self.labels(s))?)?;
        }

        let mut family = encoder.encode_descriptor(
            "helmsman_errors",
            "Failed requests by error kind (http_<status>, connect, or the error-kind header's value).",
            None,
            MetricType::Counter,
        )?;
        for s in &self.series {
            for (kind, n) in &s.counters.sample.errors_by_kind {
                let [service, version, side] = self.labels(s);
                let labels = [service, version, side, ("kind", kind.as_str())];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "helmsman_responses",
            "Responses sent to clients, by status class.",
            None,
            MetricType::Counter,
        )?;
        for s in &self.series {
            for (class, n) in CLASSES.iter().zip(s.counters.classes) {
                let [service, version, side] = self.labels(s);
                let labels = [service, version, side, ("class", *class)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "helmsman_request_duration_seconds",
            "Time from receiving a request to the upstream's response head.",
            None,
            MetricType::Histogram,
        )?;
        for s in &self.series {
            let latency = &s.counters.sample.latency;
            let mut buckets: Vec<(f64, u64)> = latency
                .bounds_ms
                .iter()
                .map(|ms| ms / 1000.0)
                .zip(latency.counts.iter().copied())
                .collect();
            let count = latency.counts.iter().sum();
            // Named, not left to the encoder: OpenMetrics' writes no +Inf
            // bucket of its own, and a histogram without one is invalid.
            let bounded: u64 = buckets.iter().map(|(_, n)| n).sum();
            buckets.push((f64::INFINITY, count - bounded));
            family
                .encode_family(&self.labels(s))?
                .encode_histogram::<NoLabelSet>(
                    s.counters.latency_sum_seconds,
                    count,
                    &buckets,
                    None,
                )?;
        }

        let family = encoder.encode_descriptor(
            "helmsman_new_weight",
            "Percent of requests routed to the new version.",
            None,
            MetricType::Gauge,
        )?;
        let mut family = family;
        let service = [("service", self.service.as_str())];
        ConstGauge::new(i64::from(self.new_weight)).encode(family.encode_family(&service)?)?;

        self.instance_gauge(
            &mut encoder,
            "helmsman_instance_healthy",
            "1 when the instance passes its health checks.",
            |i| i.healthy,
        )?;
        self.instance_gauge(
            &mut encoder,
            "helmsman_instance_in_rotation",
            "1 when the instance receives user traffic.",
            |i| i.in_rotation,
        )
    }
}

/// Renders the whole exposition in `format`. Pure, so the format is
/// unit-tested.
pub fn render(
    service: &str,
    series: Vec<Series>,
    new_weight: u8,
    instances: Vec<InstanceGauge>,
    format: Format,
) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        service: service.to_string(),
        series,
        new_weight,
        instances,
    }));
    let mut out = String::with_capacity(16 * 1024);
    let encoded = match format {
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        }
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
    };
    // Writing into a String fails only if an encoder refuses a value,
    // which these (counters, gauges, finite buckets) never give it.
    encoded.expect("the data plane's metrics encode");
    out
}

/// The exposition of a running data plane.
pub fn render_shared(shared: &Shared, format: Format) -> String {
    let table = shared.table();
    let series: Vec<Series> = shared
        .registry
        .all()
        .iter()
        .map(|(side, version, counters)| Series {
            side: *side,
            version: version.to_string(),
            counters: counters.snapshot(),
        })
        .collect();
    let instances: Vec<InstanceGauge> = std::iter::once(&table.stable)
        .chain(table.new.as_ref())
        .flat_map(|route| {
            route
                .instances
                .iter()
                .enumerate()
                .map(move |(i, u)| InstanceGauge {
                    side: route.side,
                    version: route.version.to_string(),
                    instance: u.addr.to_string(),
                    healthy: u.health.is_healthy(),
                    in_rotation: i < route.in_rotation,
                })
        })
        .collect();
    render(&shared.name, series, table.new_weight(), instances, format)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::dataplane::counters::{Outcome, VersionCounters};

    /// Two versions' counters, escapes and errors included, and an
    /// instance of each.
    fn scrape_input() -> (Vec<Series>, Vec<InstanceGauge>) {
        let answered = |status, error_kind| Outcome::Answered { status, error_kind };
        let stable = VersionCounters::default();
        let new = VersionCounters::default();
        for ms in [3u64, 9, 14, 30, 120, 900, 4000] {
            stable.record(answered(200, None), Duration::from_millis(ms));
        }
        stable.record(answered(404, None), Duration::from_millis(2));
        new.record(answered(200, None), Duration::from_millis(11));
        new.record(
            answered(503, Some("Time\"out\\x")),
            Duration::from_millis(70),
        );
        new.record(
            answered(500, Some("NullPointerException")),
            Duration::from_millis(25),
        );
        new.record(Outcome::ConnectFailed, Duration::from_millis(1));
        let series = vec![
            Series {
                side: Side::Stable,
                version: "v1".into(),
                counters: stable.snapshot(),
            },
            Series {
                side: Side::New,
                version: "v2\n".into(),
                counters: new.snapshot(),
            },
        ];
        let instance = |side, version: &str, port, healthy| InstanceGauge {
            side,
            version: version.into(),
            instance: format!("127.0.0.1:{port}"),
            healthy,
            in_rotation: healthy,
        };
        let instances = vec![
            instance(Side::Stable, "v1", 8081, true),
            instance(Side::New, "v2\n", 8082, false),
        ];
        (series, instances)
    }

    /// The exposition written by hand before prometheus-client wrote it,
    /// kept byte for byte: every name, label, bucket and HELP text users
    /// scrape and query is still there.
    #[test]
    fn the_prometheus_text_is_what_it_always_was() {
        let (series, instances) = scrape_input();
        let text = render("dev/check\"out", series, 25, instances, Format::Prometheus);
        let before = include_str!("testdata/exposition-0.0.4.txt");
        for (line, (now, then)) in text.lines().zip(before.lines()).enumerate() {
            assert_eq!(now, then, "line {}", line + 1);
        }
        assert_eq!(text.lines().count(), before.lines().count());
    }

    #[test]
    fn openmetrics_names_families_without_suffixes_and_ends_with_eof() {
        let (series, instances) = scrape_input();
        let text = render("dev/checkout", series, 25, instances, Format::OpenMetrics);
        assert!(
            text.contains("# TYPE helmsman_requests counter\n"),
            "{text}"
        );
        assert!(text.contains(
            "helmsman_requests_total{service=\"dev/checkout\",version=\"v1\",side=\"stable\"} 8\n"
        ));
        assert!(text.contains("# TYPE helmsman_request_duration_seconds histogram\n"));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn openmetrics_is_for_a_scraper_that_asks_for_it_alone() {
        use Format::{OpenMetrics, Prometheus};
        // Prometheus 2.x by default: it takes the text format too.
        let prometheus = "application/openmetrics-text;version=1.0.0,\
                          application/openmetrics-text;version=0.0.1;q=0.75,\
                          text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        for (accept, format) in [
            (None, Prometheus),
            (Some("*/*"), Prometheus),
            (Some("text/plain;version=0.0.4"), Prometheus),
            (Some(prometheus), Prometheus),
            (Some("application/openmetrics-text"), OpenMetrics),
            (
                Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                OpenMetrics,
            ),
            (
                Some("application/openmetrics-text, text/plain;q=0"),
                OpenMetrics,
            ),
            (Some("application/openmetrics-text;q=0"), Prometheus),
        ] {
            assert_eq!(Format::from_accept(accept), format, "{accept:?}");
        }
    }
}
