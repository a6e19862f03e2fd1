//! `helmsman demo --headless`: the demo world released dev → staging →
//! prod, one line per event, the release's exit code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::event_line::Printer;
use super::{ExitCode, OutputFormat};
use crate::config::{self, Config, ConfigErrors};
use crate::demo::database;
use crate::demo::scenario::Scenario;
use crate::demo::world::{World, WorldPlan, new_version_of};
use crate::pipeline::{self, ReleaseRequest};
use crate::store::{History, MigrationPhase, MigrationState};
use crate::strategy::StrategyKind;

/// The demo's own configurations, built into the binary: the headless
/// demo's, timed so every scenario ends within 60 s, and the cockpit's, the
/// same world with checkout's canary stretched in staging and prod so there
/// is something to watch at every stage.
pub const DEMO_CONFIG: &str = include_str!("../../assets/demo.toml");
pub const DEMO_COCKPIT_CONFIG: &str = include_str!("../../assets/demo-cockpit.toml");

/// Which built-in configuration a demo runs without `--config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Headless,
    Cockpit,
}

impl Builtin {
    fn asset(self) -> (&'static str, &'static str) {
        match self {
            Builtin::Headless => (DEMO_CONFIG, "assets/demo.toml"),
            Builtin::Cockpit => (DEMO_COCKPIT_CONFIG, "assets/demo-cockpit.toml"),
        }
    }
}

pub struct DemoOptions {
    pub config: Option<PathBuf>,
    pub scenario: Scenario,
    pub strategy: StrategyKind,
    pub output: OutputFormat,
    /// Requests per second sent to the released service in each environment.
    pub rate: u32,
}

/// Loads the headless demo's configuration: the built-in one unless
/// `--config` names another.
pub fn load_config(explicit: Option<&Path>) -> Result<Config, ConfigErrors> {
    load(explicit, Builtin::Headless)
}

/// Loads `explicit`, else the built-in configuration `builtin`.
fn load(explicit: Option<&Path>, builtin: Builtin) -> Result<Config, ConfigErrors> {
    match explicit {
        Some(path) => config::load_file(path),
        None => {
            let (text, name) = builtin.asset();
            config::parse_str(text, Path::new(name), &|var| std::env::var(var).ok())
        }
    }
}

/// The service the demo releases: the first one using `strategy`.
fn released_service(config: &Config, strategy: StrategyKind) -> Option<(String, String, String)> {
    config
        .environments
        .iter()
        .flat_map(|e| &e.services)
        .find_map(|s| {
            let kind = s.strategy.kind();
            let b = s.backend.plane()?;
            (kind == strategy)
                .then(|| {
                    new_version_of(b).map(|v| (s.name.clone(), b.stable.clone(), v.to_string()))
                })
                .flatten()
        })
}

pub async fn run_headless(options: DemoOptions) -> ExitCode {
    let config = match load_config(options.config.as_deref()) {
        Ok(config) => config,
        Err(errors) => {
            crate::errln!("{errors}");
            return ExitCode::Usage;
        }
    };
    let Some((service, stable, new_version)) = released_service(&config, options.strategy) else {
        crate::errln!(
            "error: the demo configuration {} has no service released with the {} strategy \
             and two versions\n  hint: add one, or pick another --strategy",
            config.source.display(),
            strategy_name(options.strategy)
        );
        return ExitCode::Usage;
    };
    if let Err(code) = scenario_fits(&config, &service, options.scenario) {
        return code;
    }
    let envs: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
    // Human words go to stderr with --output json, so stdout stays JSON lines.
    let say = |line: String| match options.output {
        OutputFormat::Text => crate::outln!("{line}"),
        OutputFormat::Json => crate::errln!("{line}"),
    };
    say(format!(
        "helmsman demo: releasing {service} {stable} → {new_version} through {} with scenario `{}`",
        envs.join(" → "),
        options.scenario
    ));
    if options.config.is_none() {
        say(
            "(demo timings are shortened so every scenario ends within 60 s: see assets/demo.toml)"
                .into(),
        );
    }

    let plan = WorldPlan {
        scenario: options.scenario,
        released_service: service.clone(),
        rate: options.rate,
        load_every_service: false,
    };
    let world = match World::start(config, &plan).await {
        Ok(world) => world,
        Err(e) => {
            crate::errln!("error: cannot start the demo world: {e}");
            return ExitCode::Runtime;
        }
    };
    for (target, addr) in world.entry_points() {
        if target.service == service {
            say(format!("  {target}: users reach it at http://{addr}/"));
        }
    }

    let request = ReleaseRequest {
        service,
        version: new_version,
        envs,
        strategy: Some(options.strategy),
        actor: super::operator::current(),
        force: false,
    };
    let mut history = History::in_memory();
    let outcome = pipeline::run(
        &world.config,
        &request,
        &mut history,
        &mut Printer(options.output),
    )
    .await;

    let mut failed = 0;
    for (target, stats) in world.stop().await {
        use std::sync::atomic::Ordering::Relaxed;
        failed += stats.failed.load(Relaxed);
        say(format!(
            "  {target}: users sent {} requests: {} answered ({} with 5xx), {} without an answer",
            stats.sent.load(Relaxed),
            stats.answered.load(Relaxed),
            stats.status_5xx.load(Relaxed),
            stats.failed.load(Relaxed),
        ));
    }
    match outcome {
        Ok(result) => {
            let code = ExitCode::from(result);
            say(format!(
                "release {result}: exit code {code}{}",
                if failed > 0 {
                    format!(" ({failed} user requests got no answer)")
                } else {
                    String::new()
                }
            ));
            code
        }
        Err(e) => {
            crate::errln!("error: {e}");
            ExitCode::from(&e)
        }
    }
}

