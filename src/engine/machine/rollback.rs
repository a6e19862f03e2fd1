//! Rolling back: the revert per strategy, discarding the new version, and verifying stable is at 100 % before saying so.

use super::*;

impl Release {
    /// The write that puts stable back to 100 %: the strategy's.
    pub(super) fn revert_write(&self) -> Option<TrafficWrite> {
        self.spec.service.strategy.rollout().revert(self.fleet)
    }

    pub(super) fn start_rollback(
        &mut self,
        now: DateTime<Utc>,
        reason: String,
        actor: Actor,
        verdict: Option<Verdict>,
        out: &mut Vec<Effect>,
    ) {
        self.mode = Mode::RollingBack {
            stage: RollbackStage::Revert,
            reason: reason.clone(),
            actor: actor.clone(),
            verdict: verdict.clone().map(Box::new),
        };
        self.observation = None;
        self.promoting = false;
        self.snapshot.desired_weight = 0;
        self.retry_at = None;
        self.write = WriteState::Idle;
        // The traffic effect goes out in this very call: an operator's
        // rollback reaches the backend without waiting for a tick.
        match self.revert_write() {
            Some(write) => self.emit_write(write, out),
            None => self.write = WriteState::Done,
        }
        let reason = reason.replace(": rolled back", ": rolling back");
        self.transition(now, reason, actor, verdict, out);
    }

    /// One rollback stage; `true` if it moved to the next stage.
    pub(super) fn pump_rollback(&mut self, out: &mut Vec<Effect>) -> bool {
        let Mode::RollingBack { stage, .. } = self.mode.clone() else {
            return false;
        };
        if self.write != WriteState::Done {
            return false; // in flight, or failed and waiting for its retry tick
        }
        let next = match stage {
            RollbackStage::Revert => {
                self.emit_write(TrafficWrite::Discard, out);
                RollbackStage::Discard
            }
            RollbackStage::Discard => {
                self.write = WriteState::Idle;
                self.request_traffic_read(ReadPurpose::VerifyRollback, out);
                RollbackStage::Verify
            }
            RollbackStage::Verify => return false,
        };
        if let Mode::RollingBack { stage, .. } = &mut self.mode {
            *stage = next;
        }
        true
    }

    /// The traffic state read after the rollback: stable at 100 %, or the
    /// backend disagrees and the rollback is retried, loudly.
    pub(super) fn verify_rollback(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let Mode::RollingBack {
            stage: RollbackStage::Verify,
            reason,
            actor,
            verdict,
        } = self.mode.clone()
        else {
            return;
        };
        let Some(state) = self.traffic.clone() else {
            return;
        };
        let in_rotation = state.new.iter().filter(|i| i.in_rotation).count();
        let flag = state.flag_percent.unwrap_or(0);
        let disagreement = if state.new_weight > 0 {
            Some(format!(
                "backend still sends {} % to {} after rollback — retrying",
                state.new_weight, self.spec.new_version
            ))
        } else if in_rotation > 0 {
            Some(format!(
                "backend still has {in_rotation} instance(s) of {} in rotation after rollback — retrying",
                self.spec.new_version
            ))
        } else if flag > 0 {
            Some(format!(
                "flag still at {flag} % for {} after rollback — retrying",
                self.spec.new_version
            ))
        } else {
            None
        };
        match disagreement {
            Some(loud) => {
                if let Mode::RollingBack { stage, .. } = &mut self.mode {
                    *stage = RollbackStage::Revert;
                }
                match self.revert_write() {
                    Some(write) => {
                        self.last_write = Some(write);
                        self.write = WriteState::Failed(loud.clone());
                    }
                    None => {
                        self.last_write = Some(TrafficWrite::Discard);
                        self.write = WriteState::Failed(loud.clone());
                        if let Mode::RollingBack { stage, .. } = &mut self.mode {
                            *stage = RollbackStage::Revert;
                        }
                    }
                }
                self.retry_at = Some(self.retry_at_from(now));
                self.write_error = Some(loud.clone());
                self.emit_unchanged(now, loud.clone(), Actor::Engine, out);
                self.snapshot.reason = loud;
            }
            None => {
                self.mode = Mode::Done(ReleaseResult::RolledBack);
                self.retry_at = None;
                let done = if reason.ends_with(": rolled back") {
                    reason
                } else {
                    format!("{reason}: rolled back")
                };
                let done = format!(
                    "{done}; verified: {} at 100 %, {} drained",
                    self.spec.stable_version, self.spec.new_version
                );
                self.transition(now, done, actor, verdict.map(|v| *v), out);
            }
        }
    }
}
