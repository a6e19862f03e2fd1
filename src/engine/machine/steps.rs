//! The step walker: entering a step, knowing when it is done, moving on.

use super::*;

impl Release {
    pub(super) fn pump(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        // Bounded: every round either returns or moves one step forward.
        for _ in 0..(self.plan.len() * 2 + 8) {
            if !self.started {
                return;
            }
            match self.mode {
                Mode::Done(_) => return,
                Mode::RollingBack { .. } => {
                    if !self.pump_rollback(out) {
                        return;
                    }
                    continue;
                }
                Mode::Running => {}
            }
            if self.step >= self.plan.len() {
                return;
            }
            if let Some(weight) = self.resuming_at {
                // Fresh readings before anything moves or is judged.
                if self.latest_reading.is_none() {
                    return;
                }
                self.resuming_at = None;
                if weight >= 100 {
                    self.observe_against_stable_so_far(now);
                } else if weight > 0 {
                    self.start_observing(now);
                }
            }
            if !self.progress.entered {
                if !self.can_move() {
                    return;
                }
                if self.plan[self.step] == PlanStep::Finish && !self.final_check_passed(out) {
                    return;
                }
                self.enter_step(now, out);
                continue;
            }
            if !self.step_done(now, out) {
                return;
            }
            self.complete_step(now, out);
        }
    }

    /// The new version becomes stable only after a reading taken once the
    /// last step is over has been judged by every trigger: a timed pause
    /// ends on time alone, and its latest reading may be an interval old.
    fn final_check_passed(&mut self, out: &mut Vec<Effect>) -> bool {
        match self.final_check {
            FinalCheck::Passed => true,
            FinalCheck::Waiting => false,
            FinalCheck::NotYet => {
                self.final_check = FinalCheck::Waiting;
                self.snapshot.reason = "taking a last look at the metrics before finishing".into();
                self.require_fresh_reading(out);
                false
            }
        }
    }

    pub(super) fn enter_step(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let step = self.plan[self.step].clone();
        let attempts = self.progress.prepare_attempts;
        self.progress = StepProgress {
            entered: true,
            prepare_attempts: attempts,
            ..StepProgress::default()
        };
        self.write = WriteState::Idle;
        match &step {
            PlanStep::Prepare => self.emit_write(TrafficWrite::Prepare, out),
            PlanStep::Weight(w) => {
                self.snapshot.desired_weight = *w;
                if *w > 0 {
                    self.start_observing(now);
                }
                self.emit_write(TrafficWrite::SetWeight(*w), out);
            }
            PlanStep::Flag(p) => {
                self.snapshot.desired_weight = *p;
                if *p > 0 {
                    self.start_observing(now);
                }
                self.emit_write(TrafficWrite::SetFlag(*p), out);
            }
            PlanStep::Switch => {
                self.snapshot.desired_weight = 100;
                self.freeze_baseline(now);
                self.emit_write(TrafficWrite::Switch { to_new: true }, out);
            }
            PlanStep::Instances { stable, new } => {
                let total = stable + new;
                if let Some(pct) = (new * 100).checked_div(total) {
                    self.snapshot.desired_weight = pct as u8;
                }
                if *new > 0 {
                    self.start_observing(now);
                }
                self.emit_write(
                    TrafficWrite::SetInstances {
                        stable: *stable,
                        new: *new,
                    },
                    out,
                );
            }
            PlanStep::Finish => self.emit_write(TrafficWrite::Finish, out),
            PlanStep::Analysis(_) => self.progress.gate_base = self.latest_reading.clone(),
            PlanStep::Preview(_) => {
                self.preview_base = self.latest_reading.clone();
                out.push(Effect::RunSmokeChecks);
            }
            PlanStep::HealthGate(_) => self.request_traffic_read(ReadPurpose::Periodic, out),
            PlanStep::Job(_)
            | PlanStep::Pause(_)
            | PlanStep::ManualGate
            | PlanStep::ManualSwitch
            | PlanStep::KeepOld(_) => {}
        }
        let actor = self.next_actor.take().unwrap_or(Actor::Engine);
        let reason = format!(
            "step {} of {}: {}",
            self.step + 1,
            self.plan.len(),
            step.describe(&self.spec.new_version)
        );
        let reason = match step {
            PlanStep::ManualGate | PlanStep::ManualSwitch => {
                format!("{reason} — waiting for a human to advance")
            }
            _ => reason,
        };
        self.transition(now, reason, actor, None, out);
    }

