//! `helmsman demo --headless`: the demo world released dev → staging →
//! prod, one line per event, the release's exit code.

use std::path::{Path, PathBuf};

use super::OutputFormat;
use super::event_line::Printer;
use crate::config::{self, Backend, Config};
use crate::demo::scenario::Scenario;
use crate::demo::world::{World, WorldPlan, new_version_of};
use crate::engine::Actor;
use crate::pipeline::{self, ReleaseRequest, StrategyKind};
use crate::store::History;

/// The demo's own configuration, built into the binary.
pub const DEMO_CONFIG: &str = include_str!("../../assets/demo.toml");

pub struct DemoOptions {
    pub config: Option<PathBuf>,
    pub scenario: Scenario,
    pub strategy: StrategyKind,
    pub output: OutputFormat,
    /// Requests per second sent to the released service in each environment.
    pub rate: u32,
}

/// Loads the demo configuration: the built-in one unless `--config` names another.
pub fn load_config(explicit: Option<&Path>) -> Result<Config, String> {
    let loaded = match explicit {
        Some(path) => config::load_file(path),
        None => config::parse_str(DEMO_CONFIG, Path::new("assets/demo.toml"), &|var| {
            std::env::var(var).ok()
        }),
    };
    loaded.map_err(|errors| errors.to_string())
}

/// The service the demo releases: the first one using `strategy`.
fn released_service(config: &Config, strategy: StrategyKind) -> Option<(String, String, String)> {
    config
        .environments
        .iter()
        .flat_map(|e| &e.services)
        .find_map(|s| {
            let kind = match s.strategy {
                config::Strategy::Canary { .. } => StrategyKind::Canary,
                config::Strategy::BlueGreen { .. } => StrategyKind::BlueGreen,
                config::Strategy::Rolling { .. } => StrategyKind::Rolling,
                config::Strategy::FeatureFlag { .. } => StrategyKind::FeatureFlag,
            };
            let Backend::Local(b) = &s.backend else {
                return None;
            };
            (kind == strategy)
                .then(|| {
                    new_version_of(b).map(|v| (s.name.clone(), b.stable.clone(), v.to_string()))
                })
                .flatten()
        })
}

pub async fn run_headless(options: DemoOptions) -> i32 {
    let config = match load_config(options.config.as_deref()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return 2;
        }
    };
    let Some((service, stable, new_version)) = released_service(&config, options.strategy) else {
        eprintln!(
            "error: the demo configuration {} has no service released with the {:?} strategy \
             and two versions\n  hint: add one, or pick another --strategy",
            config.source.display(),
            options.strategy
        );
        return 2;
    };
    let envs: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
    // Human words go to stderr with --output json, so stdout stays JSON lines.
    let say = |line: String| match options.output {
        OutputFormat::Text => println!("{line}"),
        OutputFormat::Json => eprintln!("{line}"),
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
            eprintln!("error: cannot start the demo world: {e:#}");
            return 1;
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
        actor: Actor::current_operator(),
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
            say(format!(
                "release {}: exit code {}{}",
                match result {
                    crate::engine::ReleaseResult::Succeeded => "succeeded",
                    crate::engine::ReleaseResult::RolledBack => "rolled back",
                    crate::engine::ReleaseResult::Aborted => "aborted",
                },
                result.exit_code(),
                if failed > 0 {
                    format!(" ({failed} user requests got no answer)")
                } else {
                    String::new()
                }
            ));
            result.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Stretches the canary so the cockpit has something to show at every stage
/// within seconds: dev runs the demo's short canary and is done in about
/// 15 s, staging is mid-canary for minutes, prod waits at manual gates.
fn stage_for_the_cockpit(config: &mut Config, service: &str) {
    use crate::config::Step;
    use std::time::Duration;
    let secs = Duration::from_secs;
    for env in &mut config.environments {
        let steps = match env.name.as_str() {
            "staging" => vec![
                Step::Weight(10),
                Step::Pause(secs(20)),
                Step::Weight(25),
                Step::Pause(secs(90)),
                Step::Weight(50),
                Step::Analysis(secs(30)),
                Step::Weight(100),
                Step::Pause(secs(5)),
            ],
            "prod" => vec![
                Step::Weight(5),
                Step::ManualGate,
                Step::Weight(25),
                Step::Pause(secs(30)),
                Step::ManualGate,
                Step::Weight(50),
                Step::Pause(secs(20)),
                Step::Weight(100),
            ],
            _ => continue,
        };
        for s in env.services.iter_mut().filter(|s| s.name == service) {
            if let config::Strategy::Canary { steps: current } = &mut s.strategy {
                *current = steps.clone();
            }
        }
    }
}

/// `helmsman demo`: the demo world in the cockpit, with the new version
/// already moving in every environment at once.
pub async fn run_cockpit(options: DemoOptions, read_only: bool) -> i32 {
    if !super::cockpit::has_terminal() {
        return 2;
    }
    let mut config = match load_config(options.config.as_deref()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return 2;
        }
    };
    let Some((service, _stable, new_version)) = released_service(&config, options.strategy) else {
        eprintln!(
            "error: the demo configuration {} has no service released with the {:?} strategy",
            config.source.display(),
            options.strategy
        );
        return 2;
    };
    if options.config.is_none() {
        stage_for_the_cockpit(&mut config, &service);
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
            eprintln!("error: cannot start the demo world: {e:#}");
            return 1;
        }
    };
    let mut cockpit = crate::tui::Cockpit::new(
        crate::tui::HeaderInfo {
            config_label: "demo".to_string(),
            operator: Actor::current_operator(),
        },
        super::cockpit::environments_of(&world.config),
        read_only,
    );
    // Numbers older than three analysis intervals are marked stale.
    if let Some(service) = world
        .config
        .environments
        .iter()
        .flat_map(|e| &e.services)
        .next()
    {
        cockpit.set_stale_after(service.analysis.interval * 3);
    }
    let (updates_tx, updates_rx) = tokio::sync::mpsc::unbounded_channel();
    let config = std::sync::Arc::new(world.config.clone());
    super::cockpit::check_in_background(&config, &mut cockpit, &updates_tx);
    let mut releases = Vec::new();
    for env in config.environments.iter().map(|e| e.name.clone()) {
        let (config, updates) = (config.clone(), updates_tx.clone());
        let request = ReleaseRequest {
            service: service.clone(),
            version: new_version.clone(),
            envs: vec![env.clone()],
            strategy: Some(options.strategy),
            actor: Actor::current_operator(),
        };
        releases.push(tokio::spawn(async move {
            // Every environment releases at once here, so the demo vouches
            // for the environments each one requires.
            let mut history = History::in_memory();
            for required in &config.environment(&env).expect("listed above").requires {
                history.assume_succeeded(required, &request.service, &request.version);
            }
            let mut watcher = super::cockpit::Forward(updates);
            pipeline::run(&config, &request, &mut history, &mut watcher).await
        }));
    }
    // More releases started from the cockpit vouch for their requirements
    // the same way.
    let demo_config = config.clone();
    let starter = super::cockpit::starter(config.clone(), move |start| {
        let mut history = History::in_memory();
        if let Some(env) = demo_config.environment(&start.target.env) {
            for required in &env.requires {
                history.assume_succeeded(required, &start.target.service, &start.version);
            }
        }
        Ok(history)
    });
    let code = super::cockpit::run(cockpit, updates_tx, updates_rx, starter).await;
    for release in releases {
        release.abort();
    }
    world.stop().await;
    code
}
