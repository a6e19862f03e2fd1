//! Reading a service's `metrics` table: the data plane's own counters
//! (`type = "local"`) or Prometheus. Layered key by key like `analysis`:
//! `[defaults.metrics]` may hold the templates and each service only its
//! `type` and `url`, so completeness is checked on the merged keys, once
//! per service.

use std::time::Duration;

use super::*;
use crate::config::metrics::{
    LatencyQuery, MetricsSource, PLACEHOLDERS, PrometheusSource, Queries, Template, placeholders,
};
use crate::config::model::Secret;

/// Every `type` a service's metrics table may have.
pub const METRICS_TYPES: &[&str] = &["local", "prometheus"];
const METRICS_KEYS: &[&str] = &[
    "type",
    "url",
    "token",
    "timeout",
    "max_concurrent",
    "requests",
    "errors_by_kind",
    "latency_buckets",
    "p95_seconds",
    "cpu",
    "memory",
];
const MAX_CONCURRENT_LIMIT: i128 = 64;

/// The `metrics` keys as the layers so far set them. Prometheus keys are
/// kept while `type` is local, so `[defaults.metrics]` can hold the
/// templates that only some services use.
#[derive(Clone)]
pub(super) struct MetricsKeys {
    prometheus: bool,
    url: Option<String>,
    token: Option<Secret>,
    timeout: Duration,
    max_concurrent: usize,
    requests: Option<Template>,
    errors_by_kind: Option<Template>,
    latency: Option<LatencyQuery>,
    cpu: Option<Template>,
    memory: Option<Template>,
}

impl Default for MetricsKeys {
    fn default() -> Self {
        Self {
            prometheus: false,
            url: None,
            token: None,
            timeout: Duration::from_secs(5),
            max_concurrent: 4,
            requests: None,
            errors_by_kind: None,
            latency: None,
            cpu: None,
            memory: None,
        }
    }
}

impl Walker<'_, '_> {
    /// Overlays one `metrics` table on `keys`.
    pub(super) fn metrics(&mut self, value: &Value, keys: &mut MetricsKeys) {
        let Some(table) = as_table(self.errors, "metrics", value) else {
            return;
        };
        check_keys(self.errors, table, METRICS_KEYS, "`metrics`");
        if let Some(v) = get(table, "type")
            && let Some(kind) = as_str(self.errors, "type", v)
        {
            match kind {
                "local" => keys.prometheus = false,
                "prometheus" => keys.prometheus = true,
                other => self.errors.add_hint(
                    &v.span(),
                    format!("unknown metrics type `{other}`"),
                    suggestion(other, METRICS_TYPES, "metrics types"),
                ),
            }
        }
        if let Some(v) = get(table, "url")
            && let Some(url) = self.base_url(v)
        {
            keys.url = Some(url);
        }
        if let Some(v) = get(table, "token")
            && let Some(token) = self.secret("token", v)
        {
            keys.token = Some(token);
        }
        if let Some(v) = get(table, "timeout")
            && let Some(d) = as_positive_duration(self.errors, "timeout", v)
        {
            keys.timeout = d;
        }
        if let Some(v) = get(table, "max_concurrent")
            && let Some(n) = as_int_in(
                self.errors,
                "max_concurrent",
                v,
                1,
                MAX_CONCURRENT_LIMIT,
                "how many queries of one reading may run at once; 4 is the default",
            )
        {
            keys.max_concurrent = n as usize;
        }
        for (key, field) in [
            ("requests", &mut keys.requests),
            ("errors_by_kind", &mut keys.errors_by_kind),
            ("cpu", &mut keys.cpu),
            ("memory", &mut keys.memory),
        ] {
            if let Some(v) = get(table, key)
                && let Some(t) = self.template(key, v)
            {
                *field = Some(t);
            }
        }
        // The latency source is one choice: a layer that names either key
        // replaces what it inherited.
        match (get(table, "latency_buckets"), get(table, "p95_seconds")) {
            (Some(_), Some(p95)) => self.errors.add_hint(
                &p95.span(),
                "set `latency_buckets` or `p95_seconds`, not both",
                "buckets give the p95 verdict its confidence bounds; `p95_seconds` is for services that export no histogram",
            ),
            (Some(v), None) => {
                if let Some(t) = self.template("latency_buckets", v) {
                    keys.latency = Some(LatencyQuery::LatencyBuckets(t));
                }
            }
            (None, Some(v)) => {
                if let Some(t) = self.template("p95_seconds", v) {
                    keys.latency = Some(LatencyQuery::P95Seconds(t));
                }
            }
            (None, None) => {}
        }
    }

