//! Watching after a release (`watch_after` on an environment): once a
//! release the host drives succeeds there, the host keeps reading the new
//! version's numbers for that long — from the moment of success, so a
//! fault that starts late is not diluted by the release's good minutes —
//! and shows them as "watching" (in `status` and to every cockpit) and
//! notifies `alert` when its error rate or p95 enters a worse band or it
//! answers with an error kind it had not produced before.
//!
//! A watch never rolls back: once a release succeeded the previous version
//! is retired (blue-green scales it down before it succeeds, and until then
//! the release's own triggers judge it). What to do is a human's call; the
//! alert says what was seen.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::releases::Releases;
use crate::config::notify::{NotifyEvent, NotifyTarget};
use crate::config::{Backend, BandLevel, Bands, MetricsSource, Service};
use crate::engine::Snapshot;
use crate::metrics::Sample;
use crate::notify::{BandWatch, Message, Notifier};
use crate::providers::haproxy;
use crate::providers::metrics::prometheus::PrometheusMetrics;
use crate::providers::traffic::local::AdminClient;
use crate::providers::traffic::local_reads::PlaneReads;
use crate::providers::{Metrics, ProviderError};

/// What a watch needs besides the release's last state.
pub struct WatchAfter {
    pub service: Service,
    pub for_how_long: Duration,
    pub notify: Vec<NotifyTarget>,
}

/// Where the version that now serves is read.
enum Serving {
    /// The data plane's counters of the version, whichever side it is on.
    Plane(Arc<PlaneReads>),
    /// A metrics source reading the release's versions (Prometheus by
    /// version label, HAProxy by server): the version is its new side.
    Source(Box<dyn Metrics>),
}

impl Serving {
    /// None for a service with nothing to read it from: one without a data
    /// plane that reads no Prometheus, which the loader refuses.
    fn of(service: &Service, last: &Snapshot) -> Option<Serving> {
        match (&service.metrics, &service.backend) {
            (MetricsSource::Prometheus(source), _) => {
                Some(Serving::Source(Box::new(PrometheusMetrics::new(
                    source,
                    &last.target.env,
                    &service.name,
                    &last.stable_version,
                    &last.new_version,
                ))))
            }
            (MetricsSource::Local, Backend::Local(_) | Backend::Flagd(_)) => {
                let b = service.backend.plane()?;
                let name = format!("local data plane (admin {})", b.admin);
                let admin = AdminClient::new(b.admin, None, &b.limits, name);
                Some(Serving::Plane(PlaneReads::new(admin)))
            }
            (MetricsSource::Local, Backend::HaProxy(b)) => Some(Serving::Source(Box::new(
                haproxy::metrics_of(b, &last.stable_version, &last.new_version),
            ))),
            (MetricsSource::Local, Backend::Kubernetes(_)) => None,
        }
    }

    /// The cumulative numbers of `version`; none once it no longer serves
    /// (another release replaced it).
    async fn sample(&self, version: &str) -> Result<Option<Sample>, ProviderError> {
        match self {
            Serving::Plane(reads) => {
                let observed = reads.read().await?;
                let traffic = &observed.traffic;
                Ok(if traffic.stable_version == version {
                    Some(observed.counters.baseline.clone())
                } else if traffic.new_version.as_deref() == Some(version) {
                    Some(observed.counters.new.clone())
                } else {
                    None
                })
            }
            Serving::Source(metrics) => Ok(Some(metrics.read().await?.new)),
        }
    }
}

