//! Metrics provider for Prometheus: the service's PromQL templates,
//! rendered for the new version and for its baseline (the stable version),
//! asked as instant queries. Every template answers a *cumulative* count —
//! requests, errors by kind, histogram buckets — because the engine judges
//! a window by subtracting two readings (`Reading::since`); a `rate()` or
//! `increase()` would be a window of its own, and subtracting two of them
//! means nothing.
//!
//! A reading is all or nothing. Whatever Prometheus cannot answer — no
//! connection, an error, an empty result, NaN, ±Inf — fails the read with
//! the query named, and the engine holds the release until readings
//! return: it never judges, let alone advances, on missing numbers. Two
//! empty results are not missing numbers, because Prometheus has no series
//! for a counter that was never incremented:
//! - `errors_by_kind` empty: no errors yet;
//! - the *new* version's `requests` empty: it has not served a request
//!   (it may not even be staged yet). Zero requests judge nothing — every
//!   trigger says "not enough evidence" — so nothing advances on it either,
//!   while the baseline, which is serving, must have data.

mod answer;
mod api;
mod resources;

use async_trait::async_trait;

use crate::config::metrics::{LatencyQuery, PrometheusSource, TemplateValues};
use crate::metrics::{LatencyHistogram, Reading, Sample};
use crate::providers::{Metrics, ProviderError};
use answer::Problem;
use api::{Api, Failure};
pub use resources::{Versions, resource_use};

pub struct PrometheusMetrics {
    api: Api,
    /// "Prometheus http://…", for messages.
    provider: String,
    new: VersionQueries,
    baseline: VersionQueries,
}

/// One version's rendered queries.
struct VersionQueries {
    version: String,
    is_new: bool,
    requests: String,
    errors_by_kind: String,
    latency: Latency,
}

enum Latency {
    Buckets(String),
    P95Seconds(String),
}

impl PrometheusMetrics {
    /// The provider for a release of `service` in `env` from `stable_version`
    /// (the baseline) to `new_version`.
    pub fn new(
        source: &PrometheusSource,
        env: &str,
        service: &str,
        stable_version: &str,
        new_version: &str,
    ) -> Self {
        let queries = |version: &str, is_new: bool| {
            let values = TemplateValues {
                env,
                service,
                version,
            };
            let q = &source.queries;
            VersionQueries {
                version: version.to_string(),
                is_new,
                requests: q.requests.render(values),
                errors_by_kind: q.errors_by_kind.render(values),
                latency: match &q.latency {
                    LatencyQuery::LatencyBuckets(t) => Latency::Buckets(t.render(values)),
                    LatencyQuery::P95Seconds(t) => Latency::P95Seconds(t.render(values)),
                },
            }
        };
        Self {
            api: Api::new(source),
            provider: format!("Prometheus {}", source.url),
            new: queries(new_version, true),
            baseline: queries(stable_version, false),
        }
    }

    /// One version's counters: its queries run at once (within the
    /// client's bound), then are read together.
    async fn sample(&self, side: &VersionQueries) -> Result<Sample, ProviderError> {
        let (latency_key, latency_query) = match &side.latency {
            Latency::Buckets(q) => ("latency_buckets", q),
            Latency::P95Seconds(q) => ("p95_seconds", q),
        };
        let (requests, errors, latency) = futures::try_join!(
            self.ask(side, "requests", &side.requests),
            self.ask(side, "errors_by_kind", &side.errors_by_kind),
            self.ask(side, latency_key, latency_query),
        )?;
        let judged = |key: &str, query: &str, problem: Problem| {
            let provider = self.provider.clone();
            match problem {
                Problem::NoData(detail) => ProviderError::NoData {
                    provider,
                    detail: about(key, &side.version, &detail, query),
                },
                Problem::Invalid(detail) => ProviderError::Invalid {
                    provider,
                    detail: about(key, &side.version, &detail, query),
                },
            }
        };
        let empty = || Problem::NoData("an empty result (no series matched)".to_string());

        let requests = match answer::count(&requests) {
            Ok(Some(n)) => n,
            Ok(None) if side.is_new => 0,
            Ok(None) => return Err(judged("requests", &side.requests, empty())),
            Err(p) => return Err(judged("requests", &side.requests, p)),
        };
        if requests == 0 {
            // A version that served nothing has no errors and no latency:
            // its other answers may rightly be empty or NaN.
            return Ok(Sample {
                latency: LatencyHistogram::with_bounds(Vec::new()),
                ..Sample::default()
            });
        }
        let errors_by_kind = answer::by_kind(&errors)
            .map_err(|p| judged("errors_by_kind", &side.errors_by_kind, p))?;
        let errors: u64 = errors_by_kind.values().sum();
        if errors > requests {
            return Err(judged(
                "errors_by_kind",
                &side.errors_by_kind,
                Problem::Invalid(format!(
                    "{errors} errors but only {requests} requests: the two templates count different things"
                )),
            ));
        }
        let (latency, reported_p95_ms) = match &side.latency {
            Latency::Buckets(query) => {
                let histogram = answer::histogram(&latency)
                    .and_then(|h| h.ok_or_else(empty))
                    .map_err(|p| judged(latency_key, query, p))?;
                (histogram, None)
            }
            Latency::P95Seconds(query) => {
                let p95 = answer::seconds_as_ms(&latency)
                    .and_then(|ms| ms.ok_or_else(empty))
                    .map_err(|p| judged(latency_key, query, p))?;
                (LatencyHistogram::with_bounds(Vec::new()), Some(p95))
            }
        };
        Ok(Sample {
            requests,
            errors,
            errors_by_kind,
            latency,
            reported_p95_ms,
        })
    }

    /// Asks one query; a failure names the template and the version (and
    /// the query, unless Prometheus could not be reached at all).
    async fn ask(
        &self,
        side: &VersionQueries,
        key: &str,
        query: &str,
    ) -> Result<Vec<api::Series>, ProviderError> {
        let provider = self.provider.clone();
        let version = &side.version;
        self.api
            .query(query)
            .await
            .map_err(|failure| match failure {
                Failure::Unreachable(detail) => ProviderError::Unreachable {
                    provider,
                    detail: format!("`{key}` of {version}: {detail}"),
                },
                Failure::Rejected(detail) => ProviderError::Rejected {
                    provider,
                    detail: about(key, version, &detail, query),
                },
                Failure::Invalid(detail) => ProviderError::Invalid {
                    provider,
                    detail: about(key, version, &detail, query),
                },
            })
    }
}

#[async_trait]
impl Metrics for PrometheusMetrics {
    fn describe(&self) -> String {
        self.provider.clone()
    }

    async fn read(&self) -> Result<Reading, ProviderError> {
        let (new, baseline) =
            futures::try_join!(self.sample(&self.new), self.sample(&self.baseline))?;
        Ok(Reading { new, baseline })
    }
}

/// What went wrong with one template's query, in words an operator can act
/// on: the template, the version, and the query to paste into Prometheus.
fn about(key: &str, version: &str, detail: &str, query: &str) -> String {
    format!("`{key}` of {version}: {detail}; query: {query}")
}
