//! `[[notify]]`: who hears about a release, and of what. Each target is a
//! generic JSON webhook, a Slack-compatible incoming webhook, or a command
//! that reads the JSON on its standard input; each picks its events and
//! environments. URLs are secrets: never printed, never logged.

use std::time::Duration;

use serde::Serialize;

use super::model::Secret;

/// One `[[notify]]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotifyTarget {
    /// Named in logs and on screen instead of its URL.
    pub name: String,
    pub sink: Sink,
    /// What it is told about, in [`NotifyEvent::ALL`] order.
    pub events: Vec<NotifyEvent>,
    /// Only releases in these environments; every environment when empty.
    pub environments: Vec<String>,
    /// How long one delivery may take before it counts as failed.
    pub timeout: Duration,
    /// Deliveries tried again after a failure, with a growing wait between.
    pub retries: u32,
}

impl NotifyTarget {
    /// Whether `event` in `env` goes to this target.
    pub fn wants(&self, event: NotifyEvent, env: &str) -> bool {
        self.events.contains(&event)
            && (self.environments.is_empty() || self.environments.iter().any(|e| e == env))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Sink {
    /// POST of the message's JSON.
    Webhook { url: Secret },
    /// POST of a Slack incoming-webhook payload (`text` and `blocks`).
    Slack { url: Secret },
    /// The program (argv) run with the message's JSON on its standard input.
    Command { run: Vec<String> },
}

impl Sink {
    pub const TYPES: [&'static str; 3] = ["webhook", "slack", "command"];
}

/// What a target can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyEvent {
    /// A release started in an environment.
    Started,
    /// A release waits for a human at a manual gate.
    Waiting,
    /// A release took a step (a new weight, a switch, a batch).
    Step,
    RolledBack,
    Succeeded,
    /// Aborted, or failed (a backend, the journal, the release task).
    Failed,
    /// A preflight check or the quality gate refused a release.
    CheckFailed,
    /// The new version's error rate or p95 entered the ALERT or CRIT band.
    Alert,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 8] = [
        NotifyEvent::Started,
        NotifyEvent::Waiting,
        NotifyEvent::Step,
        NotifyEvent::RolledBack,
        NotifyEvent::Succeeded,
        NotifyEvent::Failed,
        NotifyEvent::CheckFailed,
        NotifyEvent::Alert,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NotifyEvent::Started => "started",
            NotifyEvent::Waiting => "waiting",
            NotifyEvent::Step => "step",
            NotifyEvent::RolledBack => "rolled-back",
            NotifyEvent::Succeeded => "succeeded",
            NotifyEvent::Failed => "failed",
            NotifyEvent::CheckFailed => "check-failed",
            NotifyEvent::Alert => "alert",
        }
    }

    pub fn named(name: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Every event but `step`, which a ten-step canary would send ten of.
    pub fn defaults() -> Vec<NotifyEvent> {
        NotifyEvent::ALL
            .into_iter()
            .filter(|e| *e != NotifyEvent::Step)
            .collect()
    }
}

pub mod defaults {
    use std::time::Duration;

    pub const TIMEOUT: Duration = Duration::from_secs(5);
    pub const RETRIES: u32 = 3;
}