/// The span the watched figures are taken over: the last five minutes, so
/// a fault that starts late in a long watch shows at once instead of being
/// diluted by the hours before it.
pub const WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Watches the release whose last state `snapshots` holds, to the end of
/// its watch or until its version no longer serves.
pub async fn watch(
    releases: Arc<Releases>,
    mut snapshots: watch::Receiver<Snapshot>,
    after: WatchAfter,
) {
    // The engine publishes its last state as it ends.
    while !snapshots.borrow_and_update().phase.is_finished() {
        if snapshots.changed().await.is_err() {
            break;
        }
    }
    let mut shown = snapshots.borrow().clone();
    let until = Utc::now()
        + chrono::Duration::from_std(after.for_how_long).unwrap_or(chrono::Duration::days(30));
    shown.watching_until = Some(until);
    let target = shown.target.clone();
    let deployment = releases
        .journal()
        .release(&shown.release_id)
        .ok()
        .flatten()
        .and_then(|entry| entry.start.deployment)
        .unwrap_or_else(|| shown.release_id.clone());
    let Some(serving) = Serving::of(&after.service, &shown) else {
        tracing::warn!(
            "{}: not watched: its service has no metrics source",
            shown.target
        );
        return;
    };
    let mut notifier = Notifier::start(&after.notify);
    let mut judge = Judge::new(&after.service);
    let mut tick = tokio::time::interval(after.service.analysis.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    releases.show_watch(&target, &shown);
    while Utc::now() < until {
        tick.tick().await;
        let now = Utc::now();
        match serving.sample(&shown.new_version).await {
            Ok(Some(sample)) => {
                let Some(window) = judge.window(now, sample) else {
                    continue;
                };
                shown.new_error_rate_pct = window.error_rate_pct();
                shown.new_p95_ms = window.p95_ms();
                shown.new_requests = window.requests;
                shown.metrics_at = Some(now);
                shown.provider_error = None;
                shown.reason = watching_reason(until, &window, &after.service.bands);
                for why in judge.news(&shown) {
                    let message = Message::of_release(NotifyEvent::Alert, &deployment, &shown, "");
                    notifier.outbox().send(match why {
                        News::Band(crossing) => message.with_band(crossing),
                        News::Kind(text) => message.because(&text),
                    });
                }
            }
            Ok(None) => {
                shown.reason = format!("watch ended: {} no longer serves", shown.new_version);
                break;
            }
            Err(e) => shown.provider_error = Some(format!("metrics: {e}")),
        }
        shown.updated_at = now;
        releases.show_watch(&target, &shown);
        // Logged where they failed; every cockpit is told.
        for failure in notifier.failures() {
            releases.notice(&format!("{target}: {failure}"));
        }
    }
    shown.watching_until = None;
    shown.updated_at = Utc::now();
    releases.end_watch(&target, &shown);
}

/// What a watch tells of.
enum News {
    Band(crate::notify::message::BandCrossing),
    Kind(String),
}

/// The watched version's readings over [`WINDOW`], and what is news in them.
struct Judge {
    service: Service,
    bands: BandWatch,
    /// Cumulative readings, oldest first: the first is at or before the
    /// window's start.
    readings: VecDeque<(DateTime<Utc>, Sample)>,
    /// The error kinds the version had answered with by its success, and
    /// those told of since.
    known_kinds: BTreeSet<String>,
    /// The last window's numbers, for the error kinds.
    window: Sample,
}

impl Judge {
    fn new(service: &Service) -> Judge {
        Judge {
            service: service.clone(),
            bands: BandWatch::new(service.bands.clone()),
            readings: VecDeque::new(),
            known_kinds: BTreeSet::new(),
            window: Sample::default(),
        }
    }

    /// The numbers of the last [`WINDOW`] after the cumulative `sample`;
    /// none for the first reading (the version at its success).
    fn window(&mut self, now: DateTime<Utc>, sample: Sample) -> Option<Sample> {
        if self.readings.is_empty() {
            self.known_kinds.extend(produced(&sample));
            self.readings.push_back((now, sample));
            return None;
        }
        self.readings.push_back((now, sample));
        while self.readings.len() > 2 && self.readings[1].0 <= now - WINDOW {
            self.readings.pop_front();
        }
        let (first, last) = (
            &self.readings[0].1,
            &self.readings[self.readings.len() - 1].1,
        );
        self.window = last.since(first);
        Some(self.window.clone())
    }

    /// A figure in a worse band than at the last look, and error kinds not
    /// produced before, over the window.
    fn news(&mut self, shown: &Snapshot) -> Vec<News> {
        let mut news: Vec<News> = self
            .bands
            .worse(shown)
            .into_iter()
            .map(News::Band)
            .collect();
        for (kind, n) in unseen_kinds(&self.window, &self.known_kinds, &self.service) {
            self.known_kinds.insert(kind.clone());
            news.push(News::Kind(format!(
                "new error kind `{kind}` while watched: {n} of {} requests in the last {} minutes",
                self.window.requests,
                WINDOW.num_minutes()
            )));
        }
        news
    }
}

/// The error kinds a sample counts any of.
fn produced(sample: &Sample) -> impl Iterator<Item = String> + '_ {
    sample
        .errors_by_kind
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, _)| kind.clone())
}

/// Error kinds not in `known` whose share of the requests since success
/// is over the service's `new_error_kind` limit, once `min_requests` were
/// served: the trigger's own rule, so a stray error of a kind the previous
/// version also answered (and the release's short window never saw on this
/// one) is not news.
fn unseen_kinds(since: &Sample, known: &BTreeSet<String>, service: &Service) -> Vec<(String, u64)> {
    if since.requests < service.analysis.min_requests {
        return Vec::new();
    }
    let limit_pct = service.triggers.new_error_kind.threshold;
    since
        .errors_by_kind
        .iter()
        .filter(|(kind, n)| {
            !known.contains(*kind) && **n as f64 * 100.0 / since.requests as f64 > limit_pct
        })
        .map(|(kind, n)| (kind.clone(), *n))
        .collect()
}

