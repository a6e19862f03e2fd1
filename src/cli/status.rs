//! `helmsman status`: every release in flight on this machine, where it is
//! and what it waits for, or as JSON.

use super::{ExitCode, OutputFormat};
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

pub fn run(history: &History, filter: &Filter, output: OutputFormat) -> ExitCode {
    let releases = match status::in_flight(history, filter) {
        Ok(releases) => releases,
        Err(e) => {
            crate::errln!("error: {e}");
            return ExitCode::Runtime;
        }
    };
    match output {
        OutputFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&releases).expect("releases serialize")
        ),
        OutputFormat::Text if releases.is_empty() => crate::outln!("no release in flight"),
        OutputFormat::Text => {
            let rows: Vec<_> = releases.iter().map(row).collect();
            crate::outln!("{}", super::table::render(HEADER, &rows).trim_end());
        }
    }
    ExitCode::Ok
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
