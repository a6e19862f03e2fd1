//! The `helmsman` binary: parses the command line, sets up logging, and
//! hands over to `helmsman::cli`. Exit codes (the interface contract): 0
//! success, 1 runtime error, 2 bad usage or invalid configuration, 3 the
//! release was rolled back, 4 a preflight check or gate failed.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use clap_complete::engine::ArgValueCompleter;
use helmsman::cli::check_config::CheckConfigArgs;
use helmsman::cli::{ExitCode, OutputFormat};
use helmsman::demo::scenario::Scenario;
use helmsman::engine::CommandKind;
use helmsman::pipeline::plan::PlanArgs;
use helmsman::pipeline::recover::OnRestart;
use helmsman::strategy::StrategyKind;
use helmsman::{cli, errln};

#[derive(Parser)]
#[command(
    name = "helmsman",
    version,
    disable_version_flag = true,
    about = "A terminal cockpit for progressive delivery"
)]
struct Cli {
    /// Print the version, the commit and date it was built from, and the backends it speaks.
    #[arg(short = 'V', long)]
    version: bool,
    /// With --version: as text or JSON.
    #[arg(long, value_enum, requires = "version")]
    output: Option<OutputFormat>,
    /// Configuration file [default: ./helmsman.toml, then the user config dir]
    #[arg(
        long,
        global = true,
        env = "HELMSMAN_CONFIG",
        value_name = "FILE",
        hide_env_values = true
    )]
    config: Option<PathBuf>,
    /// Keep the journal and logs in DIR [default: the user data and state dirs; see `helmsman paths`]
    #[arg(
        long,
        global = true,
        env = "HELMSMAN_STATE_DIR",
        value_name = "DIR",
        hide_env_values = true
    )]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
    #[arg(skip)]
    config_from_command_line: bool,
}

/// Whether `--config` was typed (before or after the subcommand), as
/// opposed to coming from `HELMSMAN_CONFIG`.
fn config_given_on_command_line(matches: &clap::ArgMatches) -> bool {
    let typed = |m: &clap::ArgMatches| {
        m.value_source("config") == Some(clap::parser::ValueSource::CommandLine)
    };
    typed(matches) || matches.subcommand().is_some_and(|(_, sub)| typed(sub))
}

/// Which service's release, in which environment.
#[derive(clap::Args)]
struct TargetArgs {
    /// The environment the release runs in.
    #[arg(long, add = ArgValueCompleter::new(cli::completion::environments))]
    env: String,
    /// The service released.
    #[arg(long, add = ArgValueCompleter::new(cli::completion::services))]
    service: String,
}

impl From<TargetArgs> for helmsman::engine::Target {
    fn from(args: TargetArgs) -> Self {
        helmsman::engine::Target {
            env: args.env,
            service: args.service,
        }
    }
}

/// What every verb that steers a hosted release takes.
#[derive(clap::Args)]
struct SteerArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Do not ask for a confirmation in production.
    #[arg(long)]
    yes: bool,
    /// The engine's answer as text or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

#[derive(Subcommand)]
enum MigrationsAction {
    /// Each service's migration phase per environment, and what its tool says.
    #[command(after_help = "Example:\n  helmsman migrations status --env prod")]
    Status {
        /// Only this environment's services.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::environments))]
        env: Option<String>,
        /// Only this service.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::services))]
        service: Option<String>,
        /// One row per service, or JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Run the pending contract (the point of no return) once only the new version serves.
    #[command(
        after_help = "Example:\n  helmsman migrations contract --env prod --service checkout"
    )]
    Contract(SteerArgs),
}

