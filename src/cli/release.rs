//! `helmsman release --headless`: drives a real release against the
//! configured backend, printing one line per event and per preflight check,
//! then one final result record ([`ResultRecord`]) whatever happened.
//!
//! When a release host runs on the state directory the release is handed
//! to it and this process only follows it ([`super::follow`]): the same
//! lines and exit code, and Ctrl-C or a closed terminal detaches instead
//! of rolling back. Without a host (or with `--no-host`) this process
//! drives it, and exit rolls it back.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::event_line::Printer;
use super::follow::{self, Until};
use super::{ExitCode, OutputFormat};
use crate::config::Config;
use crate::engine::Event;
use crate::host::protocol::Request;
use crate::pipeline::result_record::{ResultRecord, Started};
use crate::pipeline::{self, Attached, PipelineError, ReleaseRequest, Watcher};
use crate::preflight::Report;
use crate::store::History;
use crate::strategy::StrategyKind;

pub struct ReleaseOptions {
    pub envs: Vec<String>,
    pub service: String,
    pub version: String,
    pub strategy: Option<StrategyKind>,
    pub output: OutputFormat,
    /// Return once the release started on the host.
    pub detach: bool,
    /// Drive it in this process even when a host runs.
    pub no_host: bool,
    /// Release even the version a contract left behind.
    pub force: bool,
}

pub async fn run(config: &Config, state_dir: &Path, options: ReleaseOptions) -> ExitCode {
    if !options.no_host {
        match follow::connect(state_dir).await {
            Ok(Some(host)) => {
                let request = Request::Release {
                    config: absolute(&config.source),
                    service: options.service,
                    version: options.version,
                    envs: options.envs,
                    strategy: options.strategy,
                    force: options.force,
                };
                let until = match options.detach {
                    true => Until::Started,
                    false => Until::Finished,
                };
                return follow::follow(host, &request, options.output, until).await;
            }
            Ok(None) => {}
            Err(e) => {
                crate::errln!(
                    "error: {e}\n  hint: --no-host drives the release from this terminal"
                );
                return ExitCode::Runtime;
            }
        }
    }
    if options.detach {
        crate::errln!(
            "error: --detach hands the release to a release host, and none runs on {}\n  \
             hint: start one with `helmsman serve`, or drop --detach to drive it from here",
            state_dir.display()
        );
        return ExitCode::Usage;
    }
    let request = ReleaseRequest {
        service: options.service,
        version: options.version,
        envs: options.envs,
        strategy: options.strategy,
        actor: super::operator::current(),
        force: options.force,
    };
    let mut recorder = Recorder {
        printer: Printer(options.output),
        started: Vec::new(),
    };
    let outcome = match History::open(state_dir) {
        Ok(mut history) => pipeline::run(config, &request, &mut history, &mut recorder).await,
        Err(e) => Err(PipelineError::from(e)),
    };
    if let Err(e) = &outcome {
        crate::errln!("error: {e}");
    }
    let result = ResultRecord::new(&request, &recorder.started, &outcome);
    print_result(&result, options.output);
    result.exit_code
}

/// The host reads the configuration itself, from wherever it runs.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The last line of `--output json`.
#[derive(Serialize)]
struct FinalLine<'r> {
    result: &'r ResultRecord,
}

/// Prints the record a release ends with: its last line.
pub fn print_result(result: &ResultRecord, output: OutputFormat) {
    let line = match output {
        // A record of strings and numbers always serializes; should it
        // not, the consumer still gets a JSON line saying so.
        OutputFormat::Json => serde_json::to_string(&FinalLine { result }).unwrap_or_else(|e| {
            serde_json::json!({ "error": format!("the result cannot be written: {e}") }).to_string()
        }),
        OutputFormat::Text => result.text(),
    };
    // A closed stdout loses the record, never the exit code.
    crate::outln!("{line}");
}

/// Prints as the pipeline goes, and keeps each started release for the
/// final record.
struct Recorder {
    printer: Printer,
    started: Vec<Started>,
}

impl Watcher for Recorder {
    fn event(&mut self, event: &Event) {
        self.printer.event(event);
    }

    fn preflight(&mut self, report: &Report) {
        self.printer.preflight(report);
    }

    fn started(&mut self, release: Attached) {
        self.started.push(Started::of(&release));
        self.printer.started(release);
    }

    fn notice(&mut self, text: &str) {
        self.printer.notice(text);
    }
}
