//! The preflight checks of a release, run just before it starts in an
//! environment.

use chrono::Utc;

use super::{PipelineError, ReleaseRequest, Watcher};
use crate::config::Environment;
use crate::preflight::{self, ReleaseOf, Selection};
use crate::store::{History, PreflightRun};

/// Runs the gate and the checks a release of `request.service` in
/// `environment` must pass; the watcher sees them all, warnings included,
/// and the journal keeps them for the deployment's report. A failure
/// refuses the release before anything moves.
pub(super) async fn before(
    environment: &Environment,
    request: &ReleaseRequest,
    deployment: &str,
    history: &mut History,
    watcher: &mut dyn Watcher,
) -> Result<(), PipelineError> {
    let selection = Selection::Release(ReleaseOf {
        service: &request.service,
        version: &request.version,
    });
    let started_at = Utc::now();
    let report = preflight::run(environment, selection).await;
    if report.checks.is_empty() {
        return Ok(());
    }
    let run = PreflightRun {
        started_at,
        finished_at: Utc::now(),
        report,
    };
    if let Err(e) = history.preflight(deployment, &run) {
        tracing::warn!("{e}");
    }
    let report = run.report;
    watcher.preflight(&report);
    match report.refusal() {
        Some(why) => Err(PipelineError::Blocked {
            target: crate::engine::Target {
                env: environment.name.clone(),
                service: request.service.clone(),
            },
            why,
        }),
        None => Ok(()),
    }
}
