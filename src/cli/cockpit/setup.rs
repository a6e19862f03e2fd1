//! Opening the cockpit over a configuration: the one setup that
//! `helmsman tui` and `helmsman demo` share, so what the cockpit shows of a
//! configuration cannot differ between the two. What differs (the history
//! a release started here is checked against, what the demo assumes) is
//! passed in.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Contractor, Forward, Starter, Update};
use crate::cli::{ExitCode, operator};
use crate::config::{Backend, Config};
use crate::engine::{ReleaseResult, Target};
use crate::pipeline::{self, ReleaseRequest, contract};
use crate::preflight::{self, Selection};
use crate::store::{History, MigrationPhase, StoreError};
use crate::tui::{Cockpit, EnvInfo, HeaderInfo, ServiceInfo, StartRequest};

/// What the cockpit shows of a version it does not know yet.
const UNKNOWN_VERSION: &str = "?";

/// A cockpit ready to run, with the channel its updates arrive on.
pub struct Opened {
    pub cockpit: Cockpit,
    /// The state directory whose journal reports are read from and
    /// written under; none for the demo, whose journal is its own.
    pub journal: Option<std::path::PathBuf>,
    pub updates_tx: mpsc::UnboundedSender<Update>,
    pub updates_rx: mpsc::UnboundedReceiver<Update>,
}

impl Opened {
    /// Runs the cockpit until the operator quits (attached to `host`, if
    /// any). Returns the exit code.
    pub async fn run(
        self,
        starter: Starter,
        contractor: Contractor,
        host: Option<super::HostLink>,
    ) -> ExitCode {
        let shell = super::Shell::new(starter, contractor, host, self.journal);
        super::run(self.cockpit, self.updates_tx, self.updates_rx, shell).await
    }
}

/// The cockpit over `config`, headed `config_label`: its numbers go stale
/// at each service's own analysis interval, and its work in the background
/// is started: every environment's checks, and the version each service
/// runs.
pub fn open(config: &Arc<Config>, config_label: String, read_only: bool) -> Opened {
    let envs = environments_of(config);
    let (updates_tx, updates_rx) = mpsc::unbounded_channel();
    read_running_in_background(config, &envs, &updates_tx);
    let mut cockpit = Cockpit::new(
        HeaderInfo {
            config_label,
            operator: operator::current(),
            host: None,
        },
        envs,
        read_only,
    );
    for (target, service) in services_of(config) {
        cockpit.set_analysis_interval(target, service.analysis.interval);
    }
    check_in_background(config, &mut cockpit, &updates_tx);
    Opened {
        journal: None,
        cockpit,
        updates_tx,
        updates_rx,
    }
}

/// Where each service's migrations stood when the cockpit opened, from
/// the journal of `history`.
pub fn show_migration_states(config: &Config, history: &History, cockpit: &mut Cockpit) {
    for (target, service) in services_of(config) {
        if service.migrations.is_none() {
            continue;
        }
        if let Ok(Some(state)) = history.migration_state(&target) {
            // A failure names its phase ("contract failed: exit 1"), as the
            // cockpit says it when it sees the run.
            let phase = match state.phase {
                MigrationPhase::Failed => state.detail.split_once(':').map_or("failed", |(p, _)| p),
                phase => phase.words(),
            };
            cockpit.set_migration_phase(&target, phase);
        }
    }
}

/// Runs the checks of every environment that has any in the background
/// (the cockpit draws meanwhile), each report arriving as an update.
fn check_in_background(
    config: &Arc<Config>,
    cockpit: &mut Cockpit,
    updates: &mpsc::UnboundedSender<Update>,
) {
    for env in config
        .environments
        .iter()
        .filter(|e| !e.preflight.is_empty())
    {
        cockpit.checks_running(&env.name);
        let (config, updates, name) = (config.clone(), updates.clone(), env.name.clone());
        tokio::spawn(async move {
            let env = config.environment(&name).expect("listed above");
            let report = preflight::run(env, Selection::Everything).await;
            let _ = updates.send(Update::Preflight(report));
        });
    }
}

