//! What each input does to the release: start, timer ticks, provider results.

use super::*;

impl Release {
    pub(super) fn on_start(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        if self.started {
            return;
        }
        self.started = true;
        self.last_periodic_read = Some(now);
        self.request_traffic_read(ReadPurpose::Periodic, out);
        self.request_metrics_read(out);
        let actor = self.spec.started_by.clone();
        self.next_actor = Some(actor);
    }

    pub(super) fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        if !self.started || self.result().is_some() {
            return;
        }
        if let Some(at) = self.retry_at
            && now >= at
        {
            self.retry_at = None;
            if let WriteState::Failed(_) = self.write
                && let Some(write) = self.last_write.clone()
            {
                self.emit_write(write, out);
            }
            if let Some(purpose) = self.traffic_read_retry.take() {
                self.request_traffic_read(purpose, out);
            }
        }
        if matches!(self.mode, Mode::Running) && now >= self.periodic_read_due() {
            self.last_periodic_read = Some(now);
            self.request_traffic_read(ReadPurpose::Periodic, out);
            self.request_metrics_read(out);
        }
        // An analysis gate whose time is up judges on a fresh reading.
        if let (Some(PlanStep::Analysis(d)), true) = (self.current(), self.progress.entered) {
            let d = *d;
            if self.progress.stopwatch.elapsed(now) >= d && self.progress.gate_passed.is_none() {
                self.request_metrics_read(out);
            }
        }
    }

    pub(super) fn on_metrics(
        &mut self,
        reading: Result<Reading, ProviderError>,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        self.metrics_read_in_flight = false;
        match reading {
            Err(e) => {
                let first = self.metrics_error.is_none();
                self.metrics_error = Some(e.to_string());
                self.failed_metrics_reads += 1;
                let limit = self.spec.service.analysis.max_failed_reads;
                if self.failed_metrics_reads > limit
                    && matches!(self.mode, Mode::Running)
                    && self.started
                {
                    // Holding is right for a gap, not for metrics gone for
                    // good: users would stay on a version nobody judges.
                    let reason = format!(
                        "metrics unreadable {} times in a row (limit {limit}): {e}: rolled back",
                        self.failed_metrics_reads
                    );
                    self.start_rollback(now, reason, Actor::Engine, None, out);
                } else if first && matches!(self.mode, Mode::Running) && self.started {
                    let reason = format!(
                        "held: {} — timers stopped, it continues by itself when readings return \
                         (it rolls back after {limit} more failed reads in a row)",
                        self.hold_reason().unwrap_or_default()
                    );
                    self.transition(now, reason, Actor::Engine, None, out);
                }
            }
            Ok(_) if self.metrics_read_epoch != self.metrics_epoch => {
                // Asked for before the new version was staged or before the
                // final check: not evidence about this window.
                self.request_metrics_read(out);
            }
            Ok(reading) => {
                self.failed_metrics_reads = 0;
                let recovered = self.metrics_error.take().is_some();
                self.snapshot.metrics_at = Some(now);
                if self.preview_base.is_none()
                    && matches!(self.current(), Some(PlanStep::Preview(_)))
                {
                    self.preview_base = Some(reading.clone());
                }
                self.latest_reading = Some(reading);
                if recovered && matches!(self.mode, Mode::Running) {
                    let mut reason = "metrics readings are back".to_string();
                    if let Some(hold) = self.hold_reason() {
                        reason.push_str(&format!("; still held: {hold}"));
                    } else if let Some(by) = &self.paused_by {
                        reason.push_str(&format!("; still paused by {by}"));
                    } else {
                        reason.push_str(": continuing");
                    }
                    self.transition(now, reason, Actor::Engine, None, out);
                }
                self.judge_triggers(now, out);
                self.judge_gate(now, out);
                // The last look: an operator's promote needs no failing
                // trigger; the engine's own finish needs every one to pass.
                if self.final_check == FinalCheck::Waiting
                    && matches!(self.mode, Mode::Running)
                    && (self.promoting || self.evidence_allows_advance(now, out))
                {
                    self.final_check = FinalCheck::Passed;
                }
            }
        }
    }

    pub(super) fn on_traffic(
        &mut self,
        state: Result<TrafficState, ProviderError>,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        let purpose = self.traffic_read.take().unwrap_or(ReadPurpose::Periodic);
        match state {
            Err(e) => {
                let first = self.traffic_error.is_none();
                self.traffic_error = Some(e.to_string());
                if purpose != ReadPurpose::Periodic {
                    self.traffic_read_retry = Some(purpose);
                    self.retry_at = Some(self.retry_at_from(now));
                }
                match &self.mode {
                    // Said in its own words even while something else
                    // holds already: a reading that fails is news.
                    Mode::Running if first && self.started => {
                        let reason = format!(
                            "held: traffic state unavailable ({e}) — timers stopped, it continues \
                             by itself when readings return"
                        );
                        self.transition(now, reason, Actor::Engine, None, out);
                    }
                    Mode::RollingBack { .. } if first => {
                        let reason = format!(
                            "cannot read the traffic state to verify the rollback ({e}) — retrying"
                        );
                        self.emit_unchanged(now, reason, Actor::Engine, out);
                    }
                    _ => {}
                }
            }
            Ok(state) => {
                let recovered = self.traffic_error.take().is_some();
                self.notice_drift(&state, now, out);
                self.record_traffic(&state);
                self.traffic = Some(state);
                if recovered && matches!(self.mode, Mode::Running) {
                    let reason = match (self.hold_reason(), &self.paused_by) {
                        (Some(hold), _) => {
                            format!("traffic state readable again; still held: {hold}")
                        }
                        (None, Some(by)) => {
                            format!("traffic state readable again; still paused by {by}")
                        }
                        (None, None) => "traffic state readable again: continuing".to_string(),
                    };
                    self.transition(now, reason, Actor::Engine, None, out);
                }
                match purpose {
                    ReadPurpose::AfterPrepare => self.after_prepare(now, out),
                    ReadPurpose::VerifyRollback => self.verify_rollback(now, out),
                    ReadPurpose::Periodic => {}
                }
                if matches!(self.current(), Some(PlanStep::HealthGate(_)))
                    && !self.new_in_rotation_healthy()
                {
                    // Healthy time must be continuous: start counting again.
                    self.progress.stopwatch = Stopwatch::default();
                }
                self.judge_triggers(now, out);
            }
        }
        if let Some(wanted) = self.traffic_read_wanted.take() {
            self.request_traffic_read(wanted, out);
        }
    }

    pub(super) fn on_applied(
        &mut self,
        result: Result<(), WriteError>,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        let Some(seq) = self.writes_in_flight.pop_front() else {
            return; // nothing outstanding: a confused driver, not our state
        };
        if self.write != WriteState::InFlight(seq) {
            return; // a superseded write (e.g. a weight overtaken by a rollback)
        }
        match result {
            Ok(()) => {
                self.write = WriteState::Done;
                self.write_error = None;
                if self.last_write == Some(TrafficWrite::Prepare) {
                    // The data plane keeps counters per version for its
                    // whole life: an earlier release of the same version
                    // must not count as evidence for this one.
                    self.latest_reading = None;
                    self.require_fresh_reading(out);
                }
            }
            Err(error) => {
                let what = self
                    .last_write
                    .as_ref()
                    .map(TrafficWrite::describe)
                    .unwrap_or_else(|| "apply the last change".into());
                let e = error.to_string();
                if error.is_hopeless() && self.give_up_on_write(&what, &e, now, out) {
                    return;
                }
                self.write = WriteState::Failed(e.clone());
                self.write_error = Some(e.clone());
                if matches!(self.current(), Some(PlanStep::Prepare))
                    && matches!(self.mode, Mode::Running)
                {
                    self.progress.prepare_attempts += 1;
                    if self.progress.prepare_attempts >= PREPARE_ATTEMPTS {
                        let reason = format!(
                            "could not prepare {} after {} attempts: {e}",
                            self.spec.new_version, self.progress.prepare_attempts
                        );
                        self.abort(now, reason, out);
                        return;
                    }
                }
                self.retry_at = Some(self.retry_at_from(now));
                let reason = format!("could not {what}: {e} — retrying");
                self.emit_unchanged(now, reason.clone(), Actor::Engine, out);
                self.snapshot.reason = reason;
            }
        }
    }

    /// Versions read back that this release neither replaces nor brings
    /// (a canary image someone set to v3 by hand mid-release) hold it with
    /// both versions named, and it carries on once they are back. A
    /// rollback is never held: it puts stable back whatever else runs.
    fn notice_drift(&mut self, state: &TrafficState, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        if !matches!(self.mode, Mode::Running) || !self.started {
            return;
        }
        let ours = [&self.spec.stable_version, &self.spec.new_version];
        let foreign = |v: &String| !ours.contains(&v);
        let drift = match (&state.stable_version, &state.new_version) {
            (stable, _) if foreign(stable) => Some(format!(
                "drift: the backend's stable side runs {stable}, not {} — someone else changed it",
                self.spec.stable_version
            )),
            (_, Some(new)) if foreign(new) => Some(format!(
                "drift: the backend's new side runs {new}, not {} — someone else changed it",
                self.spec.new_version
            )),
            _ => None,
        };
        if drift == self.drift {
            return;
        }
        let reason = match &drift {
            Some(d) => {
                format!("held: {d}; helmsman will not overwrite it (put it back, or roll back)")
            }
            None => "drift gone: the backend runs this release's versions again".to_string(),
        };
        self.drift = drift;
        self.transition(now, reason, Actor::Engine, None, out);
    }

    /// A write the backend says cannot complete: before any traffic moved
    /// the release is aborted, afterwards rolled back. A finishing release
    /// is past its rollback, so it keeps retrying (loudly) instead.
    fn give_up_on_write(
        &mut self,
        what: &str,
        e: &str,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) -> bool {
        if !matches!(self.mode, Mode::Running) {
            return false;
        }
        match self.current() {
            Some(PlanStep::Finish) => false,
            Some(PlanStep::Prepare) => {
                let reason = format!("could not prepare {}: {e}", self.spec.new_version);
                self.abort(now, reason, out);
                true
            }
            _ => {
                let reason = format!("could not {what}: {e}: rolled back");
                self.start_rollback(now, reason, Actor::Engine, None, out);
                true
            }
        }
    }

    pub(super) fn on_smoke_checks(
        &mut self,
        results: Vec<CheckResult>,
        now: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        if !matches!(self.current(), Some(PlanStep::Preview(_)))
            || !matches!(self.mode, Mode::Running)
        {
            return;
        }
        if let Some(failed) = results.iter().find(|r| r.status == CheckStatus::Fail) {
            let reason = format!(
                "preview failed: smoke check {} failed ({}): rolled back",
                failed.name, failed.detail
            );
            self.start_rollback(now, reason, Actor::Engine, None, out);
            return;
        }
        self.progress.smoke_ok = true;
        let summary: Vec<String> = results
            .iter()
            .map(|r| format!("{}: {}", r.name, r.detail))
            .collect();
        let reason = if summary.is_empty() {
            "preview: no smoke checks configured".to_string()
        } else {
            format!("preview smoke checks passed ({})", summary.join("; "))
        };
        self.emit_unchanged(now, reason, Actor::Engine, out);
    }
}
