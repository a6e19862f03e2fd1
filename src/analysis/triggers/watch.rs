//! A release's triggers, judged at every reading with what came before:
//! the detectors' evidence, the recent past, and when a breach began.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::analysis::detector::{Detector, onset_weight};
use crate::analysis::numbers::clock;
use crate::analysis::recent::{Recent, parts_for};
use crate::config::{Analysis, Trigger, Triggers};
use crate::engine::types::{Outcome, Verdict};
use crate::metrics::{Reading, Sample};
use crate::observed::TrafficState;

use super::error_kinds::{self, KindDetectors};
use super::{
    Arrival, Finding, enough_baseline, error_rate, half_of_the_budget, latency, outcome_words,
    unhealthy_instances,
};

/// A reading that opens a window: the counters before it, and when.
#[derive(Debug, Clone)]
struct Mark {
    at: DateTime<Utc>,
    cumulative: Reading,
}

/// Everything the triggers remember about one release's observation.
#[derive(Debug, Clone)]
pub struct Watch {
    since: DateTime<Utc>,
    /// What the metrics source counted for the baseline before
    /// observation began: the stable version's traffic before the release.
    baseline_before: Sample,
    /// The last reading fed to the detectors (the empty one at the start).
    previous: Mark,
    readings: u64,
    recent: Recent,
    error_rate: Detector<Mark>,
    latency: Detector<Mark>,
    error_kinds: KindDetectors<Mark>,
    /// Reported p95s only (no histogram): when the latest run of readings
    /// over the threshold began.
    reported_breach_since: Option<DateTime<Utc>>,
    /// The metric verdicts on the last window judged: a traffic read
    /// brings no new counters, and only the instance-health verdict can
    /// change with it.
    judged: Option<(Reading, MetricVerdicts)>,
}

/// The verdicts of the triggers judged from metrics, enabled or not.
#[derive(Debug, Clone, Default)]
struct MetricVerdicts {
    error_rate: Option<Verdict>,
    latency: Option<Verdict>,
    error_kind: Option<Verdict>,
}

/// How long a regression has held, as far as the recent past shows.
enum Held {
    /// Through the trigger's whole `after` (or it has none).
    Through,
    /// For this long so far.
    For(Duration),
    /// The latest part of the recent past does not show it.
    Cleared,
}

impl Watch {
    /// Observation of the new version starts at `since`; `triggers` tell
    /// how much of the recent past to keep; `baseline_before` holds the
    /// baseline's counters from before then (empty when unknown).
    pub fn new(since: DateTime<Utc>, triggers: &Triggers, baseline_before: Sample) -> Watch {
        let afters = [
            &triggers.error_rate,
            &triggers.p95_latency,
            &triggers.new_error_kind,
        ]
        .map(|t| t.after);
        let longest = afters.iter().copied().max().unwrap_or_default();
        let shortest = afters.iter().copied().filter(|a| !a.is_zero()).min();
        Watch {
            since,
            baseline_before,
            previous: Mark {
                at: since,
                cumulative: Reading::default(),
            },
            readings: 0,
            recent: Recent::new(since, longest, shortest.unwrap_or_default()),
            error_rate: Detector::default(),
            latency: Detector::default(),
            error_kinds: KindDetectors::default(),
            reported_breach_since: None,
            judged: None,
        }
    }

