//! Traffic provider for the embedded data plane, through its admin API, so
//! the engine steers an in-process proxy and a `helmsman serve` daemon alike.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
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
#[derive(Debug, Clone)]
pub struct AdminClient {
    admin: SocketAddr,
    /// `http://<admin address>/`, parsed once.
    base: reqwest::Url,
    token: Option<Secret>,
    http: reqwest::Client,
    provider: String,
}

/// How long an admin connection is kept for the next call: well within
/// the time the data plane keeps an idle keep-alive connection open (its
/// header-read and idle timeouts), so a call never reuses one the data
/// plane is closing at that moment, which would fail for nothing.
fn reuse_window(limits: &ConnectionLimits) -> Duration {
    limits.header_read_timeout.min(limits.idle_timeout) / 2
}

/// The HTTP client of every admin client whose data planes share a reuse
/// window (one, unless services set their own timeouts). A connection per
/// call would cost a host driving hundreds of releases most of its CPU
/// (two reads a second per release), and a client per release and
/// provider a megabyte or so of TLS configuration each.
fn shared_http(reuse: Duration) -> reqwest::Client {
    static CLIENTS: OnceLock<Mutex<HashMap<Duration, reqwest::Client>>> = OnceLock::new();
    let mut clients = crate::sync::lock(CLIENTS.get_or_init(Default::default));
    clients
        .entry(reuse)
        .or_insert_with(|| {
            reqwest::Client::builder()
                .timeout(ADMIN_TIMEOUT)
                .no_proxy()
                .pool_idle_timeout(reuse)
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
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
        let base = reqwest::Url::parse(&format!("http://{admin}/"))
            .expect("a socket address makes a valid URL");
        Self {
            admin,
            base,
            token,
            http: shared_http(reuse_window(limits)),
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
        method: reqwest::Method,
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
        let method = reqwest::Method::GET;
        let (status, bytes) = self.send(&method, path, None).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.answer(&method, path, status, &bytes).map(Some)
    }

    async fn send(
        &self,
        method: &reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(reqwest::StatusCode, bytes::Bytes), ProviderError> {
        // The address is parsed once; only the path changes per call.
        let mut url = self.base.clone();
        url.set_path(path);
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(body) = body {
            request = request.json(&body);
        }
        if *method != reqwest::Method::GET
            && let Some(token) = &self.token
        {
            request = request.bearer_auth(token.expose());
        }
        let unreachable = |e: reqwest::Error, doing: &str| ProviderError::Unreachable {
            provider: self.provider.clone(),
            detail: format!("{method} {url}: {doing}{e}"),
        };
        let response = request.send().await.map_err(|e| unreachable(e, ""))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(e, "reading the answer: "))?;
        Ok((status, bytes))
    }

    fn answer<T: DeserializeOwned>(
        &self,
        method: &reqwest::Method,
        path: &str,
        status: reqwest::StatusCode,
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
        method: reqwest::Method,
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
            reqwest::Method::PUT,
            "/api/v1/release",
            Some(json!({ "version": new_version })),
        )
        .await
    }

    // An empty JSON object: every state-changing call is JSON (see
    // `dataplane::admin_guard`).
    async fn finish(&self) -> Result<(), ProviderError> {
        self.mutate(reqwest::Method::POST, "/api/v1/finish", Some(json!({})))
            .await
    }

    async fn discard(&self) -> Result<(), ProviderError> {
        self.mutate(reqwest::Method::POST, "/api/v1/discard", Some(json!({})))
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
            reqwest::Method::PUT,
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
            reqwest::Method::PUT,
            "/api/v1/instances",
            Some(json!({ "stable": stable, "new": new })),
        )
        .await
    }
}
