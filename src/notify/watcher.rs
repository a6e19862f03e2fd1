//! The pipeline's news, as notifications: a watcher that passes everything
//! to the front end's own watcher and turns what targets may hear of into
//! messages — a release started, a step taken, a gate waiting for a human,
//! a rollback, a success, a failure, checks that refused a release, and
//! the new version's figures entering an alert band (watched on each
//! release's snapshots by a task of its own). Deliveries that fail are
//! passed on to the front end as notices.

use std::collections::HashMap;

use tokio::sync::watch;

use super::bands::BandWatch;
use super::message::Message;
use super::{Notifier, Outbox};
use crate::config::notify::NotifyEvent;
use crate::config::{Bands, Config};
use crate::engine::{Event, Phase, Snapshot};
use crate::pipeline::{Attached, ReleaseRequest, Watcher};
use crate::preflight::{CheckStatus, Report};

pub struct Notifying<'w> {
    inner: &'w mut dyn Watcher,
    notifier: Notifier,
    deployment: String,
    service: String,
    version: String,
    /// Each environment's alert bands for the service.
    bands: HashMap<String, Bands>,
    /// Each started release's latest state, by environment.
    releases: HashMap<String, watch::Receiver<Snapshot>>,
    /// The step each release was last at, by environment.
    steps: HashMap<String, usize>,
    first_env: Option<String>,
    last_started: Option<String>,
}

impl<'w> Notifying<'w> {
    pub fn new(
        inner: &'w mut dyn Watcher,
        config: &Config,
        request: &ReleaseRequest,
        deployment: &str,
    ) -> Notifying<'w> {
        let bands = request
            .envs
            .iter()
            .filter_map(|env| {
                let service = config.service(env, &request.service)?;
                Some((env.clone(), service.bands.clone()))
            })
            .collect();
        Notifying {
            inner,
            notifier: Notifier::start(&config.notify),
            deployment: deployment.to_string(),
            service: request.service.clone(),
            version: request.version.clone(),
            bands,
            releases: HashMap::new(),
            steps: HashMap::new(),
            first_env: request.envs.first().cloned(),
            last_started: None,
        }
    }

    /// A deployment that failed outside any release's events (a backend,
    /// the journal, the release task): `failed`, in the environment it
    /// last started a release in (else its first).
    pub fn failed(&mut self, why: &str) {
        let env = self
            .last_started
            .clone()
            .or_else(|| self.first_env.clone())
            .unwrap_or_default();
        let message = match self.releases.get(&env) {
            Some(snapshots) => Message::of_release(
                NotifyEvent::Failed,
                &self.deployment,
                &snapshots.borrow(),
                why,
            ),
            None => Message::bare(
                NotifyEvent::Failed,
                &self.deployment,
                &env,
                &self.service,
                &self.version,
                why,
            ),
        };
        self.notifier.outbox().send(message);
    }

    /// Passes on what could not be delivered so far.
    pub fn finish(mut self) {
        self.pass_failures_on();
    }

    fn pass_failures_on(&mut self) {
        for failure in self.notifier.failures() {
            self.inner.notice(&failure.to_string());
        }
    }

    /// What an engine event is news of, if anything.
    fn news(&mut self, event: &Event) -> Option<NotifyEvent> {
        let last_step = self.steps.insert(event.env.clone(), event.step);
        match event.to {
            Phase::WaitingForHuman if event.from != Phase::WaitingForHuman => {
                Some(NotifyEvent::Waiting)
            }
            Phase::RolledBack => Some(NotifyEvent::RolledBack),
            Phase::Succeeded => Some(NotifyEvent::Succeeded),
            Phase::Aborted => Some(NotifyEvent::Failed),
            Phase::Progressing | Phase::Promoting | Phase::Analysing
                if last_step != Some(event.step) =>
            {
                Some(NotifyEvent::Step)
            }
            _ => None,
        }
    }
}

impl Watcher for Notifying<'_> {
    fn event(&mut self, event: &Event) {
        self.pass_failures_on();
        self.inner.event(event);
        let Some(news) = self.news(event) else {
            return;
        };
        let Some(snapshots) = self.releases.get(&event.env) else {
            return;
        };
        let message =
            Message::of_release(news, &self.deployment, &snapshots.borrow(), &event.reason)
                .caused_by(event);
        self.notifier.outbox().send(message);
    }

    fn preflight(&mut self, report: &Report) {
        self.pass_failures_on();
        self.inner.preflight(report);
        if report.status == CheckStatus::Fail {
            let why = report.refusal().unwrap_or_default();
            self.notifier.outbox().send(Message::bare(
                NotifyEvent::CheckFailed,
                &self.deployment,
                &report.env,
                &self.service,
                &self.version,
                &why,
            ));
        }
    }

    fn started(&mut self, release: Attached) {
        self.pass_failures_on();
        let env = release.target.env.clone();
        let snapshots = release.snapshots.clone();
        let started = Message::of_release(
            NotifyEvent::Started,
            &self.deployment,
            &snapshots.borrow(),
            "",
        );
        self.notifier.outbox().send(started);
        if let Some(bands) = self.bands.get(&env)
            && self.notifier.wants(NotifyEvent::Alert, &env)
        {
            tokio::spawn(watch_bands(
                snapshots.clone(),
                bands.clone(),
                self.notifier.outbox().clone(),
                self.deployment.clone(),
            ));
        }
        self.last_started = Some(env.clone());
        self.releases.insert(env, snapshots);
        self.inner.started(release);
    }

    fn notice(&mut self, text: &str) {
        self.inner.notice(text);
    }
}

/// Sends `alert` each time the new version's error rate or p95 enters a
/// worse band than it was in, until the release ends. The bands never roll
/// a release back: the triggers do.
async fn watch_bands(
    mut snapshots: watch::Receiver<Snapshot>,
    bands: Bands,
    outbox: Outbox,
    deployment: String,
) {
    let mut watch = BandWatch::new(bands);
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        for crossing in watch.worse(&snapshot) {
            let message = Message::of_release(NotifyEvent::Alert, &deployment, &snapshot, "")
                .with_band(crossing);
            outbox.send(message);
        }
        // The last reading is judged too: a rollback may come with it.
        if snapshot.phase.is_finished() || snapshots.changed().await.is_err() {
            return;
        }
    }
}
