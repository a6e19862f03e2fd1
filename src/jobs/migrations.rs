//! Running one phase of a service's migrations: its command, in the
//! configuration's directory, with the release's context, bounded by the
//! migrations' timeout (its whole process group is killed past it). A
//! phase is never tried again by itself: a half-run migration is for its
//! own tool, or a human, to judge.

use std::path::Path;

use chrono::Utc;

use super::{Context, JobRun};
use crate::config::migrations::{Migrations, Phase};
use crate::observed::CheckStatus;
use crate::preflight::command;

/// Runs `phase`; `None` when the migrations have no command for it.
pub async fn run(
    migrations: &Migrations,
    phase: Phase,
    context: &Context,
    dir: &Path,
) -> Option<JobRun> {
    let argv = migrations.command(phase)?;
    let started_at = Utc::now();
    let vars = context.vars(phase.name());
    let ran = tokio::time::timeout(
        migrations.timeout,
        command::execute(argv, &vars, None, Some(dir)),
    )
    .await;
    Some(match ran {
        Ok(ran) => JobRun::ended(
            phase.name().to_string(),
            started_at,
            ran.finding.status == CheckStatus::Pass,
            ran.finding.value,
            &ran.output,
        ),
        Err(_) => JobRun::ended(
            phase.name().to_string(),
            started_at,
            false,
            format!(
                "still running after {}: killed",
                crate::config::duration::format(migrations.timeout)
            ),
            "",
        ),
    })
}
