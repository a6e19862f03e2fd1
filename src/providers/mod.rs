//! The engine talks to the outside world only through these traits. A
//! backend is added by adding a module in one of the folders, not by editing
//! the engine.

pub mod checks;
pub mod flagd;
pub mod haproxy;
pub mod metrics;
pub mod traffic;

use std::time::Duration;

use async_trait::async_trait;

use crate::metrics::Reading;
pub use crate::observed::ProviderError;
use crate::observed::{CheckResult, TrafficState};
use crate::strategy::Capability;

/// Longest a traffic write may take before it counts as failed (and is
/// retried by the machine), unless the backend says otherwise.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Moves user traffic between the stable and the new version: what every
/// traffic backend does. The moves particular to a strategy are narrow
/// capabilities below ([`Weights`], [`Switch`], [`Rotation`],
/// [`FlagPercent`]); a backend implements the ones it can and hands them
/// out here, and a strategy whose capability a backend lacks is refused
/// before anything moves.
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

    /// The actual state, read back from the backend.
    async fn state(&self) -> Result<TrafficState, ProviderError>;

    fn as_weights(&self) -> Option<&dyn Weights> {
        None
    }

    fn as_switch(&self) -> Option<&dyn Switch> {
        None
    }

    fn as_rotation(&self) -> Option<&dyn Rotation> {
        None
    }

    fn as_flag_percent(&self) -> Option<&dyn FlagPercent> {
        None
    }
}

/// Canary: route `new_percent` of requests to the new version, the rest to
/// stable; atomically, dropping no request.
#[async_trait]
pub trait Weights: Send + Sync {
    async fn set_weight(&self, new_percent: u8) -> Result<(), ProviderError>;
}

/// Blue-green: send all traffic to one side at once (`to_new` true: the new
/// version). Both sides stay deployed.
#[async_trait]
pub trait Switch: Send + Sync {
    async fn switch(&self, to_new: bool) -> Result<(), ProviderError>;
}

/// Put the first `stable` stable instances and the first `new` new
/// instances in rotation and spread traffic evenly across all instances in
/// rotation (rolling batches; blue-green's scale-down of the old side uses
/// `(0, n)`). Instances taken out of rotation are drained: their in-flight
/// requests finish.
#[async_trait]
pub trait Rotation: Send + Sync {
    async fn set_instances(&self, stable: usize, new: usize) -> Result<(), ProviderError>;
}

/// Feature flag: the flag's rollout percentage.
#[async_trait]
pub trait FlagPercent: Send + Sync {
    async fn set_flag(&self, percent: u8) -> Result<(), ProviderError>;
}

/// The moves, asked of any backend: a capability it lacks is an error
/// naming what it cannot do (the pipeline refuses such a release before
/// anything moves, so only a caller that skipped that check sees it).
impl dyn Traffic {
    pub fn can(&self, need: Capability) -> bool {
        match need {
            Capability::Weights => self.as_weights().is_some(),
            Capability::Switch => self.as_switch().is_some(),
            Capability::Rotation => self.as_rotation().is_some(),
            Capability::FlagPercent => self.as_flag_percent().is_some(),
        }
    }

    fn lacks(&self, what: &str) -> ProviderError {
        ProviderError::Unsupported {
            provider: self.describe(),
            what: what.to_string(),
        }
    }

    pub async fn set_weight(&self, new_percent: u8) -> Result<(), ProviderError> {
        match self.as_weights() {
            Some(w) => w.set_weight(new_percent).await,
            None => Err(self.lacks("traffic weights")),
        }
    }

    pub async fn switch(&self, to_new: bool) -> Result<(), ProviderError> {
        match self.as_switch() {
            Some(s) => s.switch(to_new).await,
            None => Err(self.lacks("a switch between versions")),
        }
    }

    pub async fn set_instances(&self, stable: usize, new: usize) -> Result<(), ProviderError> {
        match self.as_rotation() {
            Some(r) => r.set_instances(stable, new).await,
            None => Err(self.lacks("instance counts")),
        }
    }

    pub async fn set_flag(&self, percent: u8) -> Result<(), ProviderError> {
        match self.as_flag_percent() {
            Some(f) => f.set_flag(percent).await,
            None => Err(self.lacks("feature flags")),
        }
    }
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
