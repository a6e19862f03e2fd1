//! The changes the machine asks of the traffic backend.

/// A change to where user traffic goes. The driver runs these in the order
/// emitted, each answered by one `Input::Applied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficWrite {
    Prepare,
    SetWeight(u8),
    Switch { to_new: bool },
    SetInstances { stable: usize, new: usize },
    SetFlag(u8),
    Finish,
    Discard,
}

impl TrafficWrite {
    /// The write in words, for "could not … — retrying" reasons.
    pub fn describe(&self) -> String {
        match self {
            TrafficWrite::Prepare => "prepare the new version".into(),
            TrafficWrite::SetWeight(w) => format!("set weight {w}%"),
            TrafficWrite::Switch { to_new: true } => "switch to the new version".into(),
            TrafficWrite::Switch { to_new: false } => "switch back to stable".into(),
            TrafficWrite::SetInstances { stable, new } => {
                format!("put {stable} stable + {new} new instances in rotation")
            }
            TrafficWrite::SetFlag(p) => format!("set the flag to {p}%"),
            TrafficWrite::Finish => "finish the release".into(),
            TrafficWrite::Discard => "discard the new version".into(),
        }
    }
}