/// Refuses `bad-migration` for a service without migrations: there would
/// be no backfill to fail.
fn scenario_fits(config: &Config, service: &str, scenario: Scenario) -> Result<(), ExitCode> {
    let migrated = |s: &config::Service| s.name == service && s.migrations.is_some();
    let any = config
        .environments
        .iter()
        .any(|e| e.services.iter().any(migrated));
    if scenario != Scenario::BadMigration || any {
        return Ok(());
    }
    crate::errln!(
        "error: the {scenario} scenario needs a service with migrations, and {service} has none \
         in {}\n  hint: release checkout (--strategy canary), whose demo database migrates",
        config.source.display()
    );
    Err(ExitCode::Usage)
}

/// The cockpit demo's journals, in memory, one per environment and kept
/// for the demo's life: a contract run from the cockpit finds the
/// migration state its environment's release left there.
#[derive(Clone)]
struct Journals {
    config: Arc<Config>,
    by_env: Arc<Mutex<HashMap<String, History>>>,
}

impl Journals {
    fn new(config: Arc<Config>) -> Journals {
        Journals {
            config,
            by_env: Arc::default(),
        }
    }

    /// `env`'s journal.
    fn of(&self, env: &str) -> History {
        let mut by_env = self.by_env.lock().unwrap_or_else(|p| p.into_inner());
        by_env
            .entry(env.to_string())
            .or_insert_with(History::in_memory)
            .share()
    }

    /// `env`'s journal for a release of `version` of `service`, vouching
    /// that every environment `env` requires already released it and
    /// completed its migrations: the cockpit demo releases every
    /// environment at once, so it vouches for what `requires` would wait
    /// for.
    fn vouched(&self, env: &str, service: &str, version: &str) -> History {
        let mut history = self.of(env);
        let Some(environment) = self.config.environment(env) else {
            return history;
        };
        for required in &environment.requires {
            history.assume_succeeded(required, service, version);
            let Some(there) = self.config.service(required, service) else {
                continue;
            };
            let Some(migrations) = &there.migrations else {
                continue;
            };
            let state = MigrationState {
                phase: MigrationPhase::Migrated,
                version: version.to_string(),
                previous_version: String::new(),
                digest: crate::jobs::migrations::digest(migrations, &there.workdir),
                at: chrono::Utc::now(),
                detail: "assumed by the demo".to_string(),
            };
            let target = crate::engine::Target {
                env: required.clone(),
                service: service.to_string(),
            };
            if let Err(e) = history.set_migration_state(&target, &state) {
                tracing::warn!("{e}");
            }
        }
        history
    }
}

/// `helmsman demo-db DB [SQL]`, what the demo's migrations run: the SQL
/// file applied to the demo database in one transaction, or, without one,
/// what the database holds.
pub fn run_db(db: &Path, sql: Option<&Path>) -> ExitCode {
    let done = match sql {
        Some(sql) => database::run_file(db, sql),
        None => database::describe(db),
    };
    match done {
        Ok(said) => {
            crate::outln!("{said}");
            ExitCode::Ok
        }
        Err(e) => {
            crate::errln!("error: {e}");
            ExitCode::Runtime
        }
    }
}

/// The strategy as the command line spells it ("blue-green").
fn strategy_name(kind: StrategyKind) -> String {
    use clap::ValueEnum;
    kind.to_possible_value()
        .map_or_else(|| "this".to_string(), |v| v.get_name().to_string())
}