    /// The service's metrics source from its merged keys. What Prometheus
    /// needs and no layer gave is reported at `at` (the service's `metrics`
    /// table, or the service itself when it inherits everything).
    pub(super) fn metrics_source(
        &mut self,
        keys: &MetricsKeys,
        at: &Span,
        who: &str,
    ) -> Option<MetricsSource> {
        if !keys.prometheus {
            return Some(MetricsSource::Local);
        }
        let place = "its `[environments.services.metrics]` or `[defaults.metrics]`";
        let mut missing = |key: &str, example: &str| {
            self.errors.add_hint(
                at,
                format!("`{who}` reads metrics from Prometheus but no `{key}` is set"),
                format!("add `{key} = {example}` to {place}"),
            );
        };
        if keys.url.is_none() {
            missing("url", "\"http://127.0.0.1:9090\"");
        }
        if keys.requests.is_none() {
            missing(
                "requests",
                "'sum(http_requests_total{service=\"{service}\",version=\"{version}\"})'",
            );
        }
        if keys.errors_by_kind.is_none() {
            missing(
                "errors_by_kind",
                "'sum by (kind) (…{version=\"{version}\"})' (config.example.toml has ready-made templates)",
            );
        }
        if keys.latency.is_none() {
            missing(
                "latency_buckets",
                "'sum by (le) (http_request_duration_seconds_bucket{version=\"{version}\"})' (or `p95_seconds` for a service without buckets)",
            );
        }
        Some(MetricsSource::Prometheus(PrometheusSource {
            url: keys.url.clone()?,
            token: keys.token.clone(),
            timeout: keys.timeout,
            max_concurrent: keys.max_concurrent,
            queries: Queries {
                requests: keys.requests.clone()?,
                errors_by_kind: keys.errors_by_kind.clone()?,
                latency: keys.latency.clone()?,
                cpu: keys.cpu.clone().map(Box::new),
                memory: keys.memory.clone().map(Box::new),
            },
        }))
    }