#[derive(Subcommand)]
enum Command {
    /// Open the cockpit over the configured environments (the default).
    #[command(after_help = "Example:\n  helmsman tui --read-only")]
    Tui {
        /// Show everything, send nothing.
        #[arg(long)]
        read_only: bool,
    },
    /// A self-contained world on loopback: sample services, the data plane, load, a release.
    #[command(
        after_help = "Example:\n  helmsman demo\n  helmsman demo --headless --scenario bad-errors"
    )]
    Demo {
        /// Run without the cockpit, printing one line per event.
        #[arg(long)]
        headless: bool,
        /// What the new version does.
        #[arg(long, value_enum, default_value_t = Scenario::Good)]
        scenario: Scenario,
        /// Which strategy to release with (picks the demo service configured with it).
        #[arg(long, value_enum, default_value_t = StrategyKind::Canary)]
        strategy: StrategyKind,
        /// One line per event as text, or as JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// Requests per second sent to the released service in each environment.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5000))]
        rate: u32,
        /// Show everything in the cockpit, send nothing.
        #[arg(long)]
        read_only: bool,
    },
    /// Validate a configuration file: a summary, or every error with FILE:LINE:COL.
    #[command(after_help = "Example:\n  helmsman check-config helmsman.toml")]
    CheckConfig(CheckConfigArgs),
    /// Print the steps, gates and minimum duration of a release, touching nothing.
    #[command(
        after_help = "Example:\n  helmsman plan --env prod --service checkout --version v1.5.0 --rps 40"
    )]
    Plan {
        /// The environment to plan the release in.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::environments))]
        env: String,
        /// The service to release (as named in the configuration).
        #[arg(long, add = ArgValueCompleter::new(cli::completion::services))]
        service: String,
        /// The version to release; refused when it already serves.
        #[arg(long)]
        version: String,
        /// Plan with this strategy instead of the configured one.
        #[arg(long, value_enum)]
        strategy: Option<StrategyKind>,
        /// The service's traffic in requests/s: warn about every step too
        /// short to reach a verdict at that traffic.
        #[arg(long, value_parser = parse_rps)]
        rps: Option<f64>,
        /// Print the plan as text or JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Release a version of a service in one or more environments (in the order given).
    #[command(
        after_help = "Example:\n  helmsman release --env dev --env staging --env prod --service checkout --version v1.5.0"
    )]
    Release {
        /// Environment(s); repeat to go through several in order.
        #[arg(long = "env", required = true, add = ArgValueCompleter::new(cli::completion::environments))]
        envs: Vec<String>,
        /// The service to release (as named in the configuration).
        #[arg(long, add = ArgValueCompleter::new(cli::completion::services))]
        service: String,
        /// The version to release.
        #[arg(long)]
        version: String,
        /// Release with this strategy instead of the configured one.
        #[arg(long, value_enum)]
        strategy: Option<StrategyKind>,
        /// Run without the cockpit, printing one line per event.
        #[arg(long)]
        headless: bool,
        /// One line per event, then the result, as text or JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// Hand the release to the release host and return once it started, with its id.
        #[arg(long, conflicts_with = "no_host")]
        detach: bool,
        /// Drive the release from this process even when a release host runs
        /// (exit then rolls it back).
        #[arg(long)]
        no_host: bool,
        /// Release even the version whose schema a migration contract removed.
        #[arg(long)]
        force: bool,
    },
    /// Follow a release the release host drives, to its end (Ctrl-C detaches again).
    #[command(after_help = "Example:\n  helmsman attach --env prod --service checkout")]
    Attach {
        #[command(flatten)]
        target: TargetArgs,
        /// One line per event, then the result, as text or JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Finish the current pause or manual gate of a hosted release and go to the next step.
    #[command(after_help = "Example:\n  helmsman advance --env prod --service checkout")]
    Advance(SteerArgs),
    /// Pause a hosted release where it is (triggers stay armed).
    #[command(after_help = "Example:\n  helmsman pause --env prod --service checkout")]
    Pause(SteerArgs),
    /// Resume a paused hosted release.
    #[command(after_help = "Example:\n  helmsman resume --env prod --service checkout")]
    Resume(SteerArgs),
    /// Take a hosted release straight to 100 %, skipping its remaining steps.
    #[command(after_help = "Example:\n  helmsman promote --env staging --service checkout --yes")]
    Promote(SteerArgs),
    /// Roll a hosted release back: the stable version to 100 % at once.
    #[command(after_help = "Example:\n  helmsman rollback --env prod --service checkout")]
    Rollback(SteerArgs),
    /// Release again the last release of a service, rolled back or aborted, on the host.
    #[command(after_help = "Example:\n  helmsman retry --env staging --service checkout")]
    Retry {
        #[command(flatten)]
        steer: SteerArgs,
        /// Return once the new release started, with its id.
        #[arg(long)]
        detach: bool,
    },
    /// Run an environment's gate and preflight checks now: exit 0, or 4 when one fails.
    #[command(after_help = "Example:\n  helmsman validate --env prod")]
    Validate {
        /// The environment whose checks to run.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::environments))]
        env: String,
        /// Print each check's outcome as text or JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Every release in flight on this machine: where it is and what it waits for.
    #[command(after_help = "Example:\n  helmsman status --env prod --output json")]
    Status {
        /// Only this environment's releases.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::environments))]
        env: Option<String>,
        /// Only this service's releases.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::services))]
        service: Option<String>,
        /// One row per release, or JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Where each service's database migrations stand; run a pending contract.
    #[command(after_help = "Example:\n  helmsman migrations status")]
    Migrations {
        #[command(subcommand)]
        action: MigrationsAction,
    },
    /// List the releases in the journal, newest first: who released what, where, and how it ended.
    #[command(after_help = "Example:\n  helmsman history --service checkout --limit 10")]
    History {
        /// Only this environment's releases.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::environments))]
        env: Option<String>,
        /// Only this service's releases.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::services))]
        service: Option<String>,
        /// The newest N releases.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// One row per release, or JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Write a deployment's report from the journal: checks, timeline, verdicts, traffic, rollback, notes.
    #[command(
        after_help = "Examples:\n  helmsman report last --service checkout\n  \
                            helmsman report last --format json --out report.json\n  \
                            helmsman report 20261130T101500.123-checkout-v1.5.0 --note \"approved by QA\""
    )]
    #[command(
        after_help = "Example:\n  helmsman report last --env prod --format md --out report.md"
    )]
    Report {
        /// A deployment id or one of its release ids (`helmsman history` lists them), or `last`.
        #[arg(default_value = "last")]
        id: String,
        /// With `last`: the newest deployment to this environment.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::environments))]
        env: Option<String>,
        /// With `last`: the newest deployment of this service.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::services))]
        service: Option<String>,
        /// Markdown (for a wiki or a pull request) or JSON (versioned schema).
        #[arg(long, value_enum, default_value_t = cli::report::ReportFormat::Md)]
        format: cli::report::ReportFormat,
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Append this note to the deployment's record first (kept in every later report).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// How releases are going: success, zero downtime, rollback readiness, checks, DORA's four keys.
    #[command(after_help = "Examples:\n  helmsman insights\n  \
                            helmsman insights --since 2w --env prod\n  \
                            helmsman insights --since 2026-11-01 --service checkout --output json")]
    #[command(after_help = "Example:\n  helmsman insights --since 2w --env prod")]
    Insights {
        /// How far back: `30d`, `2w`, `12h`, `90m`, or a date (`2026-11-01`, from midnight UTC).
        #[arg(long, default_value = cli::insights::DEFAULT_SINCE, value_parser = cli::insights::parse_since)]
        since: cli::insights::Since,
        /// Only this environment's releases.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::environments))]
        env: Option<String>,
        /// Only this service's deployments.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::services))]
        service: Option<String>,
        /// Figures, rows and charts, or JSON (versioned schema).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Run the release host and the embedded data plane of the configured local services until Ctrl-C.
    #[command(after_help = "Example:\n  helmsman serve --on-restart rollback")]
    Serve {
        /// Only this environment's services.
        #[arg(long, add = ArgValueCompleter::new(cli::completion::environments))]
        env: Option<String>,
        /// Share the control socket with this group's members (mode 0660) instead of
        /// keeping it to this account (0600).
        #[arg(long, value_name = "GROUP")]
        socket_group: Option<String>,
        /// What the host does with a release whose driver died: resume it at its step
        /// when the backend is where it was left, or roll every one back.
        #[arg(long, value_enum, default_value_t = OnRestart::Resume)]
        on_restart: OnRestart,
        /// Run only the data planes: the process `serve` starts for them.
        #[arg(long, hide = true)]
        planes_only: bool,
    },
    /// Print the script that gives a shell helmsman's completions, names from the configuration included.
    #[command(
        after_help = "Example:\n  helmsman completions bash > ~/.local/share/bash-completion/completions/helmsman"
    )]
    Completions {
        /// The shell: bash, zsh, fish, powershell or elvish.
        #[arg(value_enum)]
        shell: cli::completion::Shell,
    },
    /// Write a commented starting configuration (./helmsman.toml, or --config) and check it.
    #[command(after_help = "Example:\n  helmsman init --kubernetes")]
    Init {
        /// One Deployment in the kubeconfig's current context instead of a service on this machine.
        #[arg(long)]
        kubernetes: bool,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Where the configuration, the journal and the logs are, resolved.
    #[command(after_help = "Example:\n  helmsman paths --output json")]
    Paths {
        /// As text or JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Write the manual pages (helmsman.1 and one per subcommand) into a directory.
    #[command(after_help = "Example:\n  helmsman man ~/.local/share/man/man1")]
    Man {
        /// Where to write them, e.g. ~/.local/share/man/man1.
        dir: PathBuf,
    },
    /// The demo's migrations: run an SQL file on its SQLite database in one
    /// transaction, or describe the database.
    #[command(hide = true)]
    DemoDb {
        /// The database file.
        db: PathBuf,
        /// The SQL file to run; without it, what the database holds.
        sql: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    // A shell asking for completions (`COMPLETE=bash helmsman -- …`) is
    // answered here, before anything else runs or prints.
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(cli::completion::VAR)
        .complete();
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if cli.version {
        return cli::version::print(cli.output.unwrap_or(OutputFormat::Text)).into();
    }
    // The demo runs its own world: only a --config given on its command line
    // replaces the built-in one, never a HELMSMAN_CONFIG meant for real releases.
    cli.config_from_command_line = config_given_on_command_line(&matches);
    let state_dir = cli::paths::data_dir(cli.state_dir.as_deref());
    let _log_guard = cli::logging::init(&cli::paths::log_dir(&state_dir));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::Runtime.into();
        }
    };
    runtime
        .block_on(async {
            let code = run(cli, state_dir).await;
            // Notifications still queued (a release's last news) get a
            // moment to go out; the release itself ended already.
            helmsman::notify::drain(NOTIFY_GRACE).await;
            code
        })
        .into()
}

