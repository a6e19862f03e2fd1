//! The preflight checks of a release, run just before it starts in an
//! environment.

use super::{PipelineError, ReleaseRequest, Watcher};
use crate::config::Environment;
use crate::preflight::{self, ReleaseOf, Selection};

/// Runs the gate and the checks a release of `request.service` in
/// `environment` must pass; the watcher sees them all, warnings included.
/// A failure refuses the release before anything moves.
pub(super) async fn before(
    environment: &Environment,
    request: &ReleaseRequest,
    watcher: &mut dyn Watcher,
) -> Result<(), PipelineError> {
    let selection = Selection::Release(ReleaseOf {
        service: &request.service,
        version: &request.version,
    });
    let report = preflight::run(environment, selection).await;
    if report.checks.is_empty() {
        return Ok(());
    }
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
