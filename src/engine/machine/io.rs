//! Reads and writes the machine asks the driver for, and what it keeps of their answers.

use super::*;

impl Release {
    pub(super) fn request_traffic_read(&mut self, purpose: ReadPurpose, out: &mut Vec<Effect>) {
        if self.traffic_read.is_some() {
            // One read at a time keeps results in order; the purpose that
            // matters most is read next.
            if self.traffic_read_wanted.is_none_or(|w| w < purpose) {
                self.traffic_read_wanted = Some(purpose);
            }
            return;
        }
        self.traffic_read = Some(purpose);
        out.push(Effect::ReadTraffic);
    }

    pub(super) fn request_metrics_read(&mut self, out: &mut Vec<Effect>) {
        if !self.metrics_read_in_flight {
            self.metrics_read_in_flight = true;
            self.metrics_read_epoch = self.metrics_epoch;
            out.push(Effect::ReadMetrics);
        }
    }

    /// From now on only readings requested after this call count; one is
    /// requested (at once, or when the read in flight comes back stale).
    pub(super) fn require_fresh_reading(&mut self, out: &mut Vec<Effect>) {
        self.metrics_epoch += 1;
        self.request_metrics_read(out);
    }

    pub(super) fn emit_write(&mut self, write: TrafficWrite, out: &mut Vec<Effect>) {
        let seq = self.next_write_seq;
        self.next_write_seq += 1;
        self.writes_in_flight.push_back(seq);
        self.write = WriteState::InFlight(seq);
        self.last_write = Some(write.clone());
        out.push(Effect::Write(write));
    }

    /// Observation starts: the window opens on the latest reading, and
    /// the baseline's counters up to there are its traffic from before.
    pub(super) fn start_observing(&mut self, now: DateTime<Utc>) {
        let before = self.latest_reading.as_ref().map(|r| r.baseline.clone());
        self.observe_from(now, before);
    }

    fn observe_from(&mut self, now: DateTime<Utc>, baseline_before: Option<Sample>) {
        if self.observation.is_none() {
            self.observation = Some(Observation {
                base: self.latest_reading.clone(),
                frozen_baseline: None,
                verdicts: None,
                watch: analysis::Watch::new(
                    now,
                    &self.spec.service.triggers,
                    baseline_before.unwrap_or_default(),
                ),
            });
        }
    }

    /// Resumed with every request on the new version (after a blue-green
    /// switch, at a canary's or a rolling update's last step): the stable
    /// version gets no traffic to compare with any more, so its baseline is
    /// everything the backend counted for it before, frozen as a switch
    /// freezes it.
    pub(super) fn observe_against_stable_so_far(&mut self, now: DateTime<Utc>) {
        let frozen = self.latest_reading.as_ref().map(|r| r.baseline.clone());
        self.observe_from(now, None);
        if let Some(obs) = self.observation.as_mut() {
            obs.frozen_baseline = frozen;
        }
    }

    /// Blue-green switch: from now on the baseline is the stable version's
    /// traffic from the start of the preview until the switch, and what it
    /// served before the preview is its traffic from before.
    pub(super) fn freeze_baseline(&mut self, now: DateTime<Utc>) {
        let (frozen, before) = match (&self.latest_reading, &self.preview_base) {
            (Some(latest), Some(base)) => (
                Some(latest.baseline.since(&base.baseline)),
                Some(base.baseline.clone()),
            ),
            _ => (None, None),
        };
        self.observe_from(now, before);
        if let Some(obs) = self.observation.as_mut() {
            obs.frozen_baseline = frozen;
        }
    }

    pub(super) fn record_traffic(&mut self, state: &TrafficState) {
        let counts = |instances: &[crate::observed::Instance]| InstanceCounts {
            healthy: instances.iter().filter(|i| i.healthy).count() as u32,
            total: instances.len() as u32,
        };
        self.snapshot.new_instances = counts(&state.new);
        self.snapshot.stable_instances = counts(&state.stable);
        self.snapshot.actual_weight = self.spec.service.strategy.rollout().actual_weight(state);
    }
}