/// `helmsman demo`: the demo world in the cockpit, with the new version
/// already moving in every environment at once.
pub async fn run_cockpit(options: DemoOptions, read_only: bool) -> ExitCode {
    if !super::cockpit::has_terminal() {
        return ExitCode::Usage;
    }
    let config = match load(options.config.as_deref(), Builtin::Cockpit) {
        Ok(config) => config,
        Err(errors) => {
            crate::errln!("{errors}");
            return ExitCode::Usage;
        }
    };
    let Some((service, _stable, new_version)) = released_service(&config, options.strategy) else {
        crate::errln!(
            "error: the demo configuration {} has no service released with the {} strategy \
             and two versions\n  hint: add one, or pick another --strategy",
            config.source.display(),
            strategy_name(options.strategy)
        );
        return ExitCode::Usage;
    };
    if let Err(code) = scenario_fits(&config, &service, options.scenario) {
        return code;
    }
    let plan = WorldPlan {
        scenario: options.scenario,
        released_service: service.clone(),
        rate: options.rate.min(50),
        load_every_service: true,
    };
    let world = match World::start(config, &plan).await {
        Ok(world) => world,
        Err(e) => {
            crate::errln!("error: cannot start the demo world: {e}");
            return ExitCode::Runtime;
        }
    };
    let config = std::sync::Arc::new(world.config.clone());
    let label = format!("demo {}", config.source.display());
    let mut opened = super::cockpit::open(&config, label, read_only);
    let cockpit = &mut opened.cockpit;
    // Every environment releases at once, so what `requires` would wait
    // for is vouched for below: each column says so.
    for env in &config.environments {
        if !env.requires.is_empty() {
            let note = format!("needs {}: assumed ✓", env.requires.join(", "));
            cockpit.set_env_note(&env.name, note);
        }
    }
    let journals = Journals::new(config.clone());
    let mut releases = Vec::new();
    for env in config.environments.iter().map(|e| e.name.clone()) {
        let (config, updates) = (config.clone(), opened.updates_tx.clone());
        let journals = journals.clone();
        let request = ReleaseRequest {
            service: service.clone(),
            version: new_version.clone(),
            envs: vec![env.clone()],
            strategy: Some(options.strategy),
            actor: super::operator::current(),
            force: false,
        };
        releases.push(tokio::spawn(async move {
            let mut history = journals.vouched(&env, &request.service, &request.version);
            let mut watcher = super::cockpit::Forward(updates);
            pipeline::run(&config, &request, &mut history, &mut watcher).await
        }));
    }
    // More releases started from the cockpit vouch for their requirements
    // the same way; a contract runs on its environment's journal.
    let starter = {
        let journals = journals.clone();
        super::cockpit::starter(config.clone(), move |start| {
            let target = &start.target;
            Ok(journals.vouched(&target.env, &target.service, &start.version))
        })
    };
    let contractor =
        super::cockpit::contractor(config.clone(), move |target| Ok(journals.of(&target.env)));
    // The demo's world is its own: its releases run in this process.
    let code = opened.run(starter, contractor, None).await;
    for release in releases {
        release.abort();
    }
    world.stop().await;
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Canary;

    fn steps_of(config: &Config, env: &str) -> Vec<config::Step> {
        match &config.service(env, "checkout").expect("listed").strategy {
            config::Strategy::Canary(Canary { steps }) => steps.clone(),
            other => panic!("checkout is a canary, not {}", other.name()),
        }
    }

    /// The cockpit's asset is the headless demo's world with checkout's
    /// canary stretched in staging and prod, and nothing else changed.
    #[test]
    fn the_cockpit_asset_differs_from_the_headless_one_only_in_stretched_steps() {
        let headless = load(None, Builtin::Headless).unwrap();
        let mut cockpit = load(None, Builtin::Cockpit).unwrap();
        for env in ["staging", "prod"] {
            let short = steps_of(&headless, env);
            let stretched = steps_of(&cockpit, env);
            let total = |steps: &[config::Step]| -> std::time::Duration {
                steps
                    .iter()
                    .map(|s| match s {
                        config::Step::Pause(d) | config::Step::Analysis(d) => *d,
                        _ => std::time::Duration::ZERO,
                    })
                    .sum()
            };
            assert!(total(&stretched) > total(&short) * 5, "{env}");
            let service = cockpit
                .environments
                .iter_mut()
                .find(|e| e.name == env)
                .and_then(|e| e.services.iter_mut().find(|s| s.name == "checkout"))
                .unwrap();
            service.strategy = config::Strategy::Canary(Canary { steps: short });
        }
        assert!(steps_of(&cockpit, "dev") == steps_of(&headless, "dev"));
        let json = |c: &Config| serde_json::to_value(&c.environments).unwrap();
        assert_eq!(json(&cockpit), json(&headless));
        // Prod waits for a human at least once: the cockpit shows a gate.
        assert!(
            steps_of(&load(None, Builtin::Cockpit).unwrap(), "prod")
                .contains(&config::Step::ManualGate)
        );
    }
}
