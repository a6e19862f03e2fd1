//! The `helmsman` binary: parses the command line and hands each command to
//! the library; the exit code comes back from the command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use helmsman::cli::check_config::{self, CheckConfigArgs};

#[derive(Debug, Parser)]
#[command(
    name = "helmsman",
    version,
    about = "A terminal cockpit for progressive delivery"
)]
struct Cli {
    /// Configuration file (default: ./helmsman.toml, then <user config dir>/helmsman/helmsman.toml).
    #[arg(long, global = true, env = "HELMSMAN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a configuration file and print its summary.
    CheckConfig(CheckConfigArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are successes; any other usage error exits 2.
            std::process::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let code = match &cli.command {
        Command::CheckConfig(args) => check_config::run(args, cli.config.as_deref()),
    };
    std::process::exit(code);
}
