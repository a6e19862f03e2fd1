//! Where a service's metrics come from: the data plane's own counters, or
//! Prometheus answering PromQL templates.
//!
//! A template is PromQL with placeholders `{env}`, `{service}` and
//! `{version}`, rendered once for the new version and once for the
//! baseline. A placeholder is `{` + an identifier + `}`; every other brace
//! is PromQL's own (label matchers `{status=~"5.."}`, regex repeats `{3}`).

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use serde::Serialize;

use super::duration::format as fmt_duration;
use super::model::Secret;

/// The names a template may use.
pub const PLACEHOLDERS: &[&str] = &["env", "service", "version"];

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum MetricsSource {
    /// The embedded data plane's own counters, read from its admin API.
    Local,
    /// A Prometheus server's HTTP API.
    Prometheus(PrometheusSource),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrometheusSource {
    /// Base URL without a trailing slash (`http://127.0.0.1:9090`,
    /// `https://metrics.example.com/prometheus`); queries go to
    /// `{url}/api/v1/query`.
    pub url: String,
    /// Sent as `Authorization: Bearer …`.
    pub token: Option<Secret>,
    /// Longest one query may take.
    pub timeout: Duration,
    /// Queries of one reading in flight at once.
    pub max_concurrent: usize,
    pub queries: Queries,
}

/// The PromQL templates; each answers for one version, cumulatively.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Queries {
    /// Requests served so far: one number.
    pub requests: Template,
    /// Errors so far, one series per `kind` label.
    pub errors_by_kind: Template,
    pub latency: LatencyQuery,
    /// The version's CPU use, in percent of what it may use (its limit or
    /// request): one number, read when the release ends, for its report.
    /// (Boxed, as rarely set: a service's configuration is copied for
    /// every release a host drives.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Box<Template>>,
    /// The same for its memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Box<Template>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyQuery {
    /// Cumulative histogram buckets, one series per `le` (seconds).
    LatencyBuckets(Template),
    /// A p95 in seconds over the query's own window, for services that
    /// export no histogram: judged without confidence bounds.
    P95Seconds(Template),
}

/// The values a template's placeholders stand for.
#[derive(Debug, Clone, Copy)]
pub struct TemplateValues<'a> {
    pub env: &'a str,
    pub service: &'a str,
    pub version: &'a str,
}

/// A PromQL template whose placeholders have been checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Template(String);

impl Template {
    /// Only the loader builds templates, after checking the placeholders.
    pub(crate) fn checked(text: String) -> Self {
        Self(text)
    }

    pub fn text(&self) -> &str {
        &self.0
    }

    /// The query for one version. Values are escaped for a PromQL string
    /// literal (`\` and `"`), where placeholders belong: `version="{version}"`.
    pub fn render(&self, values: TemplateValues<'_>) -> String {
        let mut out = String::with_capacity(self.0.len() + 32);
        let mut copied = 0;
        for (range, name) in placeholders(&self.0) {
            let value = match name {
                "env" => values.env,
                "service" => values.service,
                "version" => values.version,
                _ => continue, // rejected by the loader; left as written
            };
            out.push_str(&self.0[copied..range.start]);
            out.push_str(&value.replace('\\', "\\\\").replace('"', "\\\""));
            copied = range.end;
        }
        out.push_str(&self.0[copied..]);
        out
    }
}

/// Every `{identifier}` in `text`, with its byte range and the identifier.
pub(crate) fn placeholders(text: &str) -> impl Iterator<Item = (Range<usize>, &str)> {
    text.match_indices('{').filter_map(move |(start, _)| {
        let rest = &text[start + 1..];
        let end = rest.find('}')?;
        let name = &rest[..end];
        let mut chars = name.chars();
        let identifier = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        identifier.then(|| (start..start + end + 2, name))
    })
}

impl fmt::Display for MetricsSource {
    /// One line for `check-config` and `plan`; never shows the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsSource::Local => f.write_str("the data plane's own counters"),
            MetricsSource::Prometheus(p) => {
                write!(
                    f,
                    "Prometheus {} (timeout {}, {} queries at once",
                    p.url,
                    fmt_duration(p.timeout),
                    p.max_concurrent
                )?;
                if matches!(p.queries.latency, LatencyQuery::P95Seconds(_)) {
                    f.write_str(", reported p95")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Queries {
    /// Each template with the key it was configured under, rendered for `values`.
    pub fn rendered(&self, values: TemplateValues<'_>) -> Vec<(&'static str, String)> {
        let latency = match &self.latency {
            LatencyQuery::LatencyBuckets(t) => ("latency_buckets", t),
            LatencyQuery::P95Seconds(t) => ("p95_seconds", t),
        };
        [
            ("requests", &self.requests),
            ("errors_by_kind", &self.errors_by_kind),
            latency,
        ]
        .into_iter()
        .map(|(key, template)| (key, template.render(values)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders_and_leaves_promql_braces_alone() {
        let text = r#"sum(x{service="{env}/{service}",version="{version}",status=~"5[0-9]{2}"}) {no such}"#;
        let names: Vec<&str> = placeholders(text).map(|(_, n)| n).collect();
        assert_eq!(names, ["env", "service", "version"]);
    }

    #[test]
    fn renders_and_escapes_values() {
        let t =
            Template::checked(r#"sum(x{service="{env}/{service}",version="{version}"})"#.into());
        let q = t.render(TemplateValues {
            env: "prod",
            service: "checkout",
            version: r#"v"2\"#,
        });
        assert_eq!(q, r#"sum(x{service="prod/checkout",version="v\"2\\"})"#);
    }
}
