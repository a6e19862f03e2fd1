//! Real upstream HTTP servers on 127.0.0.1:0 for the data plane tests.
//! Each answers with its own name, so a test can tell where a request went.
#![allow(dead_code)] // each test binary uses a different part of it

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use helmsman::config::{HealthCheck, defaults};
use helmsman::dataplane::DataPlaneConfig;

/// What an upstream answers.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Status of user requests (200 when unset).
    pub status: Option<u16>,
    /// Adds `x-error-kind: <kind>` to user responses.
    pub error_kind: Option<&'static str>,
    /// `/healthz` answers 503.
    pub unhealthy: bool,
    /// `/slow` waits for a permit here; `arrived` is notified when it starts waiting.
    pub gate: Option<Arc<Semaphore>>,
    pub arrived: Option<Arc<Notify>>,
}

pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start(name: &str, behaviour: Behaviour) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let name_owned = name.to_string();
        let task = tokio::spawn(async move {
            // Connections live in the set, so stopping the server (aborting
            // this task) also closes its keep-alive connections.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    Ok((stream, _)) = listener.accept() => {
                        let name = name_owned.clone();
                        let behaviour = behaviour.clone();
                        let service = service_fn(move |req| answer(name.clone(), behaviour.clone(), req));
                        connections.spawn(async move {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Upstream {
            name: name.to_string(),
            addr,
            task,
        }
    }

    /// Stops listening and closes every open connection.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn answer(
    name: String,
    b: Behaviour,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let xff = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let connection_header = req.headers().contains_key("x-hop");
    if path == "/healthz" {
        let status = if b.unhealthy { 503 } else { 200 };
        return Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(name)))
            .unwrap());
    }
    if path == "/slow" {
        if let Some(arrived) = &b.arrived {
            arrived.notify_one();
        }
        if let Some(gate) = &b.gate {
            let _ = gate.acquire().await.map(|p| p.forget());
        }
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut response = Response::builder()
        .status(b.status.unwrap_or(200))
        .header("x-upstream", &name)
        .header("x-seen-path", path)
        .header("x-seen-xff", xff)
        .header("x-seen-hop", if connection_header { "yes" } else { "no" })
        .header("x-seen-body-len", body.len().to_string());
    if let Some(kind) = b.error_kind {
        response = response.header("x-error-kind", kind);
    }
    Ok(response.body(Full::new(Bytes::from(name))).unwrap())
}

/// A loopback address nothing listens on (bound, then released).
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// Fast health checks so tests do not wait seconds.
pub fn fast_health() -> HealthCheck {
    HealthCheck {
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
        ..defaults::health()
    }
}

pub fn config(
    stable: &str,
    versions: &[(&str, Vec<SocketAddr>)],
    health: HealthCheck,
) -> DataPlaneConfig {
    DataPlaneConfig {
        name: "dev/checkout".to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        stable_version: stable.to_string(),
        versions: versions
            .iter()
            .map(|(v, addrs)| (v.to_string(), addrs.clone()))
            .collect::<BTreeMap<_, _>>(),
        error_kind_header: Some("x-error-kind".to_string()),
        variant_header: None,
        health,
        admin_token: None,
        limits: Default::default(),
    }
}

/// A client that never goes through an environment proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A test whose real tool (tmux, promtool, prometheus) is missing: skipped
/// with a word on a developer's machine, a failure under `.ci/run`, which
/// installs them and sets `HELMSMAN_TEST_REQUIRE_TOOLS` — so a missing
/// package can never pass silently.
pub fn missing_tool(what: &str) {
    if std::env::var_os("HELMSMAN_TEST_REQUIRE_TOOLS").is_some() {
        panic!("{what} is missing, and HELMSMAN_TEST_REQUIRE_TOOLS says it must be here");
    }
    eprintln!("skipped: {what} is missing (.ci/run installs it)");
}
