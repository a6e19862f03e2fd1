//! The embedded local data plane: a weighted HTTP/1.1 reverse proxy with its
//! own counters, health checks and admin API, one per service.
//!
//! The release engine steers it only through the admin API (see `admin`),
//! so it makes no difference whether the proxy runs inside the helmsman
//! process (the demo) or as a separate daemon.
//!
//! ```text
//!  users ──▶ listen ──▶ proxy ──pick──▶ Table (ArcSwap) ──▶ upstream pool
//!                         │ counts                 ▲ swap
//!                         ▼                        │
//!                     Registry ◀── /metrics ── admin ◀── engine (LocalTraffic / LocalMetrics)
//!                                                  health checker ──▶ InstanceHealth
//! ```

pub mod admin;
pub mod admin_guard;
pub mod admin_token;
pub mod counters;
pub mod exposition;
pub mod health;
pub mod limits;
pub mod pool;
pub mod proxy;
pub mod routing;
pub mod server;
pub mod siblings;
pub mod state;
pub mod workers;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderName;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ConnectionLimits, HealthCheck, LocalBackend, Secret};
use admin_guard::AdminGuard;
use state::Shared;
use workers::Workers;

/// How long `shutdown` waits for in-flight requests before closing them.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting to a local upstream takes microseconds; a second means it is gone.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// `env/service`, e.g. `"dev/checkout"`: the `service` metric label.
    pub name: String,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    pub stable_version: String,
    pub versions: BTreeMap<String, Vec<SocketAddr>>,
    pub error_kind_header: Option<String>,
    /// Response header naming the flag variant that served a request
    /// (feature-flag services): the request counts for the side running
    /// that variant, whichever instance answered.
    pub variant_header: Option<String>,
    pub health: HealthCheck,
    /// The bearer token of state-changing admin calls; `None` generates one
    /// for this data plane alone (see [`DataPlane::admin_token`]).
    pub admin_token: Option<Secret>,
    pub limits: ConnectionLimits,
}

impl DataPlaneConfig {
    pub fn from_backend(
        name: impl Into<String>,
        backend: &LocalBackend,
        health: &HealthCheck,
    ) -> Self {
        Self {
            name: name.into(),
            listen: backend.listen,
            admin: backend.admin,
            stable_version: backend.stable.clone(),
            versions: backend.versions.clone(),
            error_kind_header: backend.error_kind_header.clone(),
            variant_header: backend.variant_header.clone(),
            health: health.clone(),
            admin_token: backend.admin_token.clone(),
            limits: backend.limits,
        }
    }
}

/// A running data plane. Dropping it stops it abruptly; `shutdown` drains.
pub struct DataPlane {
    listen: SocketAddr,
    admin: SocketAddr,
    admin_token: Secret,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    health_checks: Vec<JoinHandle<()>>,
    /// Listed while it runs, for its siblings' admin APIs to answer for it.
    _listed: siblings::Registration,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

impl DataPlane {
    /// Binds both listeners (port 0 picks a free port) and starts serving.
    pub async fn start(cfg: DataPlaneConfig) -> io::Result<DataPlane> {
        match cfg.versions.get(&cfg.stable_version) {
            Some(instances) if !instances.is_empty() => {}
            _ => {
                return Err(invalid(format!(
                    "{}: stable version `{}` has no upstream instances configured",
                    cfg.name, cfg.stable_version
                )));
            }
        }
        let header = |key: &str, name: &Option<String>| {
            name.as_deref()
                .map(|h| {
                    HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                        invalid(format!(
                            "{}: {key} `{h}` is not a valid header name",
                            cfg.name
                        ))
                    })
                })
                .transpose()
        };
        let headers = state::Headers {
            error_kind: header("error_kind_header", &cfg.error_kind_header)?,
            variant: header("variant_header", &cfg.variant_header)?,
        };

        let listener = TcpListener::bind(cfg.listen).await?;
        let admin_listener = TcpListener::bind(cfg.admin).await?;
        let (listen, admin) = (listener.local_addr()?, admin_listener.local_addr()?);

        let shared = Arc::new(Shared::new(
            cfg.name.clone(),
            &cfg.stable_version,
            cfg.versions.clone(),
            headers,
        ));
        let listed = siblings::register(admin, &shared);
        let admin_token = cfg
            .admin_token
            .clone()
            .unwrap_or_else(admin_token::generate);
        let guard = Arc::new(AdminGuard::new(admin, admin_token.clone()));
        let health_checks = health::spawn_checkers(
            &shared.catalog.instances(),
            &cfg.health,
            proxy::upstream_client(cfg.health.timeout),
        );

        let workers = Arc::new(Workers::per_cpu("helmsman-proxy").await?);

        let (stop, stopped) = watch::channel(false);
        let proxy_shared = shared.clone();
        let proxy_server = tokio::spawn(server::serve(
            listener,
            move |peer| {
                let conn = Arc::new(proxy::Connection::new(proxy_shared.clone(), peer));
                move |request| {
                    let conn = conn.clone();
                    async move { proxy::handle(&conn, request).await }
                }
            },
            Some(workers),
            cfg.limits,
            stopped.clone(),
            DRAIN_TIMEOUT,
        ));
        let admin_server = tokio::spawn(server::serve(
            admin_listener,
            move |_peer| {
                let (shared, guard) = (shared.clone(), guard.clone());
                move |request| {
                    let (shared, guard) = (shared.clone(), guard.clone());
                    async move { admin::handle(&shared, &guard, request).await }
                }
            },
            None,
            cfg.limits,
            stopped,
            DRAIN_TIMEOUT,
        ));
        tracing::info!(service = %cfg.name, %listen, %admin, "data plane started");
        Ok(DataPlane {
            listen,
            admin,
            admin_token,
            stop,
            servers: vec![proxy_server, admin_server],
            health_checks,
            _listed: listed,
        })
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// The token its state-changing admin calls need: the configured one,
    /// or the one it generated.
    pub fn admin_token(&self) -> &Secret {
        &self.admin_token
    }

    /// Stops accepting, lets in-flight requests finish (at most
    /// [`DRAIN_TIMEOUT`]), then stops the health checks.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for server in std::mem::take(&mut self.servers) {
            let _ = server.await;
        }
        // Drop aborts the health checks.
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        for task in self.servers.iter().chain(&self.health_checks) {
            task.abort();
        }
    }
}
