//! Configuration: the TOML model, validation with file:line:col, durations,
//! `${VAR}` secrets, and the preflight checks of each environment.

pub mod duration;
pub mod errors;
pub mod hooks;
pub mod load;
pub mod metrics;
pub mod migrations;
pub mod model;
pub mod notify;
pub mod preflight;
mod schema;
mod secret;
pub mod summary;
#[cfg(test)]
pub(crate) mod test_support;

pub use errors::{ConfigError, ConfigErrors};
pub use hooks::{Hook, HookAction, HookPoint};
pub use load::{BACKEND_TYPES, METRICS_TYPES, load_bytes, load_file, parse_str, read_file};
pub use metrics::MetricsSource;
pub use migrations::Migrations;
pub use model::*;
pub use preflight::{CheckKind, CheckSpec, Preflight, Probe, Scope};
pub(crate) use schema::quoted_list;
pub use summary::summary;

/// The `[environments.services.metrics]` table of a service reading
/// Prometheus, which every Kubernetes service needs: appended to the
/// configurations of unit tests.
#[cfg(test)]
pub(crate) const PROMETHEUS_METRICS_TOML: &str = r#"[environments.services.metrics]
type = "prometheus"
url = "http://127.0.0.1:9090"
requests = 'sum(http_requests_total{version="{version}"})'
errors_by_kind = 'sum by (kind) (http_errors_total{version="{version}"})'
p95_seconds = 'p95{version="{version}"}'
"#;
