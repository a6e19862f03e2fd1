//! What runs around one environment's release, outside the engine: before
//! any traffic moves, the staging-first rule for migrations, the
//! `pre_release` hooks and `expand`; after the engine ended, `down` and the
//! `on_rollback` hooks once a rollback brought the traffic back, or the
//! `post_release` hooks and `contract` once the release succeeded and the
//! old version is retired. Every run is journaled, said to the watcher as
//! an event, and moves the service's migration state.

use chrono::Utc;

use super::{PipelineError, ReleaseRequest, Watcher};
use crate::config::migrations::{ContractWhen, Phase};
use crate::config::{Environment, HookPoint, Service};
use crate::engine::{Actor, Event, Phase as ReleasePhase, ReleaseResult, Target};
use crate::jobs::{self, Context, JobRun};
use crate::store::{History, JobRecord, MigrationPhase, MigrationState};

/// One environment's release, as the jobs around it see it.
pub(super) struct Around<'a> {
    pub target: Target,
    pub service: &'a Service,
    pub context: Context,
    pub deployment: &'a str,
    /// What identifies its migration set, read once when the release
    /// begins (none without migrations): the set that runs is the set
    /// journaled, even if a file changes on disk meanwhile.
    digest: Option<String>,
}

impl<'a> Around<'a> {
    /// The release of `version` of `service` in `target` from `stable`,
    /// part of `deployment`.
    pub fn new(
        target: Target,
        service: &'a Service,
        version: &str,
        stable: &str,
        deployment: &'a str,
    ) -> Around<'a> {
        Around {
            context: Context {
                env: target.env.clone(),
                service: target.service.clone(),
                version: version.to_string(),
                previous_version: stable.to_string(),
                preview_urls: Vec::new(),
            },
            target,
            digest: service
                .migrations
                .as_ref()
                .map(|m| jobs::migrations::digest(m, &service.workdir)),
            service,
            deployment,
        }
    }

    /// The release whose migrations stand at `state`, for a phase a human
    /// runs later (`helmsman migrations contract`).
    pub fn of_state(
        target: Target,
        service: &'a Service,
        state: &MigrationState,
        deployment: &'a str,
    ) -> Around<'a> {
        Around {
            // The set that ran, not whatever the files say now.
            digest: Some(state.digest.clone()),
            ..Around::new(
                target,
                service,
                &state.version,
                &state.previous_version,
                deployment,
            )
        }
    }

    /// Refuses a release the journal says must not run: the version a
    /// contract left behind (unless forced), or a migration set that has
    /// not completed where `requires` names first.
    pub fn check(
        &self,
        environment: &Environment,
        request: &ReleaseRequest,
        history: &History,
    ) -> Result<(), PipelineError> {
        if let Some(state) = history.migration_state(&self.target)?
            && state.phase == MigrationPhase::Contracted
            && state.previous_version == request.version
            && !request.force
        {
            return Err(PipelineError::SchemaContracted {
                target: self.target.clone(),
                version: request.version.clone(),
                contracted: state.version,
                at: state.at.format("%Y-%m-%d %H:%M UTC").to_string(),
            });
        }
        let Some(digest) = &self.digest else {
            return Ok(());
        };
        for required in &environment.requires {
            let there = Target {
                env: required.clone(),
                service: self.target.service.clone(),
            };
            let why = match history.migration_state(&there)? {
                None => "it never ran them".to_string(),
                Some(state) if state.digest != *digest => {
                    format!("it ran set {} for {}", &state.digest[..12], state.version)
                }
                Some(state) if !completed(&state, &there, history) => {
                    format!("they are {} there", state.phase.words())
                }
                Some(_) => continue,
            };
            return Err(PipelineError::MigrationsNotYetIn {
                target: self.target.clone(),
                required: required.clone(),
                digest: digest.clone(),
                why,
            });
        }
        Ok(())
    }

    /// `pre_release` hooks, then `expand`: any failure refuses the release
    /// before anything moved.
    pub async fn before(
        &self,
        history: &mut History,
        watcher: &mut dyn Watcher,
    ) -> Result<(), PipelineError> {
        let runs = jobs::hooks::run(
            &self.service.hooks,
            HookPoint::PreRelease,
            &self.context,
            &self.service.workdir,
        )
        .await;
        for run in runs {
            self.said(&run, ReleasePhase::Pending, history, watcher);
            if !run.passed {
                return Err(self.refused(run));
            }
        }
        if self.command(Phase::Expand).is_none() {
            return Ok(());
        }
        self.set_state(MigrationPhase::Expanding, "expand running", history);
        let run = self
            .run_phase(Phase::Expand)
            .await
            .expect("expand is configured");
        self.said(&run, ReleasePhase::Pending, history, watcher);
        if !run.passed {
            self.set_state(
                MigrationPhase::Failed,
                &format!("expand failed: {}", run.summary),
                history,
            );
            return Err(self.refused(run));
        }
        self.set_state(MigrationPhase::Expanded, &run.summary, history);
        Ok(())
    }

    /// A job the engine ran (the backfill, a step's hooks), as its event
    /// carried it: journaled, and the migration state moved.
    pub fn engine_ran(&self, release_id: &str, run: &JobRun, history: &mut History) {
        let record = self.record(run);
        if let Err(e) = history.release_job(release_id, &record) {
            tracing::warn!("{e}");
        }
        if run.name == Phase::Migrate.name() {
            let (phase, detail) = if run.passed {
                (MigrationPhase::Migrated, run.summary.clone())
            } else {
                (
                    MigrationPhase::Failed,
                    format!("migrate failed: {}", run.summary),
                )
            };
            self.set_state(phase, &detail, history);
        }
    }

    /// What runs once the engine ended with `result`.
    pub async fn after(
        &self,
        result: ReleaseResult,
        history: &mut History,
        watcher: &mut dyn Watcher,
    ) {
        match result {
            ReleaseResult::Succeeded => self.after_success(history, watcher).await,
            ReleaseResult::RolledBack => {
                let phase = ReleasePhase::RolledBack;
                self.undo(phase, history, watcher).await;
                self.hooks(HookPoint::OnRollback, phase, history, watcher)
                    .await;
            }
            ReleaseResult::Aborted => self.undo(ReleasePhase::Aborted, history, watcher).await,
        }
    }

    /// The traffic is back on the stable version: `down` undoes expand and
    /// migrate, if they ran.
    async fn undo(&self, phase: ReleasePhase, history: &mut History, watcher: &mut dyn Watcher) {
        let ran = history
            .migration_state(&self.target)
            .ok()
            .flatten()
            .filter(|s| s.version == self.context.version)
            .is_some_and(|s| {
                matches!(
                    s.phase,
                    MigrationPhase::Expanded | MigrationPhase::Migrated | MigrationPhase::Failed
                )
            });
        if !ran {
            return;
        }
        let Some(run) = self.run_phase(Phase::Down).await else {
            watcher.notice(&format!(
                "{}: the migrations have no `down`: the schema stays as expand and migrate left it",
                self.target
            ));
            return;
        };
        self.said(&run, phase, history, watcher);
        if run.passed {
            self.set_state(MigrationPhase::RolledBack, &run.summary, history);
        } else {
            watcher.notice(&format!(
                "{}: down failed ({}): the schema is as the failed down left it — fix it by hand",
                self.target, run.summary
            ));
            self.set_state(
                MigrationPhase::Failed,
                &format!("down failed: {}", run.summary),
                history,
            );
        }
    }

    async fn after_success(&self, history: &mut History, watcher: &mut dyn Watcher) {
        self.hooks(
            HookPoint::PostRelease,
            ReleasePhase::Succeeded,
            history,
            watcher,
        )
        .await;
        let Some(migrations) = &self.service.migrations else {
            return;
        };
        if migrations.contract.is_none() {
            return;
        }
        match migrations.contract_when {
            ContractWhen::Auto => {
                self.contract(history, watcher).await;
            }
            ContractWhen::Confirm => {
                self.set_state(
                    MigrationPhase::ContractPending,
                    "waiting for a human: the point of no return",
                    history,
                );
                watcher.notice(&format!(
                    "{}: contract pending — it is the point of no return ({} will no longer fit \
                     the schema); run it with `helmsman migrations contract --env {} --service {}`",
                    self.target,
                    self.context.previous_version,
                    self.target.env,
                    self.target.service
                ));
            }
        }
    }

    /// Runs `contract`, if configured.
    pub async fn contract(
        &self,
        history: &mut History,
        watcher: &mut dyn Watcher,
    ) -> Option<JobRun> {
        let run = self.run_phase(Phase::Contract).await?;
        self.said(&run, ReleasePhase::Succeeded, history, watcher);
        if run.passed {
            self.set_state(MigrationPhase::Contracted, &run.summary, history);
        } else {
            self.set_state(
                MigrationPhase::Failed,
                &format!("contract failed: {}", run.summary),
                history,
            );
        }
        Some(run)
    }

    /// Runs the hooks at `point`, after the fact: each reported, none able
    /// to change how the release ended.
    async fn hooks(
        &self,
        point: HookPoint,
        phase: ReleasePhase,
        history: &mut History,
        watcher: &mut dyn Watcher,
    ) {
        let runs = jobs::hooks::run(
            &self.service.hooks,
            point,
            &self.context,
            &self.service.workdir,
        )
        .await;
        for run in runs {
            self.said(&run, phase, history, watcher);
            if !run.passed {
                watcher.notice(&format!("{}: {}", self.target, run.describe()));
            }
        }
    }

    fn command(&self, phase: Phase) -> Option<&[String]> {
        self.service.migrations.as_ref()?.command(phase)
    }

    async fn run_phase(&self, phase: Phase) -> Option<JobRun> {
        let migrations = self.service.migrations.as_ref()?;
        jobs::migrations::run(migrations, phase, &self.context, &self.service.workdir).await
    }

    fn refused(&self, run: JobRun) -> PipelineError {
        PipelineError::JobRefused {
            target: self.target.clone(),
            run: Box::new(run),
        }
    }

    fn record(&self, run: &JobRun) -> JobRecord {
        JobRecord {
            env: self.target.env.clone(),
            service: self.target.service.clone(),
            version: self.context.version.clone(),
            run: run.clone(),
        }
    }

    /// Journals `run` and tells the watcher, as an event of a release in `phase`.
    fn said(
        &self,
        run: &JobRun,
        phase: ReleasePhase,
        history: &mut History,
        watcher: &mut dyn Watcher,
    ) {
        if let Err(e) = history.job(self.deployment, &self.record(run)) {
            tracing::warn!("{e}");
        }
        watcher.event(&Event {
            at: Utc::now(),
            env: self.target.env.clone(),
            service: self.target.service.clone(),
            from: phase,
            to: phase,
            step: 0,
            steps: 0,
            weight: 0,
            reason: run.describe(),
            actor: Actor::Engine,
            verdict: None,
            job: Some(Box::new(run.clone())),
        });
    }

    fn set_state(&self, phase: MigrationPhase, detail: &str, history: &mut History) {
        let Some(digest) = &self.digest else {
            return;
        };
        let state = MigrationState {
            phase,
            version: self.context.version.clone(),
            previous_version: self.context.previous_version.clone(),
            digest: digest.clone(),
            at: Utc::now(),
            detail: detail.to_string(),
        };
        if let Err(e) = history.set_migration_state(&self.target, &state) {
            tracing::warn!("{e}");
        }
    }
}

/// Whether a set has completed in `target`: the release it came with
/// succeeded there (its contract may still wait).
fn completed(state: &MigrationState, target: &Target, history: &History) -> bool {
    match state.phase {
        MigrationPhase::ContractPending | MigrationPhase::Contracted => true,
        MigrationPhase::Expanded | MigrationPhase::Migrated => {
            history.succeeded(&target.env, &target.service, &state.version)
        }
        _ => false,
    }
}
