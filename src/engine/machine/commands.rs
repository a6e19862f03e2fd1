//! Operator commands: why one is refused in the current state, and what an accepted one does.

use super::*;
use crate::config::HookPoint;
use crate::engine::plan::Job;

/// Why `kind` is refused by the release `snapshot` shows, when the snapshot
/// alone decides it: once a release has ended its answer never changes, so
/// a front end can give the engine's words without asking a release that
/// is gone. `None` while it runs (ask the engine) or when it would accept.
pub fn refusal_after_end(snapshot: &Snapshot, kind: CommandKind) -> Option<String> {
    let result = match snapshot.phase {
        Phase::Succeeded => ReleaseResult::Succeeded,
        Phase::RolledBack => ReleaseResult::RolledBack,
        Phase::Aborted => ReleaseResult::Aborted,
        _ => return None,
    };
    refusal_once_ended(
        result,
        kind,
        &snapshot.new_version,
        &snapshot.stable_version,
        &snapshot.reason,
    )
}

/// The refusals of a release that ended with `result` (`reason`: why it did).
fn refusal_once_ended(
    result: ReleaseResult,
    kind: CommandKind,
    new: &str,
    stable: &str,
    reason: &str,
) -> Option<String> {
    match result {
        ReleaseResult::Succeeded => Some(match kind {
            CommandKind::Rollback => format!(
                "cannot roll back: {new} already succeeded and is stable now — release {stable} again to go back"
            ),
            _ => format!("cannot {kind}: the release already succeeded ({new} is stable now)"),
        }),
        _ => {
            let what = if result == ReleaseResult::RolledBack {
                "was rolled back"
            } else {
                "was aborted"
            };
            match kind {
                CommandKind::Retry => None,
                CommandKind::Rollback => Some(format!(
                    "nothing to roll back: the release {what} and {stable} serves all traffic"
                )),
                _ => Some(format!(
                    "cannot {kind}: the release {what} ({reason}) — retry starts it again"
                )),
            }
        }
    }
}

impl Release {
    pub(super) fn refusal(&self, cmd: &Command) -> Option<String> {
        let kind = cmd.kind;
        if cmd.target != self.spec.target {
            return Some(format!(
                "this release is {}, not {}",
                self.spec.target, cmd.target
            ));
        }
        if !self.started {
            return Some(format!("cannot {kind}: the release has not started yet"));
        }
        let new = &self.spec.new_version;
        let stable = &self.spec.stable_version;
        match &self.mode {
            Mode::Done(result) => {
                return refusal_once_ended(*result, kind, new, stable, &self.snapshot.reason);
            }
            Mode::RollingBack { reason, .. } => {
                return Some(match kind {
                    CommandKind::Rollback => format!("already rolling back ({reason})"),
                    CommandKind::Retry => {
                        "cannot retry yet: the rollback is still running".to_string()
                    }
                    _ => format!("cannot {kind}: the release is rolling back ({reason})"),
                });
            }
            Mode::Running => {}
        }
        let step = self.current().cloned().unwrap_or(PlanStep::Finish);
        let step_words = step.describe(new);
        let finishing = step == PlanStep::Finish && self.progress.entered;
        match kind {
            CommandKind::Retry => {
                Some("cannot retry: the release is still running — roll it back first".into())
            }
            CommandKind::Rollback => finishing.then(|| {
                format!("cannot roll back: {new} is being made stable (finish in progress)")
            }),
            CommandKind::Pause => self
                .paused_by
                .as_ref()
                .map(|by| format!("cannot pause: already paused by {by}")),
            CommandKind::Resume => match (&self.paused_by, self.hold_reason()) {
                (Some(_), _) => None,
                (None, Some(hold)) => Some(format!(
                    "cannot resume: the engine holds the release because {hold}; it continues by itself when readings return"
                )),
                (None, None) => Some("cannot resume: the release is not paused".into()),
            },
            CommandKind::Advance => {
                if let Some(by) = &self.paused_by {
                    return Some(format!(
                        "cannot advance: the release is paused by {by} — resume it first"
                    ));
                }
                if let Some(hold) = self.hold_reason() {
                    return Some(format!(
                        "cannot advance: {hold} — the release holds until readings return (promote or roll back to override)"
                    ));
                }
                match step {
                    PlanStep::Prepare => {
                        Some(format!("cannot advance: {new} is still being prepared"))
                    }
                    PlanStep::Finish => Some("cannot advance: the release is finishing".into()),
                    s if s.is_write() => Some(format!(
                        "cannot advance: \"{step_words}\" is being applied — wait for it"
                    )),
                    _ if !self.progress.entered => Some(format!(
                        "cannot advance: \"{step_words}\" has not started yet"
                    )),
                    // At a confirm gate a human's advance is the confirmation.
                    PlanStep::Job(job) if job != Job::Hooks(HookPoint::Confirm) => Some(format!(
                        "cannot advance: \"{step_words}\" is running — wait for it, or roll back"
                    )),
                    _ => None,
                }
            }
            CommandKind::Promote => {
                if let Some(by) = &self.paused_by {
                    return Some(format!(
                        "cannot promote: the release is paused by {by} — resume it first"
                    ));
                }
                if step == PlanStep::Prepare {
                    return Some(format!("cannot promote: {new} is still being prepared"));
                }
                if step == PlanStep::Job(Job::Migrate) && self.progress.entered {
                    return Some(
                        "cannot promote: the migrations' backfill is running — wait for it".into(),
                    );
                }
                if let Some(hold) = self.hold_reason() {
                    return Some(format!(
                        "cannot promote: {hold} — the release holds until readings return (roll back to stop it)"
                    ));
                }
                // At the final look a human may finish without the
                // evidence the engine waits for; before it, nothing to skip.
                let held_at_finish = self.final_check == FinalCheck::Waiting;
                if self.promoting || (self.in_final_stretch() && !held_at_finish) {
                    return Some("cannot promote: already going to 100 %".into());
                }
                None
            }
        }
    }

