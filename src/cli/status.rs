//! `helmsman status`: every release in flight on this machine, where it is
//! and what it waits for, or as JSON.

use std::path::Path;

use super::{ExitCode, OutputFormat};
use crate::host::client::Client;
use crate::host::protocol::{Reply, Request};
use crate::pipeline::status::{self, InFlight};
use crate::store::{Filter, History};

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
    ExitCode::Ok
}

async fn in_flight(state_dir: &Path, filter: &Filter) -> Result<Vec<InFlight>, String> {
    let origin = match super::operator::current() {
        crate::engine::Actor::Operator { origin, .. } => origin,
        crate::engine::Actor::Engine => None,
    };
    match Client::connect(state_dir, origin).await {
        Ok(Some(mut host)) => {
            let request = Request::Status {
                env: filter.env.clone(),
                service: filter.service.clone(),
            };
            match host.ask(&request).await {
                Ok(Reply::Status { releases }) => Ok(releases),
                Ok(other) => Err(format!("the release host answered {other:?}")),
                Err(e) => Err(e.to_string()),
            }
        }
        Ok(None) => {
            let history = History::open(state_dir).map_err(|e| e.to_string())?;
            status::in_flight(&history, filter).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn row(release: &InFlight) -> [String; 8] {
    let start = &release.entry.start;
    let (phase, step, weight) = match &release.last {
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