    /// Judges every enabled trigger on a reading taken at `at`: `window`
    /// holds the counters since observation began (a blue-green switch's
    /// frozen baseline included), `traffic` the backend's latest state.
    /// Disabled triggers are left out of the result.
    pub fn judge(
        &mut self,
        triggers: &Triggers,
        analysis: &Analysis,
        at: DateTime<Utc>,
        window: &Reading,
        traffic: Option<&TrafficState>,
    ) -> Vec<Verdict> {
        let metrics = match &self.judged {
            Some((judged, metrics)) if judged == window => metrics.clone(),
            _ => {
                self.observe(triggers, analysis, at, window);
                let metrics = MetricVerdicts {
                    error_rate: triggers
                        .error_rate
                        .enabled
                        .then(|| self.error_rate(&triggers.error_rate, analysis, window)),
                    latency: triggers
                        .p95_latency
                        .enabled
                        .then(|| self.latency(&triggers.p95_latency, analysis, at, window)),
                    error_kind: triggers
                        .new_error_kind
                        .enabled
                        .then(|| self.error_kind(&triggers.new_error_kind, analysis, window)),
                };
                self.judged = Some((window.clone(), metrics.clone()));
                metrics
            }
        };
        let instances = triggers
            .unhealthy_instances
            .enabled
            .then(|| unhealthy_instances(&triggers.unhealthy_instances, traffic));
        [
            metrics.error_rate,
            metrics.latency,
            instances,
            metrics.error_kind,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Feeds what arrived since the last reading to every detector.
    fn observe(
        &mut self,
        triggers: &Triggers,
        analysis: &Analysis,
        at: DateTime<Utc>,
        window: &Reading,
    ) {
        let increment = window.since(&self.previous.cumulative);
        let arrived = increment.new.requests > 0 || increment.baseline.requests > 0;
        if at <= self.previous.at || !arrived {
            return;
        }
        let seconds = |t: DateTime<Utc>| (t - self.since).as_seconds_f64();
        let previous = (self.readings > 0).then(|| seconds(self.previous.at));
        let weight = onset_weight(previous, seconds(at));
        let here = self.previous.clone();
        let baseline = enough_baseline(&window.baseline, &self.baseline_before, analysis);
        let arrived = Arrival {
            window,
            increment: &increment,
            baseline_before: &self.baseline_before,
            baseline: &baseline,
            weight,
            here: &here,
        };
        error_rate::observe(
            &mut self.error_rate,
            &triggers.error_rate,
            analysis,
            &arrived,
        );
        latency::observe(&mut self.latency, &triggers.p95_latency, analysis, &arrived);
        self.error_kinds
            .observe(&triggers.new_error_kind, analysis, &arrived);
        self.previous = Mark {
            at,
            cumulative: window.clone(),
        };
        self.readings += 1;
        self.recent.push(at, window.clone());
    }

    /// The window the whole release is judged on: `window` with the
    /// baseline of [`enough_baseline`].
    fn whole<'w>(&self, window: &'w Reading, analysis: &Analysis) -> Cow<'w, Reading> {
        match enough_baseline(&window.baseline, &self.baseline_before, analysis) {
            Cow::Borrowed(_) => Cow::Borrowed(window),
            Cow::Owned(baseline) => Cow::Owned(Reading {
                new: window.new.clone(),
                baseline,
            }),
        }
    }

    /// The trigger's last `after` on its own, once observation is that
    /// long (none for a trigger without one).
    fn last_period(&self, trigger: &Trigger) -> Option<(Reading, Duration)> {
        if trigger.after.is_zero() {
            return None;
        }
        let part = self.recent.parts(trigger.after, 1)?.pop()?;
        Some((part, trigger.after))
    }

    /// What the new version served since a detector's breach began, with
    /// the `baseline` that detector judges it by, and how long it is. The
    /// baseline is never the recent one alone: its recent traffic can be
    /// nothing — a source scraped less often than it is read — and a rate
    /// is never compared with an assumed 0 %.
    fn breach_window(
        &self,
        began: Option<&Mark>,
        window: &Reading,
        baseline: Sample,
    ) -> (Reading, Duration) {
        let (now, _) = self.recent.latest();
        let (new, since) = match began {
            Some(mark) => (window.since(&mark.cumulative).new, mark.at),
            None => (window.new.clone(), self.since),
        };
        let span = (*now - since).to_std().unwrap_or_default();
        (Reading { new, baseline }, span)
    }

