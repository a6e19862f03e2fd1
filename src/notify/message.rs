//! What a notification says: the event, the release it is about, and the
//! numbers behind it. Every target gets this JSON (a Slack target a
//! rendering of it); `docs/notifications.md` lists the fields.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::notify::NotifyEvent;
use crate::engine::{Actor, Snapshot, Verdict};

/// The version of the message's shape.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub schema_version: u32,
    pub event: NotifyEvent,
    pub at: DateTime<Utc>,
    /// One line for a person: what happened, where, with its numbers.
    pub summary: String,
    pub deployment: String,
    /// None when the release never started (a check refused it).
    pub release_id: Option<String>,
    pub env: String,
    pub service: String,
    pub stable_version: Option<String>,
    pub new_version: String,
    pub strategy: Option<String>,
    /// The phase after the event, as the cockpit names it.
    pub phase: Option<String>,
    /// 1-based step and the step count.
    pub step: Option<usize>,
    pub steps: Option<usize>,
    /// Traffic on the new version, percent.
    pub weight: Option<u8>,
    pub reason: String,
    pub actor: Option<Actor>,
    pub figures: Option<Figures>,
    /// The verdict that caused it, when a trigger did.
    pub verdict: Option<Verdict>,
    /// For `alert`: the figure and the band it entered.
    pub band: Option<BandCrossing>,
    /// When the release ended: how to get its deployment report.
    pub report: Option<String>,
}

/// The new version's numbers against its baseline's, as last read.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub new_error_rate_pct: Option<f64>,
    pub baseline_error_rate_pct: Option<f64>,
    pub new_p95_ms: Option<f64>,
    pub baseline_p95_ms: Option<f64>,
    pub new_requests: u64,
    pub baseline_requests: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BandCrossing {
    /// `error rate` or `p95 latency`.
    pub figure: String,
    /// `ALERT` or `CRIT`.
    pub level: String,
    pub value: f64,
    pub alert: f64,
    pub critical: f64,
    pub unit: String,
}

impl Figures {
    pub fn of(snapshot: &Snapshot) -> Figures {
        Figures {
            new_error_rate_pct: snapshot.new_error_rate_pct,
            baseline_error_rate_pct: snapshot.baseline_error_rate_pct,
            new_p95_ms: snapshot.new_p95_ms,
            baseline_p95_ms: snapshot.baseline_p95_ms,
            new_requests: snapshot.new_requests,
            baseline_requests: snapshot.baseline_requests,
        }
    }
}

impl Message {
    /// A message about the release `snapshot` is the state of.
    pub fn of_release(
        event: NotifyEvent,
        deployment: &str,
        snapshot: &Snapshot,
        reason: &str,
    ) -> Message {
        let mut message = Message::bare(
            event,
            deployment,
            &snapshot.target.env,
            &snapshot.target.service,
            &snapshot.new_version,
            reason,
        );
        message.release_id = Some(snapshot.release_id.clone());
        message.stable_version = Some(snapshot.stable_version.clone());
        message.strategy = Some(snapshot.strategy.clone());
        message.phase = Some(snapshot.phase.words().to_string());
        message.step = Some(snapshot.step + 1);
        message.steps = Some(snapshot.steps.len());
        // A finished release's last read-back may predate its last step.
        message.weight = Some(match snapshot.phase.is_finished() {
            true => snapshot.desired_weight,
            false => snapshot.actual_weight.unwrap_or(snapshot.desired_weight),
        });
        message.figures = Some(Figures::of(snapshot));
        if matches!(
            event,
            NotifyEvent::Succeeded | NotifyEvent::RolledBack | NotifyEvent::Failed
        ) {
            message.report = Some(format!("helmsman report {deployment}"));
        }
        message.summary = message.summarize();
        message
    }

    /// A message with only what is known before a release starts.
    pub fn bare(
        event: NotifyEvent,
        deployment: &str,
        env: &str,
        service: &str,
        version: &str,
        reason: &str,
    ) -> Message {
        let mut message = Message {
            schema_version: SCHEMA_VERSION,
            event,
            at: Utc::now(),
            summary: String::new(),
            deployment: deployment.to_string(),
            release_id: None,
            env: env.to_string(),
            service: service.to_string(),
            stable_version: None,
            new_version: version.to_string(),
            strategy: None,
            phase: None,
            step: None,
            steps: None,
            weight: None,
            reason: reason.to_string(),
            actor: None,
            figures: None,
            verdict: None,
            band: None,
            report: None,
        };
        message.summary = message.summarize();
        message
    }

    /// Sets what the engine's `event` says: who caused it, the verdict
    /// behind it, and the step and traffic after it.
    pub fn caused_by(mut self, event: &crate::engine::Event) -> Message {
        // The event is the news: the snapshot read beside it may not have
        // caught up with it yet.
        self.phase = Some(event.to.words().to_string());
        self.actor = Some(event.actor.clone());
        self.verdict = event.verdict.clone();
        self.step = Some(event.step + 1);
        self.steps = Some(event.steps);
        self.weight = Some(event.weight);
        self.summary = self.summarize();
        self
    }

    /// Sets why it is sent, and says so in the summary.
    pub fn because(mut self, reason: &str) -> Message {
        self.reason = reason.to_string();
        self.summary = self.summarize();
        self
    }

    /// Sets what entered a band, and says so in the summary.
    pub fn with_band(mut self, band: BandCrossing) -> Message {
        self.band = Some(band);
        self.summary = self.summarize();
        self
    }

    /// "prod/checkout v1.4.2 → v1.5.0: rolled back at 25 % — error rate …".
    fn summarize(&self) -> String {
        let versions = match &self.stable_version {
            Some(stable) => format!("{stable} → {}", self.new_version),
            None => self.new_version.clone(),
        };
        let what = match self.event {
            NotifyEvent::Started => "release started".to_string(),
            NotifyEvent::Waiting => "waits for a human".to_string(),
            NotifyEvent::Step => match (self.step, self.steps) {
                (Some(step), Some(steps)) => format!("step {step} of {steps}"),
                _ => "step".to_string(),
            },
            NotifyEvent::RolledBack => "rolled back".to_string(),
            NotifyEvent::Succeeded => "succeeded".to_string(),
            NotifyEvent::Failed => "failed".to_string(),
            NotifyEvent::CheckFailed => "refused by its checks".to_string(),
            NotifyEvent::Alert => match &self.band {
                Some(b) => format!(
                    "{} {:.2}{} entered the {} band (alert {}{}, critical {}{})",
                    b.figure, b.value, b.unit, b.level, b.alert, b.unit, b.critical, b.unit
                ),
                None => "alert".to_string(),
            },
        };
        let weight = self.weight.map_or(String::new(), |w| format!(" at {w} %"));
        let reason = if self.reason.is_empty() {
            String::new()
        } else {
            format!(" — {}", self.reason)
        };
        crate::redact::redact(&format!(
            "{}/{} {versions}: {what}{weight}{reason}",
            self.env, self.service
        ))
        .into_owned()
    }
}
