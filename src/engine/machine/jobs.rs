//! Job steps: the migrate phase and the hooks the plan places between the
//! traffic steps. The machine asks the driver to run one
//! (`Effect::RunJob`), waits for its runs (`Input::JobDone`), journals each
//! as an event, and decides from the job what a failure does:
//!
//! - migrate, preview hooks: the release is rolled back (the pipeline then
//!   runs the migrations' `down`);
//! - pre_step hooks: per hook, the step is refused (rolled back) or the
//!   release holds, paused, until a human resumes it (which runs it again);
//! - post_step hooks: reported, the release goes on;
//! - confirm hooks: tried again every `every` until they pass; a human's
//!   advance confirms instead.

use super::*;
use crate::config::HookPoint;
use crate::config::hooks::OnFailure;
use crate::engine::plan::Job;
use crate::jobs::JobRun;

/// Where the current job step's job stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum JobState {
    /// Not asked for yet (or asked again after a hold or a wait).
    #[default]
    Idle,
    Running,
    Passed,
    /// A confirm gate's try failed: the next one at this time.
    WaitingUntil(DateTime<Utc>),
    /// A pre_step hook failed and holds the release, paused.
    Held,
}

impl Release {
    /// Whether the current job step is done, asking for its run when due.
    pub(super) fn job_done(&mut self, job: Job, now: DateTime<Utc>, out: &mut Vec<Effect>) -> bool {
        match self.progress.job {
            JobState::Passed => return true,
            JobState::Running => return false,
            JobState::WaitingUntil(at) if now < at => return false,
            JobState::Held if self.paused_by.is_some() => return false,
            JobState::Idle | JobState::WaitingUntil(_) | JobState::Held => {}
        }
        if !self.can_move() {
            return false;
        }
        self.progress.job = JobState::Running;
        out.push(Effect::RunJob {
            step: self.step,
            job,
        });
        false
    }

    pub(super) fn on_job_done(
        &mut self,
        step: usize,
        runs: Vec<JobRun>,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        let Some(PlanStep::Job(job)) = self.current().cloned() else {
            return;
        };
        if step != self.step
            || !matches!(self.mode, Mode::Running)
            || self.progress.job != JobState::Running
        {
            return;
        }
        let failed = runs.iter().find(|r| !r.passed).cloned();
        let confirm = job == Job::Hooks(HookPoint::Confirm);
        for run in runs {
            // A confirm gate's failed tries are said once, then on change.
            if confirm && !run.passed {
                if self.progress.job_said.as_deref() == Some(run.summary.as_str()) {
                    continue;
                }
                self.progress.job_said = Some(run.summary.clone());
            }
            self.emit_job(now, run, out);
        }
        let Some(failed) = failed else {
            self.progress.job = JobState::Passed;
            return;
        };
        match job {
            Job::Migrate => {
                let reason = format!("migrate failed ({}): rolled back", failed.summary);
                self.start_rollback(now, reason, Actor::Engine, None, out);
            }
            Job::Hooks(HookPoint::Confirm) => {
                let every = self.hook_every(HookPoint::Confirm);
                self.progress.job = JobState::WaitingUntil(later(now, every));
                self.snapshot.reason = format!(
                    "waiting for {} to confirm ({}); asked again every {}",
                    failed.name,
                    failed.summary,
                    crate::config::duration::format(every)
                );
                self.retry_at = Some(
                    self.retry_at
                        .map_or(later(now, every), |at| at.min(later(now, every))),
                );
            }
            Job::Hooks(HookPoint::PreStep) if self.hook_holds(&failed) => {
                self.progress.job = JobState::Held;
                self.paused_by = Some(Actor::Engine);
                let reason = format!(
                    "held: {} failed ({}) — resume runs it again, or roll back",
                    failed.name, failed.summary
                );
                self.transition(now, reason, Actor::Engine, None, out);
            }
            Job::Hooks(HookPoint::PreStep | HookPoint::Preview) => {
                let reason = format!(
                    "{} failed ({}): the step is refused: rolled back",
                    failed.name, failed.summary
                );
                self.start_rollback(now, reason, Actor::Engine, None, out);
            }
            // After the fact: reported above, never a reason to stop.
            Job::Hooks(_) => self.progress.job = JobState::Passed,
        }
    }

    /// Whether the failed pre_step hook `run` holds rather than refuses.
    fn hook_holds(&self, run: &JobRun) -> bool {
        self.spec.service.hooks.iter().any(|h| {
            h.at == HookPoint::PreStep
                && run.name == format!("{} hook {}", h.at, h.name)
                && h.on_failure == OnFailure::Hold
        })
    }

    /// The shortest wait between tries of the hooks at `point`.
    fn hook_every(&self, point: HookPoint) -> Duration {
        self.spec
            .service
            .hooks
            .iter()
            .filter(|h| h.at == point)
            .map(|h| h.every)
            .min()
            .unwrap_or(crate::config::hooks::defaults::EVERY)
    }

    /// The event that journals one run.
    fn emit_job(&mut self, now: DateTime<Utc>, run: JobRun, out: &mut Vec<Effect>) {
        let keep = std::mem::take(&mut self.snapshot.reason);
        self.transition(now, run.describe(), Actor::Engine, None, out);
        self.snapshot.reason = keep;
        if let Some(Effect::Emit(event)) = out.last_mut() {
            event.job = Some(Box::new(run));
        }
    }
}
