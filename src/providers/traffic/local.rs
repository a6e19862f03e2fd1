//! Traffic provider for the embedded data plane, through its admin API, so
//! the engine steers an in-process proxy and a `helmsman serve` daemon alike.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::config::{ConnectionLimits, Secret};
use crate::observed::TrafficState;
use crate::providers::traffic::local_reads::PlaneReads;
use crate::providers::{ProviderError, Rotation, Switch, Traffic, Weights};

/// A local admin call answers in microseconds; seconds mean it is stuck.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A small JSON client for one data plane's admin API, shared by the
/// traffic and the metrics provider. State-changing calls carry the admin
/// token; without one the data plane refuses them and says so.
///
/// Plain HTTP/1.1 on hyper's pooled client: the admin API is loopback JSON,
/// and a host driving hundreds of releases makes one call a second for
/// each, so what a general-purpose client adds per call (redirects,
/// retries, URL and header handling) is most of the cost.
#[derive(Debug, Clone)]
pub struct AdminClient {
    admin: SocketAddr,
    token: Option<Secret>,
    /// Reads come every analysis interval: their connection is kept.
    reads: Http,
    /// Changes come once a step, seconds or hours apart: a connection kept
    /// for them would only hold memory (for each of hundreds of data
    /// planes, at once when their releases start) until it times out.
    changes: Http,
    provider: String,
}

type Http = Client<HttpConnector, Full<Bytes>>;

/// An admin answer is a few kilobytes of JSON at most; a kept connection
/// holds one read buffer of this size instead of a growing one.
const READ_BUFFER: usize = 8 * 1024;

/// How long an admin connection is kept for the next call: well within
/// the time the data plane keeps an idle keep-alive connection open (its
/// header-read and idle timeouts), so a call never reuses one the data
/// plane is closing at that moment, which would fail for nothing.
fn reuse_window(limits: &ConnectionLimits) -> Duration {
    limits.header_read_timeout.min(limits.idle_timeout) / 2
}

/// The HTTP client of every admin client whose data planes share a reuse
/// window (one, unless services set their own timeouts); `None`: one that
/// keeps no connection. A connection per read would cost a host driving
/// hundreds of releases most of its CPU.
fn shared_http(reuse: Option<Duration>) -> Http {
    static CLIENTS: OnceLock<Mutex<HashMap<Option<Duration>, Http>>> = OnceLock::new();
    let mut clients = crate::sync::lock(CLIENTS.get_or_init(Default::default));
    clients
        .entry(reuse)
        .or_insert_with(|| {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            connector.set_connect_timeout(Some(ADMIN_TIMEOUT));
            let mut builder = Client::builder(TokioExecutor::new());
            match reuse {
                Some(reuse) => builder.pool_idle_timeout(reuse),
                None => builder.pool_max_idle_per_host(0),
            };
            builder
                .pool_timer(TokioTimer::new())
                .http1_read_buf_exact_size(READ_BUFFER)
                .build(connector)
        })
        .clone()
}

impl AdminClient {
    /// `limits`: the data plane's, which say how long it keeps an idle
    /// connection open.
    pub fn new(
        admin: SocketAddr,
        token: Option<Secret>,
        limits: &ConnectionLimits,
        provider: String,
    ) -> Self {
        Self {
            admin,
            token,
            reads: shared_http(Some(reuse_window(limits))),
            changes: shared_http(None),
            provider,
        }
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    pub fn address(&self) -> SocketAddr {
        self.admin
    }

    /// Calls `method path` with an optional JSON body and decodes the answer.
    /// A 4xx/5xx becomes `Rejected` with the data plane's own explanation.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ProviderError> {
        let (status, bytes) = self.send(&method, path, body).await?;
        self.answer(&method, path, status, &bytes)
    }

    /// `GET path`, or `None` where the data plane has no such call (one
    /// older than this client).
    pub async fn get_if_found<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, ProviderError> {
        let method = Method::GET;
        let (status, bytes) = self.send(&method, path, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.answer(&method, path, status, &bytes).map(Some)
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Bytes), ProviderError> {
        let url = format!("http://{}{path}", self.admin);
        let unreachable = |doing: &str| ProviderError::Unreachable {
            provider: self.provider.clone(),
            detail: format!("{method} {url}: {doing}"),
        };
        let mut request = Request::builder().method(method.clone()).uri(&url);
        if *method != Method::GET
            && let Some(token) = &self.token
        {
            request = request.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        let body = match body {
            Some(json) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json.to_string()))
            }
            None => Full::default(),
        };
        let request = request
            .body(body)
            .map_err(|e| unreachable(&format!("cannot build the request: {e}")))?;
        let http = match *method {
            Method::GET => &self.reads,
            _ => &self.changes,
        };
        let exchange = async {
            let response = http
                .request(request)
                .await
                .map_err(|e| unreachable(&causes(&e)))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(&format!("reading the answer: {e}")))?
                .to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(ADMIN_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(unreachable(&format!(
                    "no answer within {}",
                    crate::config::duration::format(ADMIN_TIMEOUT)
                )))
            })
    }

    fn answer<T: DeserializeOwned>(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        bytes: &[u8],
    ) -> Result<T, ProviderError> {
        if !status.is_success() {
            let reason = serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|v| v.get("error")?.as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
            return Err(ProviderError::Rejected {
                provider: self.provider.clone(),
                detail: format!("{method} {path}: HTTP {status}: {reason}"),
            });
        }
        serde_json::from_slice(bytes).map_err(|e| ProviderError::Invalid {
            provider: self.provider.clone(),
            detail: format!("{method} {path}: {e}"),
        })
    }
}

