//! `helmsman history`: the releases in the journal, newest first, one row
//! each (like `helm history`), or as JSON.

use super::{ExitCode, OutputFormat};
use crate::store::{Entry, Filter, History};

const HEADER: [&str; 9] = [
    "ID", "STARTED", "FINISHED", "TARGET", "VERSIONS", "STRATEGY", "RESULT", "BY", "REASON",
];

pub fn run(history: &History, filter: &Filter, output: OutputFormat) -> ExitCode {
    let entries = match history.entries(filter) {
        Ok(entries) => entries,
        Err(e) => {
            crate::errln!("error: {e}");
            return ExitCode::Runtime;
        }
    };
    let empty = format!("no releases in the journal{}", filter.scope());
    super::table::print(&entries, output, HEADER, row, &empty);
    ExitCode::Ok
}

fn row(entry: &Entry) -> [String; 9] {
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    let start = &entry.start;
    [
        start.id.clone(),
        time(start.started_at),
        entry.finished_at.map_or_else(|| "-".to_string(), time),
        start.target.to_string(),
        format!("{} → {}", start.stable_version, start.new_version),
        start.strategy.clone(),
        match entry.result {
            Some(result) => result.to_string(),
            // Not finished: running now, or its process died with it.
            None => "unfinished".to_string(),
        },
        start.started_by.to_string(),
        entry.reason.clone(),
    ]
}
