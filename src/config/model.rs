//! The validated configuration model. Everything here has already passed
//! validation (see `load`): weights are in range, steps go up, durations
//! parsed, `requires` names known environments, secrets resolved.
//!
//! TOML shape (every key is documented in `config.example.toml`):
//!
//! ```toml
//! [defaults]                 # optional: service settings shared by all services
//! [defaults.analysis] / [defaults.triggers] / [defaults.bands] / [defaults.health] / [defaults.metrics]
//!
//! [[environments]]
//! name = "prod"
//! requires = ["staging"]
//!
//! [environments.gate]                 # optional: a check every release here must pass first
//! [[environments.checks]]             # optional: preflight checks (see `preflight.rs`)
//!
//! [[environments.services]]
//! name = "checkout"
//! [environments.services.backend]     # type = "local"
//! [environments.services.strategy]    # kind = "canary" | "blue-green" | "rolling" | "feature-flag"
//! [environments.services.analysis]
//! [environments.services.triggers]
//! [environments.services.bands]
//! [environments.services.health]
//! [environments.services.metrics]     # type = "local" | "prometheus"
//! [[environments.services.checks]]
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::hooks::Hook;
use super::metrics::MetricsSource;
use super::migrations::Migrations;
use crate::strategy::Capability;

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Where the configuration came from (for messages and the cockpit header).
    pub source: PathBuf,
    /// In configuration order: the order releases are promoted in.
    pub environments: Vec<Environment>,
    /// Who hears about releases (`[[notify]]`).
    pub notify: Vec<super::notify::NotifyTarget>,
}

impl Config {
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    pub fn service(&self, env: &str, service: &str) -> Option<&Service> {
        self.environment(env)?
            .services
            .iter()
            .find(|s| s.name == service)
    }

    /// What a release of `service` through `envs` reads: every
    /// environment's name, requirements and checks, and that service's
    /// configuration in `envs` alone. A host driving hundreds of releases
    /// keeps one of these for each, not a copy of every service's
    /// configuration in every environment.
    pub fn narrowed_to(&self, service: &str, envs: &[String]) -> Config {
        let environments = self
            .environments
            .iter()
            .map(|e| Environment {
                name: e.name.clone(),
                requires: e.requires.clone(),
                services: match envs.contains(&e.name) {
                    true => e
                        .services
                        .iter()
                        .filter(|s| s.name == service)
                        .cloned()
                        .collect(),
                    false => Vec::new(),
                },
                preflight: e.preflight.clone(),
                watch_after: e.watch_after,
            })
            .collect();
        Config {
            source: self.source.clone(),
            environments,
            notify: self.notify.clone(),
        }
    }
}

/// "prod" and "production" are marked on screen, and steering a release
/// there asks for a confirmation (the cockpit's dialog, the verbs' `--yes`).
pub fn is_prod(env: &str) -> bool {
    env.eq_ignore_ascii_case("prod") || env.eq_ignore_ascii_case("production")
}

#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub name: String,
    /// Environments in which the same version of a service must have
    /// succeeded before it may be released here.
    pub requires: Vec<String>,
    pub services: Vec<Service>,
    /// The gate and the checks run before every release here.
    pub preflight: super::preflight::Preflight,
    /// How long the release host keeps reading a service's numbers after a
    /// release here succeeded (`watch_after`); none: it stops at success.
    pub watch_after: Option<Duration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    pub backend: Backend,
    pub strategy: Strategy,
    pub analysis: Analysis,
    pub triggers: Triggers,
    pub bands: Bands,
    pub health: HealthCheck,
    /// Where the analysis reads its numbers.
    pub metrics: MetricsSource,
    /// Its database migrations, run in step with the traffic.
    pub migrations: Option<Migrations>,
    /// The team's own commands and calls at the points of a release.
    pub hooks: Vec<Hook>,
    /// Where its migrations and hooks run: the configuration file's directory.
    pub workdir: PathBuf,
}