/// What the client's error says and what it comes from ("tcp connect
/// error: Connection refused (os error 111)"): the client's own words only
/// say that the call failed.
fn causes(error: &hyper_util::client::legacy::Error) -> String {
    let mut words = Vec::new();
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        words.push(e.to_string());
        cause = e.source();
    }
    match words.is_empty() {
        true => error.to_string(),
        false => words.join(": "),
    }
}

/// Steers one embedded data plane.
#[derive(Clone)]
pub struct LocalTraffic {
    admin: AdminClient,
    reads: Arc<PlaneReads>,
}

impl LocalTraffic {
    /// `token`: the data plane's admin token (`LocalBackend::admin_token`);
    /// `limits`: its connection limits (`LocalBackend::limits`).
    pub fn new(admin: SocketAddr, token: Option<Secret>, limits: &ConnectionLimits) -> Self {
        let provider = format!("local data plane (admin {admin})");
        let admin = AdminClient::new(admin, token, limits, provider);
        Self {
            reads: PlaneReads::new(admin.clone()),
            admin,
        }
    }

    /// Its reads, for the metrics provider of the same release to share
    /// (`LocalMetrics::sharing`).
    pub fn reads(&self) -> Arc<PlaneReads> {
        Arc::clone(&self.reads)
    }

    async fn mutate(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(), ProviderError> {
        self.admin
            .call::<TrafficState>(method, path, body)
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl Traffic for LocalTraffic {
    fn describe(&self) -> String {
        self.admin.provider().to_string()
    }

    async fn prepare(&self, new_version: &str) -> Result<(), ProviderError> {
        self.mutate(
            Method::PUT,
            "/api/v1/release",
            Some(json!({ "version": new_version })),
        )
        .await
    }

    // An empty JSON object: every state-changing call is JSON (see
    // `dataplane::admin_guard`).
    async fn finish(&self) -> Result<(), ProviderError> {
        self.mutate(Method::POST, "/api/v1/finish", Some(json!({})))
            .await
    }

    async fn discard(&self) -> Result<(), ProviderError> {
        self.mutate(Method::POST, "/api/v1/discard", Some(json!({})))
            .await
    }

    async fn state(&self) -> Result<TrafficState, ProviderError> {
        Ok(self.reads.read().await?.traffic.clone())
    }

    fn as_weights(&self) -> Option<&dyn Weights> {
        Some(self)
    }

    fn as_switch(&self) -> Option<&dyn Switch> {
        Some(self)
    }

    fn as_rotation(&self) -> Option<&dyn Rotation> {
        Some(self)
    }
}

#[async_trait]
impl Weights for LocalTraffic {
    async fn set_weight(&self, new_percent: u8) -> Result<(), ProviderError> {
        self.mutate(
            Method::PUT,
            "/api/v1/weight",
            Some(json!({ "new_percent": new_percent })),
        )
        .await
    }
}

/// A switch is a weight of 0 or 100 %: the data plane moves every request
/// at once either way.
#[async_trait]
impl Switch for LocalTraffic {
    async fn switch(&self, to_new: bool) -> Result<(), ProviderError> {
        self.set_weight(if to_new { 100 } else { 0 }).await
    }
}

#[async_trait]
impl Rotation for LocalTraffic {
    async fn set_instances(&self, stable: usize, new: usize) -> Result<(), ProviderError> {
        self.mutate(
            Method::PUT,
            "/api/v1/instances",
            Some(json!({ "stable": stable, "new": new })),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_data_plane_nobody_serves_is_unreachable_and_says_why() {
        // A port just bound and released: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let client = AdminClient::new(port, None, &ConnectionLimits::default(), "plane".into());
        match client.get_if_found::<TrafficState>("/api/v1/state").await {
            Err(ProviderError::Unreachable { provider, detail }) => {
                assert_eq!(provider, "plane");
                assert!(detail.starts_with(&format!("GET http://{port}/api/v1/state: ")));
                assert!(detail.to_lowercase().contains("refused"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }
}
