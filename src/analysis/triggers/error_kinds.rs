//! The new-error-kind trigger: an error kind the service named (see
//! [`is_named_error_kind`]) seen on the new version but never on the
//! baseline, as a share of the new version's requests.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::analysis::detector::{Count, Detector};
use crate::analysis::numbers::{clock, count, pct};
use crate::analysis::sequences;
use crate::config::{Analysis, Trigger};
use crate::engine::types::TriggerKind;
use crate::metrics::{Reading, is_named_error_kind};

use super::{Arrival, Bounds, Finding, confidence_words, half_of_the_budget, over, tolerated};

/// The most frequent kind on the new version the baseline never showed.
pub(super) fn most_frequent_new_kind(window: &Reading) -> Option<String> {
    new_kinds(window)
        .max_by_key(|(_, n)| *n)
        .map(|(name, _)| name.to_string())
}

fn new_kinds(window: &Reading) -> impl Iterator<Item = (&str, u64)> {
    window
        .new
        .errors_by_kind
        .iter()
        .filter(|(name, n)| {
            **n > 0
                && is_named_error_kind(name)
                && !window.baseline.errors_by_kind.contains_key(*name)
        })
        .map(|(name, n)| (name.as_str(), *n))
}

/// What `window` says about `kind` (none: no new kind seen).
pub(super) fn finding(
    trigger: &Trigger,
    analysis: &Analysis,
    window: &Reading,
    kind: Option<&str>,
    span: Option<Duration>,
) -> Finding {
    let new = &window.new;
    let seen = kind.map_or(0, |k| new.errors_by_kind.get(k).copied().unwrap_or(0));
    let share = (new.requests > 0).then(|| seen as f64 * 100.0 / new.requests as f64);
    let bounds = (new.requests > 0).then(|| {
        let (lower, upper) =
            sequences::proportion(seen as f64, new.requests as f64, 1.0 - analysis.confidence);
        Bounds {
            lower: lower * 100.0,
            upper: upper * 100.0,
        }
    });
    let tolerated = tolerated(trigger, analysis, 0.0);
    let mut numbers = match kind {
        Some(name) => format!(
            "new error kind `{name}` on {} of {} requests{} ({}), never seen on the baseline",
            count(seen),
            count(new.requests),
            span.map_or_else(String::new, |s| format!(" in the last {}", clock(s))),
            pct(share.unwrap_or(0.0))
        ),
        None => format!(
            "no error kind unseen on the baseline {}",
            over(new.requests, span)
        ),
    };
    if let Some(b) = bounds {
        numbers += &format!(
            ": {} between {} and {}",
            confidence_words(analysis.confidence),
            pct(b.lower),
            pct(b.upper)
        );
    }
    numbers += &format!(
        " (limit {}, tolerated {})",
        pct(trigger.threshold),
        pct(tolerated)
    );
    let thin = (new.requests < analysis.min_requests).then(|| {
        format!(
            "not enough evidence yet ({} of {} requests)",
            count(new.requests),
            count(analysis.min_requests)
        )
    });
    Finding {
        trigger: TriggerKind::NewErrorKind,
        threshold: trigger.threshold,
        tolerated,
        confidence: analysis.confidence,
        new_value: share,
        baseline_value: Some(0.0),
        bounds,
        nothing_to_catch: kind.is_none(),
        new_requests: new.requests,
        baseline_requests: window.baseline.requests,
        numbers,
        thin,
    }
}

/// One detector per new kind. A kind is only known once it shows up, so
/// every kind starts from a copy of the detector of a kind never seen —
/// one fed every reading with zero such errors: its evidence is exactly
/// what the kind's own detector would hold had it been watched from the
/// start, so noticing a kind late costs the guarantee nothing.
#[derive(Debug, Clone)]
pub(super) struct KindDetectors<S> {
    unseen: Detector<S>,
    kinds: BTreeMap<String, Detector<S>>,
}

impl<S: Clone> Default for KindDetectors<S> {
    fn default() -> Self {
        KindDetectors {
            unseen: Detector::default(),
            kinds: BTreeMap::new(),
        }
    }
}

impl<S: Clone> KindDetectors<S> {
    pub(super) fn observe(
        &mut self,
        trigger: &Trigger,
        analysis: &Analysis,
        arrived: &Arrival<'_, S>,
    ) {
        let (seen_on_baseline, increment) = (&arrived.baseline.errors_by_kind, arrived.increment);
        let (weight, here) = (arrived.weight, arrived.here);
        for (name, _) in new_kinds(increment) {
            if !self.kinds.contains_key(name) && !seen_on_baseline.contains_key(name) {
                self.kinds.insert(name.to_string(), self.unseen.clone());
            }
        }
        // A kind the baseline shows too is no longer new.
        self.kinds
            .retain(|name, _| !seen_on_baseline.contains_key(name));
        let tolerated = tolerated(trigger, analysis, 0.0) / 100.0;
        let gap = trigger.threshold / 100.0 - tolerated;
        let count = |k: u64| Count {
            k: k as f64,
            n: increment.new.requests as f64,
            p0: tolerated,
            gap,
        };
        for (name, detector) in &mut self.kinds {
            let k = increment.new.errors_by_kind.get(name).copied().unwrap_or(0);
            detector.observe(weight, Some(count(k)), Some(count(k)), here);
        }
        self.unseen
            .observe(weight, Some(count(0)), Some(count(0)), here);
    }

    /// The kinds whose detector fired, the most frequent in `window` first.
    pub(super) fn fired(&self, analysis: &Analysis, window: &Reading) -> Vec<(&str, &Detector<S>)> {
        let alpha = half_of_the_budget(analysis);
        let mut fired: Vec<_> = self
            .kinds
            .iter()
            .filter(|(_, d)| d.fired(alpha))
            .map(|(name, d)| (name.as_str(), d))
            .collect();
        let seen = |name: &str| window.new.errors_by_kind.get(name).copied().unwrap_or(0);
        fired.sort_by_key(|(name, _)| std::cmp::Reverse(seen(name)));
        fired
    }
}
