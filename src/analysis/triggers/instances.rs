//! The instance-health trigger: it counts rather than estimates, judging
//! the instances the backend reports, at once.

use crate::analysis::numbers::pct;
use crate::config::Trigger;
use crate::engine::types::{Outcome, TriggerKind, Verdict};
use crate::observed::TrafficState;

/// Share of the new version's instances (staged or in rotation) failing
/// their health checks, in percent. Judged from the backend's instance
/// list, so it needs no request minimum and no observation time.
pub fn unhealthy_instances(trigger: &Trigger, traffic: Option<&TrafficState>) -> Verdict {
    let kind = TriggerKind::UnhealthyInstances;
    let verdict = |outcome, new_value, baseline_value, summary| Verdict {
        new_value,
        baseline_value,
        ..Verdict::without_statistics(kind, outcome, trigger.threshold, summary)
    };
    let Some(state) = traffic else {
        return verdict(
            Outcome::NotEnoughEvidence,
            None,
            None,
            "unhealthy instances: the backend has not reported its instances yet".to_string(),
        );
    };
    let total = state.new.len();
    if total == 0 {
        // A flag backend, for one, has no instances of its own: nothing to
        // health-check is not a failure, and must not block a gate forever.
        return verdict(
            Outcome::Pass,
            Some(0.0),
            None,
            "unhealthy instances: the backend reports no instances of the new version".to_string(),
        );
    }
    let failing = state.new.iter().filter(|i| !i.healthy).count();
    let share = failing as f64 * 100.0 / total as f64;
    let stable_share = (!state.stable.is_empty()).then(|| {
        state.stable.iter().filter(|i| !i.healthy).count() as f64 * 100.0
            / state.stable.len() as f64
    });
    let outcome = if share > trigger.threshold {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    verdict(
        outcome,
        Some(share),
        stable_share,
        format!(
            "{failing} of {total} new instances failing health checks ({}, limit {})",
            pct(share),
            pct(trigger.threshold)
        ),
    )
}
