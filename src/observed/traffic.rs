//! The traffic state a backend reports: which version gets how much.

use serde::{Deserialize, Serialize};

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
