//! The engine talks to the outside world only through these traits. A
//! backend is added by adding a module in one of the folders, not by editing
//! the engine.

pub mod checks;
pub mod metrics;
pub mod traffic;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::metrics::Reading;

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
    /// No answer within the time the engine allows a call.
    #[error("{provider} did not answer within {}", crate::config::duration::format(*.after))]
    TimedOut { provider: String, after: Duration },
}

/// One upstream instance as the traffic backend sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Address or name, for display.
    pub name: String,
    /// Receiving user traffic.
    pub in_rotation: bool,
    /// Passing its health checks.
    pub healthy: bool,
}

/// The traffic state read back from a backend: the truth the engine checks
/// its wishes against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficState {
    /// The version serving as stable, and the one being released (if any).
    pub stable_version: String,
    pub new_version: Option<String>,
    /// Percent of user traffic routed to the new version.
    pub new_weight: u8,
    pub stable: Vec<Instance>,
    pub new: Vec<Instance>,
    /// Flag rollout percentage, for flag backends.
    pub flag_percent: Option<u8>,
    /// How many instances the new version will have, for a backend that
    /// creates them while rolling (a Kubernetes Deployment) rather than
    /// staging them all in `prepare`; `None`: as many as `new` lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_new: Option<usize>,
}

/// Moves user traffic between the stable and the new version.
#[async_trait]
pub trait Traffic: Send + Sync {
    /// A short name for messages ("local data plane 127.0.0.1:8080").
    fn describe(&self) -> String;

    /// How long one write may take before the engine counts it as failed.
    /// Backends whose writes wait for a rollout need longer.
    fn write_timeout(&self) -> Duration {
        crate::engine::driver::WRITE_TIMEOUT
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

/// In order of severity: the worst of several checks is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub status: CheckStatus,
    /// The measured value in words ("HTTP 200 in 3 ms").
    pub detail: String,
    #[serde(with = "duration_ms")]
    pub took: Duration,
}

/// A check the engine runs: blue-green preview smoke checks. (Preflight
/// checks run before the engine starts: see `crate::preflight`.)
#[async_trait]
pub trait Check: Send + Sync {
    fn name(&self) -> String;
    async fn run(&self) -> CheckResult;
}

/// Durations as whole milliseconds in JSON.
pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
