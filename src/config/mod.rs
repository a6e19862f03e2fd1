//! Configuration: the TOML model, validation with file:line:col, durations,
//! `${VAR}` secrets, and the preflight checks of each environment.

pub mod checks;
pub mod duration;
pub mod errors;
pub mod load;
pub mod metrics;
pub mod model;
mod schema;
mod secret;
pub mod summary;

pub use checks::{CheckKind, CheckSpec, Preflight, Probe, Scope};
pub use errors::{ConfigError, ConfigErrors};
pub use load::{load_file, parse_str};
pub use metrics::MetricsSource;
pub use model::*;
pub use summary::summary;