    /// Whether the current (entered) step is complete.
    pub(super) fn step_done(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) -> bool {
        let step = self.plan[self.step].clone();
        if step.is_write() {
            if self.write != WriteState::Done {
                return false;
            }
            if step == PlanStep::Prepare && !self.progress.prepared_state_known {
                if self.traffic_read != Some(ReadPurpose::AfterPrepare)
                    && self.traffic_read_wanted != Some(ReadPurpose::AfterPrepare)
                    && self.traffic_read_retry != Some(ReadPurpose::AfterPrepare)
                {
                    self.request_traffic_read(ReadPurpose::AfterPrepare, out);
                }
                return false;
            }
            return true;
        }
        if self.progress.advance_requested {
            return true;
        }
        let elapsed = self.progress.stopwatch.elapsed(now);
        match step {
            PlanStep::Pause(d) | PlanStep::KeepOld(d) => {
                elapsed >= d && self.evidence_allows_advance(now, out)
            }
            PlanStep::HealthGate(d) => {
                elapsed >= d
                    && self.new_in_rotation_healthy()
                    && self.evidence_allows_advance(now, out)
            }
            PlanStep::ManualGate | PlanStep::ManualSwitch => false,
            PlanStep::Job(job) => self.job_done(job, now, out),
            PlanStep::Analysis(_) => self.progress.gate_passed.is_some(),
            PlanStep::Preview(d) => {
                if elapsed < d || !self.progress.smoke_ok {
                    return false;
                }
                self.preview_health_ok(now, out)
            }
            _ => true,
        }
    }

    /// At the end of a blue-green preview the new instances must pass the
    /// instance-health trigger (they had the whole preview to come up).
    pub(super) fn preview_health_ok(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) -> bool {
        let v = analysis::triggers::unhealthy_instances(
            &self.spec.service.triggers.unhealthy_instances,
            self.traffic.as_ref(),
        );
        match v.outcome {
            Outcome::Fail => {
                let reason = format!("preview failed: {}: rolled back", v.summary);
                self.start_rollback(now, reason, Actor::Engine, Some(v), out);
                false
            }
            Outcome::NotEnoughEvidence => false,
            Outcome::Pass => true,
        }
    }

    pub(super) fn complete_step(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let step = self.plan[self.step].clone();
        if let (PlanStep::Analysis(_), Some(verdict)) = (&step, self.progress.gate_passed.clone()) {
            let reason = format!("analysis passed: {}", verdict.summary);
            self.step += 1;
            self.progress = StepProgress::default();
            if self.step < self.plan.len() {
                // The next step's entry emits the transition; record the pass.
                self.snapshot.reason = reason.clone();
                out.push(Effect::Emit(Event {
                    at: now,
                    env: self.spec.target.env.clone(),
                    service: self.spec.target.service.clone(),
                    from: self.snapshot.phase,
                    to: self.snapshot.phase,
                    step: self.step - 1,
                    steps: self.plan.len(),
                    weight: self.snapshot.desired_weight,
                    reason,
                    actor: Actor::Engine,
                    verdict: Some(verdict),
                    job: None,
                }));
            }
            return;
        }
        if step == PlanStep::Finish {
            self.mode = Mode::Done(ReleaseResult::Succeeded);
            self.promoting = false;
            let reason = format!(
                "{} is stable now ({} retired)",
                self.spec.new_version, self.spec.stable_version
            );
            self.transition(now, reason, Actor::Engine, None, out);
            return;
        }
        self.step += 1;
        self.progress = StepProgress::default();
    }

    /// Called when the traffic state read after `Prepare` arrives.
    pub(super) fn after_prepare(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        if !matches!(self.current(), Some(PlanStep::Prepare)) || !matches!(self.mode, Mode::Running)
        {
            return;
        }
        let Some(state) = &self.traffic else { return };
        let fleet = Fleet::of(state);
        if self.spec.service.strategy.rollout().needs_fleet() && fleet.new == 0 {
            let reason = format!(
                "the backend reports no instances of {} after preparing it — nothing to {}",
                self.spec.new_version,
                self.spec.service.strategy.name()
            );
            self.abort(now, reason, out);
            return;
        }
        self.fleet = Some(fleet);
        self.set_plan(plan::of_service(&self.spec.service, Some(fleet)));
        self.progress.prepared_state_known = true;
    }

    pub(super) fn abort(&mut self, now: DateTime<Utc>, reason: String, out: &mut Vec<Effect>) {
        self.mode = Mode::Done(ReleaseResult::Aborted);
        self.observation = None;
        self.snapshot.desired_weight = 0;
        // Nothing reached users; clean up whatever was staged. Its outcome
        // is not waited for (the release is over either way).
        self.emit_write(TrafficWrite::Discard, out);
        self.write = WriteState::Idle;
        self.transition(now, reason, Actor::Engine, None, out);
    }
}