/// Asks, in the background, the version each service runs, through the
/// pipeline a release starts from, so the cockpit shows what a release
/// would start from. Where the configuration names no version (Kubernetes:
/// any image tag) each is asked at once, and one that cannot answer says
/// why in the status line. The others show their configured version
/// meanwhile and are asked one after another, quietly: a data plane that is
/// not running is said by the release started there, and a burst of
/// clients while the cockpit opens would hold up its first frames.
fn read_running_in_background(
    config: &Arc<Config>,
    shown: &[EnvInfo],
    updates: &mpsc::UnboundedSender<Update>,
) {
    let (unknown, known): (Vec<Target>, Vec<Target>) = services_of(config)
        .map(|(target, _)| target)
        .partition(|target| {
            shown
                .iter()
                .filter(|e| e.name == target.env)
                .flat_map(|e| &e.services)
                .any(|s| s.name == target.service && s.stable_version == UNKNOWN_VERSION)
        });
    for target in unknown {
        let (config, updates) = (config.clone(), updates.clone());
        tokio::spawn(async move {
            let update = match read_running(&config, &target).await {
                Ok(version) => Update::Deployed(target, version),
                Err(e) => Update::Notice(e.to_string(), true),
            };
            let _ = updates.send(update);
        });
    }
    let (config, updates) = (config.clone(), updates.clone());
    tokio::spawn(async move {
        for target in known {
            if let Ok(version) = read_running(&config, &target).await {
                let _ = updates.send(Update::Deployed(target, version));
            }
        }
    });
}

async fn read_running(config: &Config, target: &Target) -> Result<String, pipeline::PipelineError> {
    let service = config
        .service(&target.env, &target.service)
        .expect("a configured service");
    pipeline::running_version(target, service).await
}

/// Starts confirmed releases through the pipeline (so `requires` and the
/// history apply as for `helmsman release`), one environment at a time.
pub fn starter(
    config: Arc<Config>,
    history: impl Fn(&StartRequest) -> Result<History, StoreError> + Send + Sync + 'static,
) -> Starter {
    let history = Arc::new(history);
    Box::new(move |start, updates| {
        let (config, history) = (config.clone(), history.clone());
        tokio::spawn(async move {
            let request = ReleaseRequest {
                service: start.target.service.clone(),
                version: start.version.clone(),
                envs: vec![start.target.env.clone()],
                strategy: None,
                actor: operator::current(),
                force: false,
            };
            let outcome = match history(&start) {
                Ok(mut history) => {
                    let mut watcher = Forward(updates.clone());
                    pipeline::run(&config, &request, &mut history, &mut watcher).await
                }
                Err(e) => Err(e.into()),
            };
            let notice = match outcome {
                Ok(ReleaseResult::Succeeded) => (
                    format!("{}: {} released", start.target, start.version),
                    false,
                ),
                Ok(result) => (
                    format!("{}: release of {} {result}", start.target, start.version),
                    true,
                ),
                Err(e) => (format!("{}: not started: {e}", start.target), true),
            };
            let _ = updates.send(Update::Notice(notice.0.clone(), notice.1));
            notice.0
        })
    })
}

