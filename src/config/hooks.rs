//! The team's own commands and HTTP calls at the points of a release, as
//! configured (validated by `load/hooks.rs`, run by `crate::jobs`).
//!
//! ```toml
//! [[environments.services.hooks]]
//! at = "pre_step"                   # pre_release, pre_step, post_step,
//!                                   # post_release, on_rollback, confirm, preview
//! run = ["./smoke.sh"]              # or url = "https://ci.internal/hooks/release"
//! timeout = "30s"
//! retries = 1
//! on_failure = "hold"               # pre hooks: "refuse" (default) or "hold"
//! ```

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::model::Secret;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hook {
    /// Its name in events and the report (default: the program or the URL's host).
    pub name: String,
    pub at: HookPoint,
    pub action: HookAction,
    /// One try still running after this fails (a command is killed).
    pub timeout: Duration,
    /// Tries after a failed one. A confirm gate tries until it passes.
    pub retries: u32,
    /// What a failing pre hook does.
    pub on_failure: OnFailure,
    /// A confirm gate's wait between tries.
    pub every: Duration,
}

/// A command (an argv) or an HTTP POST of the release's context as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookAction {
    Command { run: Vec<String> },
    Http { url: Secret },
}

/// Where in a release a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookPoint {
    /// After the preflight checks, before anything moves: a failure
    /// refuses the release.
    PreRelease,
    /// Before each step that moves traffic.
    PreStep,
    /// After each step that moved traffic: a failure is reported.
    PostStep,
    /// Once the release succeeded: a failure is reported.
    PostRelease,
    /// Once a rollback brought the traffic back: it never delays it.
    OnRollback,
    /// Before the new version takes all the traffic: waits until it passes.
    Confirm,
    /// Blue-green: against the preview, before the switch (a smoke suite);
    /// a failure rolls the release back.
    Preview,
}

impl HookPoint {
    pub const NAMES: [&str; 7] = [
        "pre_release",
        "pre_step",
        "post_step",
        "post_release",
        "on_rollback",
        "confirm",
        "preview",
    ];

    pub fn name(self) -> &'static str {
        match self {
            HookPoint::PreRelease => "pre_release",
            HookPoint::PreStep => "pre_step",
            HookPoint::PostStep => "post_step",
            HookPoint::PostRelease => "post_release",
            HookPoint::OnRollback => "on_rollback",
            HookPoint::Confirm => "confirm",
            HookPoint::Preview => "preview",
        }
    }

    pub fn from_name(name: &str) -> Option<HookPoint> {
        [
            HookPoint::PreRelease,
            HookPoint::PreStep,
            HookPoint::PostStep,
            HookPoint::PostRelease,
            HookPoint::OnRollback,
            HookPoint::Confirm,
            HookPoint::Preview,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    /// Whether a failure here can keep the release from going on.
    pub fn is_pre(self) -> bool {
        matches!(self, HookPoint::PreRelease | HookPoint::PreStep)
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a failing pre hook does to the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// pre_release: the release is refused, nothing moved; pre_step: the
    /// step is refused and the release rolled back.
    Refuse,
    /// The release pauses before the step; resuming runs the hook again.
    Hold,
}

pub mod defaults {
    use std::time::Duration;

    pub const TIMEOUT: Duration = Duration::from_secs(60);
    pub const EVERY: Duration = Duration::from_secs(10);
}
