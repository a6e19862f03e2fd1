//! `helmsman report`: a deployment's report from the journal, as Markdown
//! or JSON, to the terminal or a file; `--note` appends an operator's note
//! to it first, kept in every later rendering.

use std::path::Path;

use chrono::Utc;

use super::ExitCode;
use crate::report::{self, ReportError, Which};
use crate::store::{Filter, History, Note};

/// `--format` of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Markdown, for a wiki or a pull request.
    #[default]
    Md,
    /// JSON, with a versioned schema (`schema_version`).
    Json,
}

pub struct Options<'a> {
    /// A deployment or release id, or `last`.
    pub id: &'a str,
    pub filter: Filter,
    pub format: ReportFormat,
    pub out: Option<&'a Path>,
    pub note: Option<&'a str>,
}

pub fn run(history: &mut History, options: Options<'_>) -> ExitCode {
    match write(history, options) {
        Ok(()) => ExitCode::Ok,
        Err(Failed::Report(e @ (ReportError::Unknown(_) | ReportError::Empty(_)))) => {
            crate::errln!("error: {e}");
            ExitCode::Usage
        }
        Err(e) => {
            crate::errln!("error: {e}");
            ExitCode::Runtime
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Failed {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("cannot write {path}: {source}")]
    Out {
        path: String,
        source: std::io::Error,
    },
}

fn write(history: &mut History, options: Options<'_>) -> Result<(), Failed> {
    let which = || match options.id {
        "last" => Which::Last(&options.filter),
        id => Which::Id(id),
    };
    if let Some(text) = options.note {
        let deployment = report::deployment_id(history, which())?;
        let note = Note {
            at: Utc::now(),
            by: super::operator::current(),
            text: text.to_string(),
        };
        history
            .note(&deployment, &note)
            .map_err(ReportError::from)?;
    }
    let report = report::read(history, which())?;
    let text = match options.format {
        ReportFormat::Md => report::markdown::render(&report),
        ReportFormat::Json => {
            serde_json::to_string_pretty(&report).expect("a report serializes") + "\n"
        }
    };
    match options.out {
        Some(path) => {
            std::fs::write(path, text).map_err(|source| Failed::Out {
                path: path.display().to_string(),
                source,
            })?;
            crate::errln!(
                "wrote the report of {} to {}",
                report.deployment,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}