/// Runs confirmed contracts (`C`) through the same pipeline step as
/// `helmsman migrations contract`, on the journal `history` opens for the
/// service: its events move the service's `db:` line, and a notice says
/// how it ended.
pub fn contractor(
    config: Arc<Config>,
    history: impl Fn(&Target) -> Result<History, StoreError> + Send + Sync + 'static,
) -> Contractor {
    let history = Arc::new(history);
    Box::new(move |target, updates| {
        let (config, history) = (config.clone(), history.clone());
        tokio::spawn(async move {
            let holder = crate::store::Holder::this_process(operator::current(), "contract");
            let ran = match history(&target) {
                Ok(mut history) => {
                    let mut watcher = Forward(updates.clone());
                    contract::run(&config, &target, holder, &mut history, &mut watcher)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            let notice = match ran {
                Ok(run) if run.passed => (format!("{target}: contract passed"), false),
                Ok(run) => (format!("{target}: contract failed: {}", run.summary), true),
                Err(why) => (why, true),
            };
            let _ = updates.send(Update::Notice(notice.0, notice.1));
        });
    })
}

/// What the cockpit lists for each environment before any snapshot arrives.
pub fn environments_of(config: &Config) -> Vec<EnvInfo> {
    config
        .environments
        .iter()
        .map(|env| EnvInfo {
            name: env.name.clone(),
            services: env
                .services
                .iter()
                .map(|s| {
                    let (stable_version, versions) = match &s.backend {
                        Backend::Local(b) => {
                            (b.stable.clone(), b.versions.keys().cloned().collect())
                        }
                        // The cluster says which version runs; any image
                        // tag can be released, so none is listed.
                        Backend::Kubernetes(_) => (UNKNOWN_VERSION.to_string(), Vec::new()),
                        // HAProxy says which version serves; its versions
                        // are the configured ones.
                        Backend::HaProxy(b) => (
                            UNKNOWN_VERSION.to_string(),
                            b.versions.keys().cloned().collect(),
                        ),
                        // The flag file says which variant serves.
                        Backend::Flagd(f) => (
                            UNKNOWN_VERSION.to_string(),
                            f.plane.versions.keys().cloned().collect(),
                        ),
                    };
                    ServiceInfo {
                        name: s.name.clone(),
                        stable_version,
                        strategy: s.strategy.name().to_string(),
                        bands: s.bands.clone(),
                        triggers: s.triggers.clone(),
                        versions,
                        migrations: s.migrations.as_ref().map(|m| crate::tui::MigrationsInfo {
                            phase: "not run".to_string(),
                            contract_waits: m.contract_when
                                == crate::config::migrations::ContractWhen::Confirm,
                        }),
                    }
                })
                .collect(),
        })
        .collect()
}

/// Every service of `config`, with where it runs.
fn services_of(config: &Config) -> impl Iterator<Item = (Target, &crate::config::Service)> {
    config.environments.iter().flat_map(|env| {
        env.services.iter().map(move |service| {
            let target = Target {
                env: env.name.clone(),
                service: service.name.clone(),
            };
            (target, service)
        })
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use chrono::Utc;

    use super::*;
    use crate::config::test_support::{environment, local_backend, service};
    use crate::engine::machine::{Release, ReleaseSpec};

    /// One local service whose metrics are read every `interval`.
    fn config_reading_every(interval: &str) -> Arc<Config> {
        // Port 0 for both addresses: the loader lets it repeat, and nothing
        // running on this machine answers there.
        let text = format!("[defaults.analysis]\ninterval = \"{interval}\"\n\n")
            + &environment("dev")
            + &service("checkout", &local_backend(0, 0, &[1], &[2]));
        let config = crate::config::parse_str(&text, Path::new("h.toml"), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        Arc::new(config)
    }

    /// Numbers are STALE after three of the service's analysis intervals,
    /// in the cockpit over a configuration as in the demo's.
    #[tokio::test]
    async fn numbers_go_stale_after_three_configured_analysis_intervals() {
        let config = config_reading_every("1s");
        let service = config.service("dev", "checkout").unwrap().clone();
        assert_eq!(service.analysis.interval, Duration::from_secs(1));
        let opened = open(&config, "h.toml".into(), false);
        let mut cockpit = opened.cockpit;

        let read_at = Utc::now();
        let spec = ReleaseSpec {
            target: Target {
                env: "dev".into(),
                service: "checkout".into(),
            },
            release_id: "dev-1".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
            service,
            started_by: crate::engine::Actor::Engine,
        };
        let mut snapshot = Release::new(spec, read_at).snapshot().clone();
        snapshot.metrics_at = Some(read_at);
        cockpit.on_snapshot(snapshot.clone(), read_at);
        cockpit.tick(read_at + chrono::Duration::milliseconds(2900));
        assert!(!cockpit.is_stale(&snapshot), "fresh within 3 × 1s");
        cockpit.tick(read_at + chrono::Duration::milliseconds(3100));
        assert!(
            cockpit.is_stale(&snapshot),
            "a reading 3.1 s old is stale when one comes every second"
        );
    }
}