impl Service {
    /// Where the service's numbers come from, in words. A HAProxy service
    /// without Prometheus is judged on HAProxy's own counters.
    pub fn metrics_words(&self) -> String {
        match (&self.metrics, &self.backend) {
            (MetricsSource::Local, Backend::HaProxy(_)) => {
                "HAProxy's own counters (`show stat`; latency is its average response time, \
                 not a percentile)"
                    .to_string()
            }
            (metrics, _) => metrics.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Backend {
    /// helmsman's embedded weighted reverse proxy.
    Local(LocalBackend),
    /// Deployments and a Gateway API HTTPRoute in a Kubernetes cluster.
    Kubernetes(KubernetesBackend),
    /// The servers of a HAProxy backend, driven through its runtime API.
    #[serde(rename = "haproxy")]
    HaProxy(HaProxyBackend),
    /// A flag of a flagd flag file, in front of a data plane that counts
    /// requests by the variant that served them.
    Flagd(FlagdBackend),
}

impl Backend {
    /// What the backend can do to traffic: the strategies it runs are
    /// those that need nothing else. Its provider implements exactly these
    /// (a test in pipeline/backends.rs holds the two together), so a pair
    /// that cannot run is refused when the configuration is loaded.
    pub fn capabilities(&self) -> &'static [Capability] {
        use Capability::*;
        match self {
            Backend::Local(_) | Backend::HaProxy(_) => &[Weights, Switch, Rotation],
            Backend::Flagd(_) => &[FlagPercent],
            Backend::Kubernetes(k) => match k.split {
                KubernetesSplit::GatewayApi { .. } | KubernetesSplit::ReplicaRatio { .. } => {
                    &[Weights]
                }
                KubernetesSplit::ServiceSelector { .. } => &[Switch, Rotation],
                KubernetesSplit::RollingUpdate { .. } => &[Rotation],
            },
        }
    }

    /// The first thing `strategy` needs that the backend cannot do.
    pub fn lacks(&self, strategy: &Strategy) -> Option<Capability> {
        let can = self.capabilities();
        strategy
            .rollout()
            .needs()
            .iter()
            .find(|need| !can.contains(need))
            .copied()
    }

    /// The backend in a few words, for messages about the configuration.
    pub fn words(&self) -> String {
        match self {
            Backend::Local(_) => "the local data plane".to_string(),
            Backend::Kubernetes(k) => {
                format!("Kubernetes with `traffic = \"{}\"`", k.split.kind())
            }
            Backend::HaProxy(h) => format!("HAProxy backend `{}`", h.backend),
            Backend::Flagd(f) => format!("the flagd flag file {}", f.flag_file.display()),
        }
    }

    /// The embedded data plane in front of the service, if it has one.
    pub fn plane(&self) -> Option<&LocalBackend> {
        match self {
            Backend::Local(b) => Some(b),
            Backend::Flagd(f) => Some(&f.plane),
            Backend::Kubernetes(_) | Backend::HaProxy(_) => None,
        }
    }

    pub fn plane_mut(&mut self) -> Option<&mut LocalBackend> {
        match self {
            Backend::Local(b) => Some(b),
            Backend::Flagd(f) => Some(&mut f.plane),
            Backend::Kubernetes(_) | Backend::HaProxy(_) => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LocalBackend {
    /// Where the proxy accepts user traffic.
    pub listen: SocketAddr,
    /// Where the proxy serves `/metrics` (Prometheus text format).
    pub admin: SocketAddr,
    /// The version serving today.
    pub stable: String,
    /// Upstream instances of each known version, by version name.
    pub versions: BTreeMap<String, Vec<SocketAddr>>,
    /// Response header naming the error kind of a failed request
    /// (e.g. `x-error-kind: TimeoutException`); without it, kinds are
    /// `http_<status>` and `connect`.
    pub error_kind_header: Option<String>,
    /// Response header naming the flag variant that served a request; set
    /// for a `flagd` backend's data plane, whose versions are variants.
    pub variant_header: Option<String>,
    /// The bearer token of state-changing admin calls. `None` in a file
    /// means "generate one": the commands fill in the token generated into
    /// the state directory (`dataplane::admin_token`) before using it.
    pub admin_token: Option<Secret>,
    /// How the proxy and admin listeners treat slow or numerous clients.
    pub limits: ConnectionLimits,
}

impl LocalBackend {
    /// Why the admin address deserves a warning: it accepts connections from
    /// other hosts, and admin calls travel unencrypted.
    pub fn admin_exposure(&self) -> Option<String> {
        (!self.admin.ip().is_loopback()).then(|| {
            format!(
                "the admin API on {} is reachable from other hosts, unencrypted; \
                 bind it to 127.0.0.1 unless a firewall or tunnel protects it",
                self.admin
            )
        })
    }
}

/// A service behind a HAProxy backend whose servers are the instances of
/// each version. helmsman changes their weights and states at runtime; the
/// version serving today is read from HAProxy (the one whose servers are in
/// rotation), not written down.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HaProxyBackend {
    /// The runtime API at `level admin`: a stats socket or a TCP address.
    pub runtime_api: crate::providers::haproxy::Address,
    /// The `backend` section of haproxy.cfg holding the servers.
    pub backend: String,
    /// The servers of each known version, by version name.
    pub versions: BTreeMap<String, Vec<String>>,
}

/// A service whose new behaviour is behind a flag in a flagd flag file. The
/// release moves the share of evaluations that get the new variant; the
/// data plane in front of the service counts each request for the variant
/// its response names, so the triggers compare the variants.
#[derive(Debug, Clone, Serialize)]
pub struct FlagdBackend {
    /// The file flagd reads its flags from (it picks up each rewrite).
    pub flag_file: PathBuf,
    /// Who gets the new variant before any percentage does (`beta`).
    pub cohort: Option<crate::providers::flagd::file::Cohort>,
    /// The data plane: its versions are the flag's variants, each served
    /// by all of the service's instances, and `variant_header` is set.
    pub plane: LocalBackend,
}

/// Per-listener connection limits of the embedded data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnectionLimits {
    /// How long a client may take to send a complete request head, counted
    /// from when the connection starts waiting for it: on connecting, and
    /// after each response on a keep-alive connection (so it also bounds
    /// how long a keep-alive connection may sit idle between requests).
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves in either direction for this
    /// long is closed: a stalled upload, a client that stopped reading, or
    /// an upstream that takes this long to start answering.
    pub idle_timeout: Duration,
    /// Connections served at once per listener; more wait in the kernel's
    /// listen queue until one closes.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// A service running in Kubernetes: where the cluster is, the image of a
/// version, and the Deployments and Services its traffic kind moves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KubernetesBackend {
    /// A kubeconfig file; `None`: `$KUBECONFIG`, `~/.kube/config`, or the
    /// pod's service account when running in the cluster.
    pub kubeconfig: Option<String>,
    /// A context of the kubeconfig; `None`: its current context.
    pub context: Option<String>,
    pub namespace: String,
    /// How user traffic moves to the new version, with the Deployments
    /// and Services of that kind.
    pub split: KubernetesSplit,
    /// The container whose image is the version; `None`: the first.
    pub container: Option<String>,
    /// The image of a version, with `{version}` in it
    /// ("registry.example.com/checkout:{version}").
    pub image: String,
}

/// `traffic = "…"` of a Kubernetes backend, with the keys of that kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "traffic", rename_all = "kebab-case")]
pub enum KubernetesSplit {
    /// An HTTPRoute's backendRefs weights split traffic between two Services.
    GatewayApi {
        route: String,
        stable_service: String,
        canary_service: String,
        stable_deployment: String,
        canary_deployment: String,
        /// Replicas of the canary Deployment while a release runs.
        canary_replicas: u32,
    },
    /// One Service selects the pods of both Deployments: the canary's share
    /// is its share of the ready replicas.
    ReplicaRatio {
        service: String,
        stable_deployment: String,
        canary_deployment: String,
        /// Replicas of stable and canary together.
        replicas: u32,
        /// Stable replicas never go below this during a release.
        min_stable: u32,
    },
    /// Blue-green: two Deployments (slots) whose pod templates carry
    /// `selector_label: <slot>`; the active Service's selector names the
    /// live slot, the preview Service's the one being validated.
    ServiceSelector {
        active_service: String,
        preview_service: String,
        blue_deployment: String,
        green_deployment: String,
        /// The pod label both Services select a slot by ("slot").
        selector_label: String,
    },
    /// Kubernetes rolls one Deployment to the new image; helmsman pauses
    /// it at each of the engine's batches (a rolling release).
    RollingUpdate { deployment: String },
}

/// Each Kubernetes traffic kind and the strategy it releases with.
pub const KUBERNETES_PAIRINGS: &[(&str, &str)] = &[
    ("gateway-api", "canary"),
    ("replica-ratio", "canary"),
    ("service-selector", "blue-green"),
    ("rolling-update", "rolling"),
];

impl KubernetesSplit {
    /// The `traffic = "…"` name of this kind.
    pub fn kind(&self) -> &'static str {
        match self {
            KubernetesSplit::GatewayApi { .. } => "gateway-api",
            KubernetesSplit::ReplicaRatio { .. } => "replica-ratio",
            KubernetesSplit::ServiceSelector { .. } => "service-selector",
            KubernetesSplit::RollingUpdate { .. } => "rolling-update",
        }
    }

    /// Whether this kind can run a release of `strategy`.
    pub fn runs(&self, strategy: &Strategy) -> bool {
        KUBERNETES_PAIRINGS.contains(&(self.kind(), strategy.name()))
    }
}

/// The traffic kinds that run `strategy` ("blue-green"), as `traffic = "…"`.
pub fn kubernetes_kinds_for(strategy: &str) -> Vec<String> {
    KUBERNETES_PAIRINGS
        .iter()
        .filter(|(_, s)| *s == strategy)
        .map(|(kind, _)| format!("`traffic = \"{kind}\"`"))
        .collect()
}

/// A service's strategy: its settings and behaviour live in `crate::strategy`.
pub use crate::strategy::Strategy;

/// One step of a canary or feature-flag release.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Send this percentage of traffic (or of flag evaluations) to the new version.
    Weight(u8),
    /// Wait this long (the triggers keep watching).
    Pause(Duration),
    /// Wait for a human to advance.
    ManualGate,
    /// Judge the new version over this window; advance only on a pass.
    Analysis(Duration),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Weight(w) => write!(f, "set weight {w}%"),
            Step::Pause(d) => write!(f, "pause {}", crate::config::duration::format(*d)),
            Step::ManualGate => write!(f, "manual gate"),
            Step::Analysis(d) => write!(f, "analysis {}", crate::config::duration::format(*d)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// How often metrics are read and the triggers judged.
    pub interval: Duration,
    /// Minimum requests on the new version (and on the baseline) before a
    /// trigger may judge; below it the verdict is "not enough evidence".
    pub min_requests: u64,
    /// How sure a verdict must be: each confidence bound a trigger acts on
    /// holds with this probability (0.5 < confidence < 1).
    pub confidence: f64,
    /// The share of a trigger's threshold tolerated without a rollback
    /// (0 < tolerance < 1): with 0.5, an error rate +2.5 points over the
    /// baseline is tolerated, +5 is the regression that must be caught.
    pub tolerance: f64,
    /// Failed metrics reads in a row that only hold the release; the next
    /// one rolls it back (Argo Rollouts' `consecutiveErrorLimit`). A short
    /// outage holds, metrics gone for good never leave users on an unjudged
    /// version.
    pub max_failed_reads: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Triggers {
    pub error_rate: Trigger,
    pub p95_latency: Trigger,
    pub unhealthy_instances: Trigger,
    pub new_error_kind: Trigger,
}

/// An automatic rollback trigger: fires when the new version is worse than
/// `threshold` allows and, for a trigger with an `after`, stays so for that
/// long.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trigger {
    pub enabled: bool,
    /// error_rate: percentage points over baseline; p95_latency: ratio to
    /// baseline; unhealthy_instances and new_error_kind: percent.
    pub threshold: f64,
    /// How long a regression must hold before the trigger fires, counted
    /// from when it began; zero: at once.
    pub after: Duration,
    /// This trigger's own share of the threshold tolerated without a
    /// rollback; `None`: `analysis.tolerance`.
    pub tolerance: Option<f64>,
    /// p95_latency only: an increase smaller than this is no regression,
    /// whatever the ratio (a tolerated share of it likewise).
    pub min_increase: Duration,
}

impl Trigger {
    /// The share of the threshold tolerated: the trigger's own, or the
    /// analysis-wide one.
    pub fn tolerance(&self, analysis: &Analysis) -> f64 {
        self.tolerance.unwrap_or(analysis.tolerance)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bands {
    /// Error rate in percent.
    pub error_rate: Band,
    /// p95 latency in milliseconds.
    pub p95_ms: Band,
}

/// Alert bands a gauge is drawn against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub target: f64,
    pub alert: f64,
    pub critical: f64,
}

/// Which band a value is in: up to `alert`, past it, past `critical`
/// (ordered so: a level above another is worse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BandLevel {
    Ok,
    Alert,
    Crit,
}

impl BandLevel {
    pub fn of(value: f64, band: Band) -> BandLevel {
        if value > band.critical {
            BandLevel::Crit
        } else if value > band.alert {
            BandLevel::Alert
        } else {
            BandLevel::Ok
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            BandLevel::Ok => "OK",
            BandLevel::Alert => "ALERT",
            BandLevel::Crit => "CRIT",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Extra request headers; values may be `${VAR}` secrets.
    pub headers: BTreeMap<String, Secret>,
}

/// A value resolved from `${VAR}` (or given literally). Its Debug, Display
/// and Serialize forms never show the value.
#[derive(Clone, PartialEq)]
pub struct Secret {
    value: String,
    /// The variable it came from, if any, for messages.
    var: Option<String>,
}

impl Secret {
    pub fn new(value: String, var: Option<String>) -> Self {
        Self { value, var }
    }

    /// The secret value itself. Only for handing to a provider.
    pub fn expose(&self) -> &str {
        &self.value
    }

    fn redacted(&self) -> String {
        match &self.var {
            Some(var) => format!("${{{var}}} (redacted)"),
            None => "(redacted)".to_string(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

/// The built-in defaults: the product's documented thresholds and steps.
pub mod defaults {
    use super::*;

    pub fn analysis() -> Analysis {
        Analysis {
            interval: Duration::from_secs(10),
            min_requests: 100,
            confidence: 0.99,
            tolerance: 0.5,
            max_failed_reads: 4,
        }
    }

    pub fn triggers() -> Triggers {
        Triggers {
            error_rate: Trigger {
                enabled: true,
                threshold: 5.0,
                after: Duration::ZERO,
                tolerance: None,
                min_increase: Duration::ZERO,
            },
            p95_latency: Trigger {
                enabled: true,
                threshold: 2.0,
                after: Duration::from_secs(120),
                tolerance: None,
                min_increase: Duration::from_millis(50),
            },
            unhealthy_instances: Trigger {
                enabled: true,
                threshold: 10.0,
                after: Duration::ZERO,
                tolerance: None,
                min_increase: Duration::ZERO,
            },
            // A share with no baseline noise, watched for five minutes: a
            // narrower grey zone costs little, and a kind at 0.7 % is not
            // "more than 1 %".
            new_error_kind: Trigger {
                enabled: true,
                threshold: 1.0,
                after: Duration::from_secs(300),
                tolerance: Some(0.75),
                min_increase: Duration::ZERO,
            },
        }
    }

    pub fn bands() -> Bands {
        Bands {
            error_rate: Band {
                target: 0.1,
                alert: 0.5,
                critical: 1.0,
            },
            p95_ms: Band {
                target: 300.0,
                alert: 500.0,
                critical: 1000.0,
            },
        }
    }

    pub fn health() -> HealthCheck {
        HealthCheck {
            path: "/healthz".to_string(),
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            headers: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let s = Secret::new("hunter2".into(), Some("API_TOKEN".into()));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
        assert!(format!("{s}").contains("API_TOKEN"));
        assert_eq!(s.expose(), "hunter2");
    }
}
