//! Judging the new version: the trigger verdicts every reading, and analysis gates.

use super::*;

impl Release {
    /// The judged window: counters since observation started. Without a
    /// reading from before the new version got traffic, the first reading
    /// after it becomes the start of the window.
    pub(super) fn window(&mut self) -> Option<Reading> {
        let latest = self.latest_reading.clone()?;
        let obs = self.observation.as_mut()?;
        let base = obs.base.get_or_insert_with(|| latest.clone());
        let mut window = latest.since(base);
        if let Some(frozen) = &obs.frozen_baseline {
            window.baseline = frozen.clone();
        }
        Some(window)
    }

    pub(super) fn judge_triggers(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        if !matches!(self.mode, Mode::Running) || self.observation.is_none() {
            return;
        }
        let window = self.window().unwrap_or_default();
        let Some(obs) = self.observation.as_mut() else {
            return;
        };
        let verdicts: Arc<[Verdict]> = obs
            .watch
            .judge(
                &self.spec.service.triggers,
                &self.spec.service.analysis,
                now,
                &window,
                self.traffic.as_ref(),
            )
            .into();
        self.snapshot.new_error_rate_pct = window.new.error_rate_pct();
        self.snapshot.baseline_error_rate_pct = window.baseline.error_rate_pct();
        self.snapshot.new_p95_ms = window.new.p95_ms();
        self.snapshot.baseline_p95_ms = window.baseline.p95_ms();
        self.snapshot.new_requests = window.new.requests;
        self.snapshot.baseline_requests = window.baseline.requests;
        let failed = analysis::first_failure(&verdicts).cloned();
        self.snapshot.verdicts = verdicts.clone();
        if let Some(obs) = self.observation.as_mut() {
            obs.verdicts = Some(verdicts);
        }
        if let Some(failed) = failed {
            let reason = format!("{}: rolled back", failed.summary);
            self.start_rollback(now, reason, Actor::Engine, Some(failed), out);
        }
    }

    /// An analysis gate whose time is up passes when every enabled trigger
    /// passes over the gate's window; anything else holds it, with the
    /// reason — never a silent advance on thin evidence.
    pub(super) fn judge_gate(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let Some(PlanStep::Analysis(length)) = self.current().cloned() else {
            return;
        };
        if !matches!(self.mode, Mode::Running)
            || !self.progress.entered
            || self.progress.gate_passed.is_some()
            || self.progress.stopwatch.elapsed(now) < length
        {
            return;
        }
        let Some(latest) = self.latest_reading.clone() else {
            return;
        };
        let base = self
            .progress
            .gate_base
            .get_or_insert_with(|| latest.clone())
            .clone();
        let verdicts = analysis::judge_window(
            &self.spec.service.triggers,
            &self.spec.service.analysis,
            &latest.since(&base),
            self.traffic.as_ref(),
        );
        match analysis::first_non_pass(&verdicts) {
            None => {
                let first = verdicts.first().cloned().unwrap_or_else(|| {
                    Verdict::without_statistics(
                        crate::engine::types::TriggerKind::ErrorRate,
                        Outcome::Pass,
                        0.0,
                        "no trigger enabled".into(),
                    )
                });
                self.progress.gate_passed = Some(first);
            }
            Some(holding) => {
                let reason = format!(
                    "analysis gate holds: {} (advance or promote to override)",
                    holding.summary
                );
                let kind = format!("{:?}{:?}", holding.trigger, holding.outcome);
                if self.progress.gate_hold.as_deref() != Some(kind.as_str()) {
                    self.progress.gate_hold = Some(kind);
                    let verdict = holding.clone();
                    self.transition(now, reason, Actor::Engine, Some(verdict), out);
                } else {
                    self.snapshot.reason = reason;
                }
            }
        }
    }

    /// Whether the trigger verdicts let the current step end: every one
    /// must pass once the new version is observed — not enough evidence
    /// holds the step, it is never advanced on. Reports what holds it (an
    /// event when that changes).
    pub(super) fn evidence_allows_advance(
        &mut self,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) -> bool {
        let Some(obs) = &self.observation else {
            return true;
        };
        let holding = match &obs.verdicts {
            None => None,
            Some(verdicts) => match analysis::first_non_pass(verdicts) {
                None => return true,
                Some(v) => Some(v.clone()),
            },
        };
        let words = holding.as_ref().map_or_else(
            || "no reading judged yet".to_string(),
            |v| v.summary.clone(),
        );
        // At the last look `advance` has nothing left to skip; `promote` finishes.
        let overrides = if self.final_check == FinalCheck::Waiting {
            "promote"
        } else {
            "advance"
        };
        let reason = format!(
            "step {} of {} held until every trigger passes: {words} ({overrides} to override)",
            self.step + 1,
            self.plan.len()
        );
        let key = holding.as_ref().map_or_else(
            || "unjudged".to_string(),
            |v| format!("{:?}{:?}", v.trigger, v.outcome),
        );
        if self.progress.evidence_hold.as_ref() != Some(&key) {
            self.progress.evidence_hold = Some(key);
            self.transition(now, reason, Actor::Engine, holding, out);
        } else {
            self.snapshot.reason = reason;
        }
        false
    }
}
