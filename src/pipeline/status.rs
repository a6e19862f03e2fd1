//! What `helmsman status` says of each release in flight: where it is and
//! what it waits for — the engine, a human, or nobody, because the process
//! driving it died and left its traffic where it was.

use serde::Serialize;

use crate::engine::{Event, Phase};
use crate::store::{Entry, Filter, History, Holder, StoreError};

/// A release the journal holds as not ended.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct InFlight {
    #[serde(flatten)]
    pub entry: Entry,
    /// Its latest event: the phase, step and weight it reached.
    pub last: Option<Event>,
    /// The process driving it; None when it died with the release unfinished.
    pub driver: Option<Holder>,
    pub waits_for: String,
    /// A succeeded release the host still watches (`watch_after`): until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watching_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every release in flight that `filter` selects, newest first.
pub fn in_flight(history: &History, filter: &Filter) -> Result<Vec<InFlight>, StoreError> {
    history
        .unfinished(filter)?
        .into_iter()
        .map(|entry| {
            let last = history.last_event(&entry.start.id)?;
            let driver = history.driver(&entry.start.target);
            let waits_for = waits_for(&entry, last.as_ref(), driver.as_ref());
            Ok(InFlight {
                entry,
                last,
                driver,
                waits_for,
                watching_until: None,
            })
        })
        .collect()
}

fn waits_for(entry: &Entry, last: Option<&Event>, driver: Option<&Holder>) -> String {
    let new = &entry.start.new_version;
    let Some(driver) = driver else {
        let weight = last.map_or(0, |e| e.weight);
        return format!(
            "nobody: the process driving it died; the backend was last at {weight} % on {new}, \
             with no triggers watching"
        );
    };
    let who = format!("helmsman pid {}", driver.pid);
    match last.map(|e| e.to) {
        Some(Phase::WaitingForHuman) => format!("a human to advance it ({who})"),
        Some(Phase::Paused) => format!("a human to resume it ({who})"),
        Some(Phase::RollingBack) => format!("its rollback to finish ({who})"),
        _ => format!("the engine ({who})"),
    }
}

/// A succeeded release the host watches, as `status` lists it: its last
/// state says how it stands.
pub fn watched(
    history: &History,
    snapshot: &crate::engine::Snapshot,
) -> Result<Option<InFlight>, StoreError> {
    let Some(entry) = history.release(&snapshot.release_id)? else {
        return Ok(None);
    };
    Ok(Some(InFlight {
        last: history.last_event(&entry.start.id)?,
        entry,
        driver: None,
        waits_for: format!("nobody: {}", snapshot.reason),
        watching_until: snapshot.watching_until,
    }))
}
