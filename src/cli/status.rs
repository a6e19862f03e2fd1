//! `helmsman status`: every release in flight on this machine, where it is
//! and what it waits for, or as JSON.

use std::path::Path;

use super::{ExitCode, OutputFormat};
use crate::host::client::{Client, ClientError};
use crate::host::protocol::{Reply, Request};
use crate::pipeline::status::{self, InFlight};
use crate::store::{Filter, History, StoreError};

const HEADER: [&str; 8] = [
    "TARGET",
    "RELEASE",
    "VERSIONS",
    "STRATEGY",
    "PHASE",
    "STEP",
    "WEIGHT",
    "WAITS FOR",
];

/// From the release host when one runs on `state_dir`, else from the
/// journal and the locks directly: the same list either way.
pub async fn run(state_dir: &Path, filter: &Filter, output: OutputFormat) -> ExitCode {
    let releases = match in_flight(state_dir, filter).await {
        Ok(releases) => releases,
        Err(e) => {
            crate::errln!("error: {e}");
            return ExitCode::Runtime;
        }
    };
    super::table::print(&releases, output, HEADER, row, "no release in flight");
    if output == OutputFormat::Text {
        open_migrations(state_dir, filter);
    }
    ExitCode::Ok
}

/// Under the releases: every service whose migrations are mid-way, wait
/// for a contract, or failed, from the journal.
fn open_migrations(state_dir: &Path, filter: &Filter) {
    let Ok(states) = History::open(state_dir).and_then(|h| h.migration_states()) else {
        return;
    };
    let wanted = |target: &crate::engine::Target| {
        filter.env.as_ref().is_none_or(|e| *e == target.env)
            && filter.service.as_ref().is_none_or(|s| *s == target.service)
    };
    for (target, state) in states
        .iter()
        .filter(|(t, s)| wanted(t) && s.phase.is_open())
    {
        let then = match state.phase {
            crate::store::MigrationPhase::ContractPending => format!(
                " — the point of no return; run `helmsman migrations contract --env {} --service {}`",
                target.env, target.service
            ),
            _ => format!(": {}", state.detail),
        };
        crate::outln!(
            "migrations of {target}: {} ({} → {}){then}",
            state.phase.words(),
            state.previous_version,
            state.version
        );
    }
}

/// Why the releases in flight could not be listed.
#[derive(Debug, thiserror::Error)]
enum StatusError {
    #[error(transparent)]
    Host(#[from] ClientError),
    #[error(transparent)]
    Journal(#[from] StoreError),
    #[error("the release host answered a status request with {0:?}")]
    Unexpected(Box<Reply>),
}

async fn in_flight(state_dir: &Path, filter: &Filter) -> Result<Vec<InFlight>, StatusError> {
    match Client::connect(state_dir, &super::operator::current()).await? {
        Some(mut host) => {
            let request = Request::Status {
                env: filter.env.clone(),
                service: filter.service.clone(),
            };
            match host.ask(&request).await? {
                Reply::Status { releases } => Ok(releases),
                other => Err(StatusError::Unexpected(Box::new(other))),
            }
        }
        None => Ok(status::in_flight(&History::open(state_dir)?, filter)?),
    }
}

fn row(release: &InFlight) -> [String; 8] {
    let start = &release.entry.start;
    let (phase, step, weight) = match &release.last {
        Some(e) if release.watching_until.is_some() => (
            "Watching".to_string(),
            crate::engine::step_of(e.step, e.steps),
            format!("{} %", e.weight),
        ),
        Some(e) => (
            e.to.words().to_string(),
            crate::engine::step_of(e.step, e.steps),
            format!("{} %", e.weight),
        ),
        None => ("starting".to_string(), "-".to_string(), "-".to_string()),
    };
    [
        start.target.to_string(),
        start.id.clone(),
        format!("{} → {}", start.stable_version, start.new_version),
        start.strategy.clone(),
        phase,
        step,
        weight,
        release.waits_for.clone(),
    ]
}
