//! `helmsman plan`: prints the plan the pipeline computes for a release,
//! as text or JSON.

use super::{ExitCode, OutputFormat};
use crate::config::Config;
use crate::pipeline::plan::{self, PlanArgs};
use crate::store::History;

pub async fn run(
    config: &Config,
    history: &History,
    args: &PlanArgs<'_>,
    output: OutputFormat,
) -> ExitCode {
    let plan = match plan::prepare(config, history, args).await {
        Ok(plan) => plan,
        Err(e) => {
            crate::errln!("error: {e}");
            return ExitCode::from(&e);
        }
    };
    match output {
        OutputFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&plan).expect("plans serialize")
        ),
        OutputFormat::Text => crate::outln!("{}", plan::render(&plan).trim_end()),
    }
    ExitCode::Ok
}