/// "watching until 2026-12-01 14:05:00 UTC: error rate 0.10 % (OK), p95
/// 40 ms (OK) over 1204 requests in the last 5 minutes".
fn watching_reason(until: DateTime<Utc>, since: &Sample, bands: &Bands) -> String {
    let figure = |value: Option<f64>, band, unit: &str| match value {
        Some(v) => format!("{v:.2}{unit} ({})", BandLevel::of(v, band).word()),
        None => "-".to_string(),
    };
    format!(
        "watching until {}: error rate {}, p95 {} over {} requests in the last {} minutes",
        until.format("%Y-%m-%d %H:%M:%S UTC"),
        figure(since.error_rate_pct(), bands.error_rate, " %"),
        figure(since.p95_ms(), bands.p95_ms, " ms"),
        since.requests,
        WINDOW.num_minutes()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::one_local_service;

    fn service() -> Service {
        let config = crate::config::parse_str(
            &one_local_service("dev"),
            std::path::Path::new("h.toml"),
            &|_| None,
        )
        .unwrap();
        config.environments[0].services[0].clone()
    }

    /// Cumulative numbers: `requests`, and `errors` of each kind.
    fn sample(requests: u64, kinds: &[(&str, u64)]) -> Sample {
        Sample {
            requests,
            errors: kinds.iter().map(|(_, n)| n).sum(),
            errors_by_kind: kinds.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            ..Sample::default()
        }
    }

    #[test]
    fn the_window_keeps_the_last_five_minutes_and_a_stray_error_is_not_news() {
        let service = service();
        let mut judge = Judge::new(&service);
        let t0 = Utc::now();
        let minutes = |m| t0 + chrono::TimeDelta::minutes(m);
        // At success: it had answered some 503s during the release.
        assert!(
            judge
                .window(t0, sample(1_000, &[("http_503", 2)]))
                .is_none()
        );
        // One 500 in 1 000 requests: under the 1 % new-error-kind limit.
        let w = judge.window(
            minutes(1),
            sample(2_000, &[("http_503", 2), ("http_500", 1)]),
        );
        assert_eq!(w.map(|w| w.requests), Some(1_000));
        assert!(judge.news(&snapshot_of(&judge)).is_empty());
        // Ten minutes on, the window starts five minutes back, not at success.
        judge.window(
            minutes(6),
            sample(7_000, &[("http_503", 2), ("http_500", 1)]),
        );
        let w = judge
            .window(
                minutes(11),
                sample(
                    12_000,
                    &[("http_503", 40), ("http_500", 1), ("connect", 900)],
                ),
            )
            .unwrap();
        assert_eq!(w.requests, 5_000);
        // `connect` is new and 18 % of the window; 503s were known at success.
        let news = judge.news(&snapshot_of(&judge));
        let kinds: Vec<String> = news
            .iter()
            .filter_map(|n| match n {
                News::Kind(text) => Some(text.clone()),
                News::Band(_) => None,
            })
            .collect();
        assert_eq!(kinds.len(), 1, "{kinds:?}");
        assert!(
            kinds[0].starts_with("new error kind `connect`"),
            "{kinds:?}"
        );
        // Told once.
        assert!(
            judge
                .news(&snapshot_of(&judge))
                .iter()
                .all(|n| matches!(n, News::Band(_)))
        );
    }

    /// A snapshot carrying the judge's last window as the cockpit shows it.
    fn snapshot_of(judge: &Judge) -> Snapshot {
        let json = serde_json::json!({
            "target": { "env": "dev", "service": "checkout" },
            "release_id": "r", "stable_version": "v1", "new_version": "v2",
            "strategy": "canary", "phase": "succeeded", "reason": "", "step": 0,
            "steps": [], "desired_weight": 100, "actual_weight": 100,
            "new_error_rate_pct": judge.window.error_rate_pct(),
            "baseline_error_rate_pct": null, "new_p95_ms": null, "baseline_p95_ms": null,
            "new_requests": judge.window.requests, "baseline_requests": 0,
            "new_instances": { "healthy": 1, "total": 1 },
            "stable_instances": { "healthy": 0, "total": 0 },
            "verdicts": [], "metrics_at": null, "provider_error": null,
            "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        });
        serde_json::from_value(json).unwrap()
    }
}
