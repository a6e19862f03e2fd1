//! One instant query against Prometheus' HTTP API (`POST /api/v1/query`,
//! form-encoded, so long PromQL never meets a URL length limit), and the
//! answer's envelope decoded into series.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::sync::Semaphore;

use crate::config::duration::format as fmt_duration;
use crate::config::metrics::PrometheusSource;
use crate::config::model::Secret;
use crate::redact::excerpt;

/// One series of an instant vector; a scalar is one series without labels.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Series {
    pub labels: BTreeMap<String, String>,
    /// As Prometheus sent it: NaN and ±Inf included.
    pub value: f64,
}

/// Why a query has no answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Failure {
    /// No connection, or no answer in time.
    Unreachable(String),
    /// Prometheus answered with an error: a non-2xx or `status: "error"`.
    Rejected(String),
    /// An answer that is not a Prometheus query result.
    Invalid(String),
}

/// A client for one Prometheus server. The semaphore bounds the queries in
/// flight across one reading (both versions' queries run at once).
pub(super) struct Api {
    http: reqwest::Client,
    endpoint: String,
    token: Option<Secret>,
    timeout: Duration,
    permits: Semaphore,
}

impl Api {
    pub fn new(source: &PrometheusSource) -> Self {
        let http = reqwest::Client::builder()
            .timeout(source.timeout)
            .build()
            .expect("a client with default TLS settings always builds");
        Self {
            http,
            endpoint: format!("{}/api/v1/query", source.url),
            token: source.token.clone(),
            timeout: source.timeout,
            permits: Semaphore::new(source.max_concurrent),
        }
    }

    pub async fn query(&self, promql: &str) -> Result<Vec<Series>, Failure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .finish();
        let mut request = self
            .http
            .post(&self.endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| self.transport(&e))?;
        decode(status, &body)
    }

    /// A transport error in words: the timeout, or the innermost cause
    /// ("Connection refused (os error 111)"), which reqwest's own message hides.
    fn transport(&self, e: &reqwest::Error) -> Failure {
        if e.is_timeout() {
            return Failure::Unreachable(format!(
                "no answer within {}",
                fmt_duration(self.timeout)
            ));
        }
        let mut cause: &dyn std::error::Error = e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let what = if e.is_connect() {
            "cannot connect"
        } else {
            "the exchange failed"
        };
        Failure::Unreachable(format!("{what}: {cause}"))
    }
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorSample>),
    Scalar(Point),
    Matrix(IgnoredAny),
    String(IgnoredAny),
}

#[derive(Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: Option<Point>,
    /// Native histograms carry this instead of `value` (Prometheus ≥ 2.40).
    histogram: Option<IgnoredAny>,
}

/// `[unix time, "value"]`: values are strings so NaN and ±Inf survive JSON.
type Point = (IgnoredAny, String);

/// Decodes an answer. Prometheus explains its errors in the same JSON
/// envelope (with 400, 422 or 503), so the body is read before the status.
pub(super) fn decode(status: u16, body: &[u8]) -> Result<Vec<Series>, Failure> {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(_) if !(200..300).contains(&status) => {
            return Err(Failure::Rejected(format!(
                "HTTP {status}: {}",
                excerpt(body)
            )));
        }
        Err(e) => {
            return Err(Failure::Invalid(format!(
                "not a Prometheus answer ({e}): {}",
                excerpt(body)
            )));
        }
    };
    if envelope.status != "success" {
        return Err(Failure::Rejected(format!(
            "{}: {}",
            envelope.error_type.as_deref().unwrap_or("error"),
            envelope
                .error
                .as_deref()
                .map_or("no explanation given".into(), |e| excerpt(e.as_bytes()))
        )));
    }
    if !(200..300).contains(&status) {
        return Err(Failure::Rejected(format!("HTTP {status}")));
    }
    match envelope.data {
        Some(Data::Vector(samples)) => samples.into_iter().map(series).collect(),
        Some(Data::Scalar(point)) => Ok(vec![Series {
            labels: BTreeMap::new(),
            value: number(&point.1)?,
        }]),
        Some(Data::Matrix(_)) => Err(Failure::Invalid(
            "a range vector: remove the `[range]` selector, the query must answer an instant vector or a scalar".to_string(),
        )),
        Some(Data::String(_)) => Err(Failure::Invalid(
            "a string: the query must answer an instant vector or a scalar".to_string(),
        )),
        None => Err(Failure::Invalid("a success without `data`".to_string())),
    }
}

fn series(sample: VectorSample) -> Result<Series, Failure> {
    match (sample.value, sample.histogram) {
        (Some(point), _) => Ok(Series {
            labels: sample.metric,
            value: number(&point.1)?,
        }),
        (None, Some(_)) => Err(Failure::Invalid(
            "a native histogram: select classic buckets (`…_bucket` by `le`)".to_string(),
        )),
        (None, None) => Err(Failure::Invalid("a series without a value".to_string())),
    }
}

/// A sample value: a decimal or exponent number, `NaN`, `+Inf` or `-Inf`.
fn number(text: &str) -> Result<f64, Failure> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| Failure::Invalid(format!("`{text}` is not a sample value"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_vectors_and_scalars_with_special_values() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"le":"0.1"},"value":[1700000000.5,"12"]},
            {"metric":{"le":"+Inf"},"value":[1700000000.5,"1.5e+01"]},
            {"metric":{},"value":[1700000000.5,"NaN"]},
            {"metric":{},"value":[1700000000.5,"-Inf"]}]}}"#;
        let s = decode(200, body).unwrap();
        assert_eq!(s[0].labels["le"], "0.1");
        assert_eq!(s[0].value, 12.0);
        assert_eq!(s[1].value, 15.0);
        assert!(s[2].value.is_nan());
        assert_eq!(s[3].value, f64::NEG_INFINITY);
        let scalar =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1.0,"+Inf"]}}"#;
        assert_eq!(decode(200, scalar).unwrap()[0].value, f64::INFINITY);
        let empty =
            br#"{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["x"]}"#;
        assert!(decode(200, empty).unwrap().is_empty());
    }

    #[test]
    fn errors_keep_prometheus_words() {
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error: unclosed left parenthesis"}"#;
        assert_eq!(
            decode(400, bad).unwrap_err(),
            Failure::Rejected("bad_data: parse error: unclosed left parenthesis".into())
        );
        assert_eq!(
            decode(502, b"<html>Bad Gateway</html>").unwrap_err(),
            Failure::Rejected("HTTP 502: <html>Bad Gateway</html>".into())
        );
        assert!(matches!(
            decode(200, b"{\"status\":\"succ"),
            Err(Failure::Invalid(m)) if m.contains("not a Prometheus answer")
        ));
        assert!(matches!(
            decode(200, br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#),
            Err(Failure::Invalid(m)) if m.contains("range vector")
        ));
        assert!(matches!(
            decode(200, br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}}"#),
            Err(Failure::Invalid(m)) if m.contains("native histogram")
        ));
        assert!(matches!(
            decode(200, br#"{"status":"success","data":{"resultType":"scalar","result":[1,"twelve"]}}"#),
            Err(Failure::Invalid(m)) if m.contains("`twelve`")
        ));
    }

    #[test]
    fn long_bodies_are_cut_in_messages() {
        let body = "x".repeat(500);
        let Failure::Rejected(m) = decode(500, body.as_bytes()).unwrap_err() else {
            panic!()
        };
        assert!(m.len() < 250 && m.ends_with("… (500 bytes in all)"), "{m}");
    }
}