    /// An http(s) base URL, kept without its trailing slash.
    fn base_url(&mut self, value: &Value) -> Option<String> {
        let text = as_name(self.errors, "url", value)?;
        let problem = match reqwest::Url::parse(text.trim()) {
            // "prometheus:9090" parses, with the scheme "prometheus".
            _ if !text.contains("://") => Some(format!(
                "`url`: `{text}` is not a URL: it has no http:// or https://"
            )),
            Err(e) => Some(format!("`url`: `{text}` is not a URL ({e})")),
            Ok(url) if !matches!(url.scheme(), "http" | "https") => Some(format!(
                "`url`: scheme `{}` is not http or https",
                url.scheme()
            )),
            // Credentials in a URL would be printed wherever the URL is.
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                Some("`url` must not carry credentials".to_string())
            }
            Ok(url) if url.query().is_some() || url.fragment().is_some() => {
                Some(format!("`url`: `{text}` has a query or a fragment"))
            }
            Ok(url) => return Some(url.as_str().trim_end_matches('/').to_string()),
        };
        if let Some(message) = problem {
            self.errors.add_hint(
                &value.span(),
                message,
                "write Prometheus' base URL, e.g. \"http://127.0.0.1:9090\" or \"https://metrics.example.com/prometheus\"; a bearer token goes in `token = \"${PROMETHEUS_TOKEN}\"`",
            );
        }
        None
    }

    /// A bearer token (`key`): a `${VAR}` secret, never printed.
    pub(super) fn secret(&mut self, key: &str, value: &Value) -> Option<Secret> {
        let text = as_name(self.errors, key, value)?;
        self.resolve_secret(&format!("`{key}`"), &text, value)
    }

    /// A PromQL template: known placeholders only, and `{version}` at least,
    /// or it would read the same series for the new version and the baseline.
    fn template(&mut self, key: &str, value: &Value) -> Option<Template> {
        let text = as_name(self.errors, key, value)?;
        let mut valid = true;
        for (_, name) in placeholders(&text) {
            if !PLACEHOLDERS.contains(&name) {
                self.errors.add_hint(
                    &value.span(),
                    format!("`{key}`: unknown placeholder `{{{name}}}`"),
                    suggestion(name, PLACEHOLDERS, "placeholders are"),
                );
                valid = false;
            }
        }
        if !placeholders(&text).any(|(_, name)| name == "version") {
            self.errors.add_hint(
                &value.span(),
                format!("`{key}` does not use `{{version}}`"),
                "without it the query reads the same series for the new version and the baseline, so they could never differ; select the version, e.g. version=\"{version}\"",
            );
            valid = false;
        }
        valid.then(|| Template::checked(text))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::metrics::TemplateValues;
    use crate::config::test_support::{local_backend, one_local_service, service};

    /// `[defaults.metrics]` with every template, and two services: one on
    /// Prometheus, one left on the data plane's counters.
    fn layered() -> String {
        [
            DEFAULT_METRICS,
            &one_local_service("prod"),
            CHECKOUT_METRICS,
            &service("catalog", &local_backend(18090, 19090, &[18191], &[18291])),
        ]
        .concat()
    }

    const DEFAULT_METRICS: &str = r#"[defaults.metrics]
requests = 'sum(helmsman_requests_total{service="{env}/{service}",version="{version}"})'
errors_by_kind = 'sum by (kind) (helmsman_errors_total{service="{env}/{service}",version="{version}"})'
latency_buckets = 'sum by (le) (helmsman_request_duration_seconds_bucket{service="{env}/{service}",version="{version}"})'

"#;

    const CHECKOUT_METRICS: &str = r#"[environments.services.metrics]
type = "prometheus"
url = "https://prometheus.example.com/prom/"
token = "${PROM_TOKEN}"
max_concurrent = 2

"#;

    fn env(name: &str) -> Option<String> {
        (name == "PROM_TOKEN").then(|| "s3cret".to_string())
    }

    fn load(text: &str) -> Result<Config, ConfigErrors> {
        parse_str(text, Path::new("h.toml"), &env)
    }

    fn prometheus(config: &Config, index: usize) -> PrometheusSource {
        match &config.environments[0].services[index].metrics {
            MetricsSource::Prometheus(p) => p.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// (line, message, hint) of every error.
    fn errors(text: &str) -> Vec<(usize, String, String)> {
        load(text)
            .expect_err("invalid")
            .0
            .into_iter()
            .map(|e| (e.line, e.message, e.hint.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn templates_are_inherited_and_rendered_per_version() {
        let config = load(&layered()).unwrap_or_else(|e| panic!("{e}"));
        let p = prometheus(&config, 0);
        assert_eq!(p.url, "https://prometheus.example.com/prom");
        assert_eq!(p.token.as_ref().unwrap().expose(), "s3cret");
        assert_eq!((p.timeout, p.max_concurrent), (Duration::from_secs(5), 2));
        let values = TemplateValues {
            env: "prod",
            service: "checkout",
            version: "v2",
        };
        assert_eq!(
            p.queries.requests.render(values),
            r#"sum(helmsman_requests_total{service="prod/checkout",version="v2"})"#
        );
        assert_eq!(
            config.environments[0].services[1].metrics,
            MetricsSource::Local
        );
        // The token never shows, in the summary or the JSON.
        let summary = crate::config::summary(&config);
        assert!(summary.contains("metrics: Prometheus https://prometheus.example.com/prom (timeout 5s, 2 queries at once)"), "{summary}");
        assert!(
            summary.contains("metrics: the data plane's own counters"),
            "{summary}"
        );
        let json = serde_json::to_string(&config).unwrap();
        assert!(
            !json.contains("s3cret") && json.contains("PROM_TOKEN"),
            "{json}"
        );
    }

    #[test]
    fn a_service_overrides_key_by_key_and_picks_its_latency_source() {
        let text = layered().replace(
            "max_concurrent = 2\n",
            "max_concurrent = 2\ntimeout = \"800ms\"\np95_seconds = 'histogram_quantile(0.95, sum by (le) (rate(x_bucket{version=\"{version}\"}[1m])))'\n",
        );
        let p = prometheus(&load(&text).unwrap_or_else(|e| panic!("{e}")), 0);
        assert_eq!(p.timeout, Duration::from_millis(800));
        assert!(matches!(p.queries.latency, LatencyQuery::P95Seconds(_)));
        // Inherited unchanged:
        assert!(p.queries.errors_by_kind.text().starts_with("sum by (kind)"));
    }

    #[test]
    fn missing_keys_are_named_where_the_service_asks_for_prometheus() {
        let text = layered()
            .replace("requests = 'sum(helmsman_requests_total", "# requests = '")
            .replace("url = \"https://prometheus.example.com/prom/\"\n", "");
        let errs = errors(&text);
        let line = layered()
            .lines()
            .position(|l| l == "[environments.services.metrics]")
            .unwrap()
            + 1;
        assert!(
            errs.iter().any(|(l, m, h)| *l == line
                && m == "`prod/checkout` reads metrics from Prometheus but no `url` is set"
                && h.contains("[defaults.metrics]")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|(l, m, _)| *l == line && m.contains("no `requests`")),
            "{errs:?}"
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn a_service_inheriting_prometheus_is_told_at_its_own_table() {
        let text = layered().replace(
            "[defaults.metrics]\n",
            "[defaults.metrics]\ntype = \"prometheus\"\n",
        );
        let errs = errors(&text);
        // catalog inherits `type` but not the url the checkout service set.
        let lines: Vec<&str> = text.lines().collect();
        let catalog = lines
            .iter()
            .rposition(|l| *l == "[[environments.services]]")
            .unwrap()
            + 1;
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, catalog);
        assert!(
            errs[0].1.contains("`prod/catalog`") && errs[0].1.contains("`url`"),
            "{errs:?}"
        );
    }

    #[test]
    fn invalid_values_are_reported_with_hints() {
        let text = layered()
            .replace(
                "type = \"prometheus\"",
                "type = \"promethues\"\ntimout = \"1s\"",
            )
            .replace("https://prometheus.example.com/prom/", "prometheus:9090")
            .replace("${PROM_TOKEN}", "${NOT_SET}")
            .replace("max_concurrent = 2", "max_concurrent = 0")
            .replace(
                "service=\"{env}/{service}\",version=\"{version}\"})'\nerrors",
                "svc=\"{servce}\"})'\nerrors",
            )
            .replace(
                "latency_buckets = 'sum",
                "p95_seconds = 'x{version=\"{version}\"}'\nlatency_buckets = 'sum",
            );
        let errs = errors(&text);
        let expect = [
            (
                "unknown metrics type `promethues`",
                "did you mean `prometheus`?",
            ),
            (
                "unknown key `timout` in `metrics`",
                "did you mean `timeout`?",
            ),
            ("`url`: `prometheus:9090`", "http://127.0.0.1:9090"),
            (
                "`token` uses `${NOT_SET}`, which is not set",
                "export NOT_SET=",
            ),
            ("`max_concurrent` is 0, outside 1..=64", "4 is the default"),
            (
                "`requests`: unknown placeholder `{servce}`",
                "did you mean `service`?",
            ),
            (
                "`requests` does not use `{version}`",
                "version=\"{version}\"",
            ),
            (
                "set `latency_buckets` or `p95_seconds`, not both",
                "confidence bounds",
            ),
        ];
        for (message, hint) in expect {
            assert!(
                errs.iter()
                    .any(|(_, m, h)| m.starts_with(message) && h.contains(hint)),
                "missing `{message}` / `{hint}` in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    }

    #[test]
    fn urls_without_http_or_with_credentials_are_refused() {
        for (url, message) in [
            ("ftp://host:21", "scheme `ftp` is not http or https"),
            ("http://user:pw@host:9090", "must not carry credentials"),
            ("http://host:9090/?x=1", "has a query or a fragment"),
        ] {
            let text = layered().replace("https://prometheus.example.com/prom/", url);
            let errs = errors(&text);
            assert!(
                errs.iter().any(|(_, m, _)| m.contains(message)),
                "{url}: {errs:?}"
            );
            // The refused URL's password is not repeated.
            assert!(
                errs.iter()
                    .all(|(_, m, h)| !m.contains("pw@") && !h.contains("pw@"))
            );
        }
    }
}
