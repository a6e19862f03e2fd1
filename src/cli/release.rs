//! `helmsman release --headless`: drives a real release against the
//! configured backend, printing one line per event and per preflight check.

use std::path::Path;

use super::OutputFormat;
use super::event_line::Printer;
use crate::config::Config;
use crate::engine::Actor;
use crate::pipeline::{self, ReleaseRequest, StrategyKind};

pub struct ReleaseOptions {
    pub envs: Vec<String>,
    pub service: String,
    pub version: String,
    pub strategy: Option<StrategyKind>,
    pub output: OutputFormat,
}

pub async fn run(config: &Config, state_dir: &Path, options: ReleaseOptions) -> i32 {
    let mut history = match super::open_history(state_dir) {
        Ok(history) => history,
        Err(code) => return code,
    };
    let request = ReleaseRequest {
        service: options.service,
        version: options.version,
        envs: options.envs,
        strategy: options.strategy,
        actor: Actor::current_operator(),
    };
    let mut printer = Printer(options.output);
    match pipeline::run(config, &request, &mut history, &mut printer).await {
        Ok(result) => result.exit_code(),
        Err(e) => {
            crate::errln!("error: {e}");
            e.exit_code()
        }
    }
}
