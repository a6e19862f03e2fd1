//! `helmsman --version`: what this binary is — its version, the commit it
//! was built from and when, and the backends and metrics sources it
//! speaks — as text or JSON, for a bug report or an inventory script.

use serde::Serialize;

use super::{ExitCode, OutputFormat};

#[derive(Debug, Serialize)]
pub struct Version {
    pub version: &'static str,
    pub commit: &'static str,
    pub built: &'static str,
    pub backends: &'static [&'static str],
    pub metrics: &'static [&'static str],
}

/// This binary's.
pub fn this() -> Version {
    Version {
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("HELMSMAN_COMMIT"),
        built: env!("HELMSMAN_BUILT"),
        backends: crate::config::BACKEND_TYPES,
        metrics: crate::config::METRICS_TYPES,
    }
}

pub fn print(format: OutputFormat) -> ExitCode {
    let version = this();
    match format {
        OutputFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string(&version).expect("a version serializes")
        ),
        OutputFormat::Text => {
            crate::outln!("helmsman {}", version.version);
            crate::outln!("commit    {}", version.commit);
            crate::outln!("built     {}", version.built);
            crate::outln!("backends  {}", version.backends.join(", "));
            crate::outln!("metrics   {}", version.metrics.join(", "));
        }
    }
    ExitCode::Ok
}
