//! The engine talks to the outside world only through these traits. A
//! backend is added by adding a module in one of the folders, not by editing
//! the engine.

pub mod checks;
pub mod metrics;
pub mod traffic;

use std::time::Duration;

use async_trait::async_trait;

use crate::metrics::Reading;
use crate::observed::{CheckResult, TrafficState};

/// Longest a traffic write may take before it counts as failed (and is
/// retried by the machine), unless the backend says otherwise.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The backend did not answer (connection refused, timeout).
    #[error("{provider} is unreachable: {detail}")]
    Unreachable { provider: String, detail: String },
    /// The backend answered but refused or failed the request.
    #[error("{provider} refused: {detail}")]
    Rejected { provider: String, detail: String },
    /// The backend answered something that cannot be trusted (garbage).
    #[error("{provider} answered invalid data: {detail}")]
    Invalid { provider: String, detail: String },
    /// The backend answered, but without a number to judge: an empty
    /// result, NaN or an infinity.
    #[error("{provider} has no data: {detail}")]
    NoData { provider: String, detail: String },
    /// The change was accepted but the backend reports it cannot complete
    /// (a Deployment past its progress deadline): retrying will not help,
    /// so the engine rolls back.
    #[error("{provider} failed: {detail}")]
    Failed { provider: String, detail: String },
    /// The backend cannot do this at all (e.g. flags on a proxy).
    #[error("{provider} does not support {what}")]
    Unsupported { provider: String, what: String },
}

/// Moves user traffic between the stable and the new version.
#[async_trait]
pub trait Traffic: Send + Sync {
    /// A short name for messages ("local data plane 127.0.0.1:8080").
    fn describe(&self) -> String;

    /// How long one write may take before the engine counts it as failed.
    /// Backends whose writes wait for a rollout need longer.
    fn write_timeout(&self) -> Duration {
        DEFAULT_WRITE_TIMEOUT
    }

    /// Deploys (or stages) `new_version` beside stable with no user
    /// traffic: its instances are health-checked but out of rotation and at
    /// weight 0. Fails if the backend does not know that version.
    async fn prepare(&self, new_version: &str) -> Result<(), ProviderError>;

    /// After a successful release: the new version becomes stable and the
    /// old one is retired (drained).
    async fn finish(&self) -> Result<(), ProviderError>;

    /// After a rollback: all traffic on stable and the new version removed
    /// (drained: its in-flight requests finish).
    async fn discard(&self) -> Result<(), ProviderError>;

    /// Canary: route `new_percent` of requests to the new version, the rest
    /// to stable; atomically, dropping no request.
    async fn set_weight(&self, new_percent: u8) -> Result<(), ProviderError>;

    /// Blue-green: send all traffic to one side at once (`to_new` true: the
    /// new version). Both sides stay deployed.
    async fn switch(&self, to_new: bool) -> Result<(), ProviderError> {
        self.set_weight(if to_new { 100 } else { 0 }).await
    }

    /// Rolling: put the first `stable` stable instances and the first `new`
    /// new instances in rotation and spread traffic evenly across all
    /// instances in rotation. Instances taken out of rotation are drained:
    /// their in-flight requests finish. Blue-green uses `(0, n)` to scale
    /// the old side down after its delay.
    async fn set_instances(&self, stable: usize, new: usize) -> Result<(), ProviderError>;

    /// Feature flag: the flag's rollout percentage.
    async fn set_flag(&self, _percent: u8) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.describe(),
            what: "feature flags".to_string(),
        })
    }

    /// The actual state, read back from the backend.
    async fn state(&self) -> Result<TrafficState, ProviderError>;
}

/// Reads cumulative counters for the new version and its baseline.
#[async_trait]
pub trait Metrics: Send + Sync {
    fn describe(&self) -> String;
    async fn read(&self) -> Result<Reading, ProviderError>;
}

/// A check the engine runs: blue-green preview smoke checks. (Preflight
/// checks run before the engine starts: see `crate::preflight`.)
#[async_trait]
pub trait Check: Send + Sync {
    fn name(&self) -> String;
    async fn run(&self) -> CheckResult;
}