    /// How long the regression has held: since the detector's window
    /// `began`, as long as no part of the trigger's `after` period since
    /// then `clears` it (shows the effect bounded under the threshold).
    /// Both count: the parts catch a spike that is over, the start keeps a
    /// part that a spike only brushed from counting as a whole part of it.
    /// A part too thin to bound anything does not clear a breach.
    fn held(
        &self,
        trigger: &Trigger,
        analysis: &Analysis,
        began: Option<&Mark>,
        clears: impl Fn(&Reading) -> bool,
    ) -> Held {
        if trigger.after.is_zero() {
            return Held::Through;
        }
        let parts = parts_for(trigger.after, analysis.interval);
        let part = trigger.after / parts;
        let mut showing = 0;
        for k in 1..=parts {
            match self.recent.parts(part * k, k) {
                Some(recent) if !recent.iter().any(&clears) => showing = k,
                _ => break,
            }
        }
        let (now, _) = self.recent.latest();
        let since_start = began.map_or(Duration::ZERO, |m| {
            (*now - m.at).to_std().unwrap_or_default()
        });
        let held = (part * showing).min(since_start);
        match showing {
            0 => Held::Cleared,
            k if k == parts && since_start >= trigger.after => Held::Through,
            _ => Held::For(held),
        }
    }

    fn error_rate(&self, trigger: &Trigger, analysis: &Analysis, window: &Reading) -> Verdict {
        let whole = error_rate::finding(trigger, analysis, &self.whole(window, analysis), None);
        if error_rate::over_hard_ceiling(window) {
            return whole.verdict(Outcome::Fail, super::error_rate::HARD_CEILING_WORDS);
        }
        let breach = self
            .error_rate
            .fired(half_of_the_budget(analysis))
            .then(|| {
                // Its detector's baseline: everything the stable version
                // served, before the release and during it.
                let baseline = window.baseline.plus(&self.baseline_before);
                let (recent, span) = self.breach_window(self.error_rate.began(), window, baseline);
                let held = self.held(trigger, analysis, self.error_rate.began(), |part| {
                    error_rate::finding(trigger, analysis, part, None).decide() == Outcome::Pass
                });
                (
                    error_rate::finding(trigger, analysis, &recent, Some(span)),
                    held,
                )
            });
        let last = self
            .last_period(trigger)
            .map(|(w, span)| error_rate::finding(trigger, analysis, &w, Some(span)));
        conclude(trigger, whole, last, breach)
    }

    fn latency(
        &mut self,
        trigger: &Trigger,
        analysis: &Analysis,
        at: DateTime<Utc>,
        window: &Reading,
    ) -> Verdict {
        let judged = self.whole(window, analysis);
        let whole = latency::finding(trigger, analysis, &judged, None);
        if !latency::has_histograms(&judged) {
            // Reported quantiles: the latest value is all there is, so the
            // breach is timed from the first reading over the threshold.
            if latency::reported_breach(trigger, &judged) {
                let since = *self.reported_breach_since.get_or_insert(at);
                let held = (at - since).to_std().unwrap_or_default();
                let outcome = if held >= trigger.after {
                    Outcome::Fail
                } else {
                    Outcome::NotEnoughEvidence
                };
                let words = held_words(outcome, held, trigger.after);
                return whole.verdict(outcome, &words);
            }
            self.reported_breach_since = None;
            return conclude(trigger, whole, None, None);
        }
        let breach = self.latency.fired(half_of_the_budget(analysis)).then(|| {
            let (recent, span) =
                self.breach_window(self.latency.began(), window, judged.baseline.clone());
            let held = self.held(trigger, analysis, self.latency.began(), |part| {
                latency::finding(trigger, analysis, part, None).decide() == Outcome::Pass
            });
            (
                latency::finding(trigger, analysis, &recent, Some(span)),
                held,
            )
        });
        let last = self
            .last_period(trigger)
            .map(|(w, span)| latency::finding(trigger, analysis, &w, Some(span)));
        conclude(trigger, whole, last, breach)
    }

