//! HAProxy hosts, driven through HAProxy's runtime API (a stats socket or a
//! TCP bind at `level admin`): what each server is set to and what HAProxy
//! really does ([`servers`]: `show servers state`), and what each server
//! served ([`stat`]: `show stat`), summed per version as a metrics source
//! ([`metrics`]); a traffic provider moving each version's share over
//! its servers ([`traffic`]); and the smoke test of a blue-green preview
//! ([`smoke`]).

pub mod metrics;
pub mod runtime;
pub mod servers;
pub mod smoke;
pub mod stat;
pub mod traffic;

pub use metrics::HaProxyMetrics;
pub use runtime::{Address, RuntimeApi};
pub use servers::{Admin, ServerState};
pub use stat::ServerStat;
pub use traffic::HaProxyTraffic;

use std::time::Duration;

use crate::config::HaProxyBackend;

/// How long one runtime API command may take: HAProxy answers at once, so
/// more than this is a socket nobody serves.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The runtime API of a configured backend.
pub fn api_of(backend: &HaProxyBackend) -> RuntimeApi {
    RuntimeApi::new(backend.runtime_api.clone(), TIMEOUT)
}

/// The counters of a configured backend's `stable` and `new` versions.
pub fn metrics_of(backend: &HaProxyBackend, stable: &str, new: &str) -> HaProxyMetrics {
    let servers = |version: &str| backend.versions.get(version).cloned().unwrap_or_default();
    HaProxyMetrics::new(
        api_of(backend),
        &backend.backend,
        servers(stable),
        servers(new),
    )
}

/// The smoke tests of a blue-green preview: `path` on each server of `version`.
pub fn smoke_checks_of(
    backend: &HaProxyBackend,
    version: &str,
    path: &str,
    timeout: Duration,
) -> Vec<smoke::ServerSmoke> {
    let servers = backend.versions.get(version).into_iter().flatten();
    servers
        .map(|server| {
            smoke::ServerSmoke::new(api_of(backend), &backend.backend, server, path, timeout)
        })
        .collect()
}

/// The traffic of a configured backend; `stable` as in [`HaProxyTraffic::new`].
pub fn traffic_of(backend: &HaProxyBackend, stable: Option<&str>) -> HaProxyTraffic {
    HaProxyTraffic::new(
        api_of(backend),
        &backend.backend,
        backend.versions.clone(),
        stable,
    )
}

/// The column names of an answer's header line, for reading its rows by
/// name: a HAProxy that adds columns is still read right.
struct Header<'a>(Vec<&'a str>);

impl Header<'_> {
    fn column(&self, name: &str) -> Result<usize, String> {
        self.0
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("no column `{name}`"))
    }
}
