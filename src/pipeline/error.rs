//! Why a release (or its plan) did not run, one variant per reason, each
//! with what the user needs to act on it. Front ends map the variants to
//! an exit code and an outcome; the words are here, once.

use std::path::PathBuf;

use crate::engine::Target;
use crate::interrupt::StopReason;
use crate::providers::ProviderError;
use crate::providers::traffic::kubernetes::lease::HeldLease;
use crate::store::StoreError;
use crate::strategy::Capability;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("no environment `{env}` in {}; known: {}", config.display(), known.join(", "))]
    UnknownEnvironment {
        env: String,
        config: PathBuf,
        known: Vec<String>,
    },
    #[error("no service `{service}` in environment `{env}`; known: {}", known.join(", "))]
    UnknownService {
        env: String,
        service: String,
        known: Vec<String>,
    },
    #[error(
        "{target}: version `{version}` has no upstreams in the configuration; known versions: {}",
        known.join(", ")
    )]
    UnknownVersion {
        target: Target,
        version: String,
        known: Vec<String>,
    },
    /// A Kubernetes traffic kind runs one strategy; `--strategy` asked another.
    #[error(
        "{target}: its kubernetes traffic `{traffic}` cannot run {strategy} releases ({}); \
         drop --strategy to use the configured one",
        match kinds.as_slice() {
            [] => "no Kubernetes traffic kind runs them yet".to_string(),
            _ => format!("they need {}", kinds.join(" or ")),
        }
    )]
    TrafficCannotRun {
        target: Target,
        traffic: &'static str,
        strategy: &'static str,
        /// The traffic kinds that run the strategy, as configured.
        kinds: Vec<String>,
    },
    #[error(
        "{target}: a {strategy} release needs a backend that can {}, and {backend} cannot; \
         choose another --strategy, or configure a backend that can",
        missing.words()
    )]
    BackendLacks {
        target: Target,
        strategy: &'static str,
        missing: Capability,
        backend: String,
    },
    /// `requires`: the version has not succeeded where it must first.
    #[error(
        "{target}: refused: {} requires {} {version} to have succeeded in {required} first, \
         and it has not (release it there first: --env {required})",
        target.env, target.service
    )]
    NotYetIn {
        target: Target,
        version: String,
        required: String,
    },
    #[error("{target} already runs {version}: nothing to release")]
    AlreadyRuns { target: Target, version: String },
    #[error(
        "{target}: cannot read the traffic state: {source} (is the data plane running? start it \
         with `helmsman serve`)"
    )]
    TrafficUnreadable {
        target: Target,
        source: ProviderError,
    },
    #[error("{target}: the release task failed: {source}")]
    TaskFailed {
        target: Target,
        source: tokio::task::JoinError,
    },
    /// A preflight check or the gate failed: nothing was started.
    #[error("{target}: refused: {why}")]
    Blocked { target: Target, why: String },
    /// Asked to stop (a signal, a closed terminal) before a release started.
    #[error(
        "{target}: not started: stopped by {reason} before its release began; nothing was \
         changed there"
    )]
    Interrupted { target: Target, reason: StopReason },
    /// Another machine drives a release of the Kubernetes service: its
    /// Lease has a live holder.
    #[error("{target}: refused: {held}")]
    LeaseHeld {
        target: Target,
        held: Box<HeldLease>,
    },
    /// The Lease could not be read or written: nothing was started.
    #[error("{target}: not started: cannot take its Lease: {source}")]
    LeaseUnavailable {
        target: Target,
        source: ProviderError,
    },
    /// A migration set must complete where `requires` names first.
    #[error(
        "{target}: refused: its migrations (set {}) have not completed in {required} ({why}); \
         release there first: --env {required}",
        &digest[..12.min(digest.len())]
    )]
    MigrationsNotYetIn {
        target: Target,
        required: String,
        digest: String,
        why: String,
    },
    /// A pre_release hook or expand failed: nothing moved.
    #[error("{target}: refused: {} — nothing moved", run.describe())]
    JobRefused {
        target: Target,
        run: Box<crate::jobs::JobRun>,
    },
    /// Releasing the version a contract left behind.
    #[error(
        "{target}: refused: the schema no longer fits {version}: the contract of {contracted}'s \
         migrations ran at {at}; pass --force to release {version} anyway"
    )]
    SchemaContracted {
        target: Target,
        version: String,
        contracted: String,
        at: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PipelineError {
    /// What the user must fix on the command line or in the configuration.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            PipelineError::UnknownEnvironment { .. }
                | PipelineError::UnknownService { .. }
                | PipelineError::UnknownVersion { .. }
                | PipelineError::TrafficCannotRun { .. }
                | PipelineError::BackendLacks { .. }
        )
    }

    /// Refused by what the history or the backend says (not a fault).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            PipelineError::NotYetIn { .. }
                | PipelineError::MigrationsNotYetIn { .. }
                | PipelineError::JobRefused { .. }
                | PipelineError::SchemaContracted { .. }
                | PipelineError::AlreadyRuns { .. }
                | PipelineError::Store(StoreError::Held { .. })
                | PipelineError::LeaseHeld { .. }
        )
    }
}