    fn error_kind(&self, trigger: &Trigger, analysis: &Analysis, window: &Reading) -> Verdict {
        // Of the kinds whose detector fired, the one that held longest
        // speaks for the trigger.
        let breach = self
            .error_kinds
            .fired(analysis, window)
            .into_iter()
            .map(|(kind, detector)| {
                let held = self.held(trigger, analysis, detector.began(), |part| {
                    let finding = error_kinds::finding(trigger, analysis, part, Some(kind), None);
                    finding.decide() == Outcome::Pass
                });
                (kind, detector, held)
            })
            .max_by_key(|(_, _, held)| match held {
                Held::Through => Duration::MAX,
                Held::For(d) => *d,
                Held::Cleared => Duration::ZERO,
            });
        let judged = self.whole(window, analysis);
        let kind = match &breach {
            Some((kind, _, _)) => Some(kind.to_string()),
            None => error_kinds::most_frequent_new_kind(&judged),
        };
        let whole = error_kinds::finding(trigger, analysis, &judged, kind.as_deref(), None);
        let breach = breach.map(|(kind, detector, held)| {
            let (recent, span) =
                self.breach_window(detector.began(), window, judged.baseline.clone());
            let finding = error_kinds::finding(trigger, analysis, &recent, Some(kind), Some(span));
            (finding, held)
        });
        let last = self.last_period(trigger).map(|(w, span)| {
            let kind = error_kinds::most_frequent_new_kind(&w);
            error_kinds::finding(trigger, analysis, &w, kind.as_deref(), Some(span))
        });
        conclude(trigger, whole, last, breach)
    }
}

/// The verdict of a watched metric trigger: thin traffic holds; a
/// detected breach that held through `after` fails, one still building
/// holds; otherwise the whole window's bounds pass it or hold it.
fn conclude(
    trigger: &Trigger,
    whole: Finding,
    last_period: Option<Finding>,
    breach: Option<(Finding, Held)>,
) -> Verdict {
    if let Some(thin) = whole.thin.clone() {
        return whole.verdict(Outcome::NotEnoughEvidence, &format!(": {thin}"));
    }
    match breach {
        Some((recent, Held::Through)) => {
            let words = held_words(Outcome::Fail, trigger.after, trigger.after);
            return recent.verdict(Outcome::Fail, &words);
        }
        Some((recent, Held::For(held))) => {
            let words = held_words(Outcome::NotEnoughEvidence, held, trigger.after);
            return recent.verdict(Outcome::NotEnoughEvidence, &words);
        }
        Some((_, Held::Cleared)) | None => {}
    }
    // A trigger with an `after` also passes on its last `after` alone: a
    // spike that cleared must not hold the step until enough clean traffic
    // dilutes it out of the whole window.
    if let Some(last) = last_period.filter(|f| f.thin.is_none() && f.decide() == Outcome::Pass) {
        return last.verdict(Outcome::Pass, "");
    }
    match whole.decide() {
        Outcome::Pass => whole.verdict(Outcome::Pass, ""),
        // Bounds over the tolerated effect that the detector has not
        // confirmed (or whose breach cleared) hold, never roll back.
        _ => whole.verdict(
            Outcome::NotEnoughEvidence,
            outcome_words(Outcome::NotEnoughEvidence),
        ),
    }
}

/// "", " — held for 2:00" or ": over the tolerated effect for 0:40, rolls
/// back if it holds for 2:00".
fn held_words(outcome: Outcome, held: Duration, after: Duration) -> String {
    match outcome {
        _ if after.is_zero() => String::new(),
        Outcome::Fail => format!(" — held for {}", clock(after)),
        _ => format!(
            ": over the tolerated effect for {}, rolls back if it holds for {}",
            clock(held),
            clock(after)
        ),
    }
}