    /// Nothing left but the final promotion and finish.
    pub(super) fn in_final_stretch(&self) -> bool {
        self.plan[self.step..].iter().all(|s| {
            matches!(
                s,
                PlanStep::Weight(100)
                    | PlanStep::Flag(100)
                    | PlanStep::Instances { stable: 0, .. }
                    | PlanStep::Finish
            )
        })
    }

    pub(super) fn accept(&mut self, cmd: &Command, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let actor = cmd.actor.clone();
        match cmd.kind {
            CommandKind::Rollback => {
                let reason = format!("rollback requested by {actor}: rolled back");
                self.start_rollback(now, reason, actor, None, out);
            }
            CommandKind::Pause => {
                self.paused_by = Some(actor.clone());
                self.transition(now, format!("paused by {actor}"), actor, None, out);
            }
            CommandKind::Resume => {
                self.paused_by = None;
                let reason = match self.hold_reason() {
                    Some(hold) => format!("resumed by {actor}; still held: {hold}"),
                    None => format!("resumed by {actor}"),
                };
                self.transition(now, reason, actor, None, out);
            }
            CommandKind::Advance => {
                self.progress.advance_requested = true;
                self.next_actor = Some(actor.clone());
                let words = self
                    .current()
                    .map(|s| s.describe(&self.spec.new_version))
                    .unwrap_or_default();
                self.emit_unchanged(
                    now,
                    format!("{actor} advanced past \"{words}\""),
                    actor,
                    out,
                );
            }
            CommandKind::Promote if self.in_final_stretch() => {
                self.promoting = true;
                self.next_actor = Some(actor.clone());
                self.transition(
                    now,
                    format!(
                        "promoted by {actor}: finishing without waiting for every trigger to pass"
                    ),
                    actor,
                    None,
                    out,
                );
            }
            CommandKind::Promote => {
                let tail = self.promote_tail();
                let keep = if !self.progress.entered {
                    self.step // not started: replaced by the promotion
                } else if self.current().is_some_and(PlanStep::is_write) {
                    self.step + 1 // let the write in flight land first
                } else {
                    self.progress.advance_requested = true;
                    self.step + 1
                };
                let mut plan = std::mem::take(&mut self.plan);
                // The backfill is not a step to skip: the new version
                // needs the shape it writes.
                let migrate = PlanStep::Job(Job::Migrate);
                let migrate_skipped = plan[keep.min(plan.len())..].contains(&migrate);
                plan.truncate(keep);
                if migrate_skipped {
                    plan.push(migrate);
                }
                plan.extend(tail);
                self.set_plan(plan);
                self.promoting = true;
                self.next_actor = Some(actor.clone());
                self.transition(
                    now,
                    format!("promoted to 100 % by {actor}, skipping the remaining steps"),
                    actor,
                    None,
                    out,
                );
            }
            CommandKind::Retry => {
                let mut spec = self.spec.clone();
                spec.started_by = actor.clone();
                let from = self.snapshot.phase;
                // Writes still in flight (the last rollback's) keep their
                // place in the queue, so their outcomes are not mistaken
                // for the new attempt's.
                let in_flight = std::mem::take(&mut self.writes_in_flight);
                let next_seq = self.next_write_seq;
                *self = Release::new(spec, now);
                self.writes_in_flight = in_flight;
                self.next_write_seq = next_seq;
                self.snapshot.phase = from;
                self.on_start(now, out);
                self.next_actor = Some(actor.clone());
                self.transition(
                    now,
                    format!("retried by {actor}: starting again from the first step"),
                    actor,
                    None,
                    out,
                );
            }
        }
    }

    /// The steps that take the release straight to 100 %: the strategy's,
    /// then `Finish`.
    pub(super) fn promote_tail(&self) -> Vec<PlanStep> {
        let switched = self.plan[..self.step].contains(&PlanStep::Switch)
            || (self.current() == Some(&PlanStep::Switch) && self.progress.entered);
        let mut tail = self
            .spec
            .service
            .strategy
            .rollout()
            .promote_tail(self.fleet, switched);
        tail.push(PlanStep::Finish);
        tail
    }
}