/// How long helmsman waits at exit for notifications still queued.
const NOTIFY_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

async fn run(cli: Cli, state_dir: PathBuf) -> ExitCode {
    let command = cli.command.unwrap_or(Command::Tui { read_only: false });
    // A command that may move traffic answers signals by rolling back, from
    // its first moment: the handlers go in before anything else happens.
    if matches!(
        command,
        Command::Tui { .. }
            | Command::Demo { .. }
            | Command::Release { .. }
            | Command::Attach { .. }
            | Command::Retry { .. }
    ) && let Err(e) = helmsman::interrupt::listen()
    {
        errln!("error: cannot install the signal handlers: {e}");
        return ExitCode::Runtime;
    }
    let load_config = || -> Result<helmsman::config::Config, ExitCode> {
        let path = cli::find_config(cli.config.as_deref()).map_err(|not_found| {
            errln!("{not_found}");
            ExitCode::Usage
        })?;
        let mut config = helmsman::config::load_file(&path).map_err(|errors| {
            errln!("{errors}");
            ExitCode::Usage
        })?;
        // Local data planes and their clients share the state directory's admin token.
        helmsman::dataplane::admin_token::provide(&mut config, &state_dir).map_err(|e| {
            errln!("error: the data plane admin token: {e}");
            ExitCode::Runtime
        })?;
        Ok(config)
    };
    match command {
        Command::Tui { read_only } => match load_config() {
            Ok(config) => cli::cockpit::run_over_config(&config, &state_dir, read_only).await,
            Err(code) => code,
        },
        Command::Demo {
            headless,
            scenario,
            strategy,
            output,
            rate,
            read_only,
        } => {
            let options = cli::demo::DemoOptions {
                config: cli.config.clone().filter(|_| cli.config_from_command_line),
                scenario,
                strategy,
                output,
                rate,
            };
            if headless {
                cli::demo::run_headless(options).await
            } else {
                cli::demo::run_cockpit(options, read_only).await
            }
        }
        Command::Init { kubernetes, force } => {
            cli::init::run(cli.config.as_deref(), kubernetes, force)
        }
        Command::Paths { output } => {
            let paths = cli::paths::resolve(cli.config.as_deref(), cli.state_dir.as_deref());
            cli::paths::print(&paths, output)
        }
        Command::Completions { shell } => cli::completion::print_registration(shell),
        Command::Man { dir } => cli::manual::write_pages(Cli::command(), &dir),
        Command::DemoDb { db, sql } => cli::demo::run_db(&db, sql.as_deref()),
        Command::CheckConfig(args) => cli::check_config::run(&args, cli.config.as_deref()),
        Command::Plan {
            env,
            service,
            version,
            strategy,
            rps,
            output,
        } => match load_config() {
            Ok(config) => {
                let history = match cli::open_history(&state_dir) {
                    Ok(history) => history,
                    Err(code) => return code,
                };
                let args = PlanArgs {
                    env: &env,
                    service: &service,
                    version: &version,
                    strategy,
                    rps,
                };
                cli::plan::run(&config, &history, &args, output).await
            }
            Err(code) => code,
        },
        Command::Release {
            envs,
            service,
            version,
            strategy,
            headless,
            output,
            detach,
            no_host,
            force,
        } => {
            if !headless {
                errln!(
                    "error: `helmsman release` runs headless: add --headless\n  \
                     hint: to start and watch a release in the cockpit, run `helmsman` and press n"
                );
                return ExitCode::Usage;
            }
            match load_config() {
                Ok(config) => {
                    let options = cli::release::ReleaseOptions {
                        envs,
                        service,
                        version,
                        strategy,
                        output,
                        detach,
                        no_host,
                        force,
                    };
                    cli::release::run(&config, &state_dir, options).await
                }
                Err(code) => code,
            }
        }
        Command::Attach { target, output } => {
            cli::follow::attach(&state_dir, target.into(), output).await
        }
        Command::Advance(args) => steer(&state_dir, args, CommandKind::Advance).await,
        Command::Pause(args) => steer(&state_dir, args, CommandKind::Pause).await,
        Command::Resume(args) => steer(&state_dir, args, CommandKind::Resume).await,
        Command::Promote(args) => steer(&state_dir, args, CommandKind::Promote).await,
        Command::Rollback(args) => steer(&state_dir, args, CommandKind::Rollback).await,
        Command::Retry { steer, detach } => match load_config() {
            Ok(config) => {
                let options = cli::steer::SteerOptions {
                    target: steer.target.into(),
                    kind: CommandKind::Retry,
                    config: Some(config.source),
                    yes: steer.yes,
                    output: steer.output,
                    detach,
                };
                cli::steer::run(&state_dir, options).await
            }
            Err(code) => code,
        },
        Command::Validate { env, output } => match load_config() {
            Ok(config) => cli::validate::run(&config, &env, output).await,
            Err(code) => code,
        },
        Command::Status {
            env,
            service,
            output,
        } => {
            let filter = helmsman::store::Filter {
                env,
                service,
                limit: None,
            };
            cli::status::run(&state_dir, &filter, output).await
        }
        Command::Migrations { action } => {
            let (config, mut history) = match (load_config(), cli::open_history(&state_dir)) {
                (Ok(config), Ok(history)) => (config, history),
                (Err(code), _) | (_, Err(code)) => return code,
            };
            match action {
                MigrationsAction::Status {
                    env,
                    service,
                    output,
                } => {
                    cli::migrations::status(
                        &config,
                        &history,
                        env.as_deref(),
                        service.as_deref(),
                        output,
                    )
                    .await
                }
                MigrationsAction::Contract(args) => {
                    cli::migrations::contract(
                        &config,
                        &mut history,
                        args.target.into(),
                        args.yes,
                        args.output,
                    )
                    .await
                }
            }
        }
        Command::History {
            env,
            service,
            limit,
            output,
        } => match cli::open_history(&state_dir) {
            Ok(history) => {
                let filter = helmsman::store::Filter {
                    env,
                    service,
                    limit,
                };
                cli::history::run(&history, &filter, output)
            }
            Err(code) => code,
        },
        Command::Report {
            id,
            env,
            service,
            format,
            out,
            note,
        } => match cli::open_history(&state_dir) {
            Ok(mut history) => {
                let options = cli::report::Options {
                    id: &id,
                    filter: helmsman::store::Filter {
                        env,
                        service,
                        limit: None,
                    },
                    format,
                    out: out.as_deref(),
                    note: note.as_deref(),
                };
                cli::report::run(&mut history, options)
            }
            Err(code) => code,
        },
        Command::Insights {
            since,
            env,
            service,
            output,
        } => match cli::open_history(&state_dir) {
            Ok(history) => {
                let filter = helmsman::store::Filter {
                    env,
                    service,
                    limit: None,
                };
                cli::insights::run(&history, &filter, since, output)
            }
            Err(code) => code,
        },
        Command::Serve {
            env,
            socket_group,
            on_restart,
            planes_only,
        } => match load_config() {
            Ok(config) if planes_only => {
                cli::serve::run_planes(&config, &state_dir, env.as_deref()).await
            }
            Ok(config) => {
                let options = cli::serve::HostOptions {
                    env: env.as_deref(),
                    socket_group: socket_group.as_deref(),
                    on_restart,
                };
                cli::serve::run(&config, &state_dir, options).await
            }
            Err(code) => code,
        },
    }
}

/// A verb that sends one command to a hosted release.
async fn steer(state_dir: &std::path::Path, args: SteerArgs, kind: CommandKind) -> ExitCode {
    let options = cli::steer::SteerOptions {
        target: args.target.into(),
        kind,
        config: None,
        yes: args.yes,
        output: args.output,
        detach: false,
    };
    cli::steer::run(state_dir, options).await
}

/// `--rps` that is not a positive, finite number (clap prints it after
/// naming the flag).
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a positive number of requests a second")]
struct NotARate(String);

/// `--rps`: a positive, finite number of requests a second.
fn parse_rps(text: &str) -> Result<f64, NotARate> {
    match text.parse::<f64>() {
        Ok(rps) if rps.is_finite() && rps > 0.0 => Ok(rps),
        _ => Err(NotARate(text.to_string())),
    }
}
