//! What helmsman observes of the world outside it: the traffic state a
//! backend reports, the outcome of a check, and how a provider call
//! failed. (Metrics readings are in `crate::metrics`.) The engine and the
//! providers both speak in these types; neither imports the other for them.

mod check_result;
mod provider_error;
mod traffic;

pub use check_result::{CheckResult, CheckStatus, duration_ms};
pub use provider_error::ProviderError;
pub use traffic::{Instance, TrafficState};

use serde::{Deserialize, Serialize};

/// A data plane's traffic state and counters from one look at its routing
/// table (the local data plane's `GET /api/v1/observed`): one admin call
/// answers both reads of a periodic reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub traffic: TrafficState,
    pub counters: crate::metrics::Reading,
}
