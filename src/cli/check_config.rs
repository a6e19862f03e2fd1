//! `helmsman check-config [FILE]`: validates a configuration and prints its
//! summary (exit 0), or every error with file:line:col and a hint (exit 2).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{OutputFormat, find_config};
use crate::config::{self, ConfigErrors};

/// Exit code for bad usage or an invalid configuration (PRODUCT.md).
pub const EXIT_INVALID: i32 = 2;

#[derive(Debug, Clone, clap::Args)]
pub struct CheckConfigArgs {
    /// The file to check (default: the global --config path).
    pub file: Option<PathBuf>,
    /// Print the validated configuration as text or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Runs the command on the process's stdout/stderr; returns the exit code.
pub fn run(args: &CheckConfigArgs, global_config: Option<&Path>) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_with(args, global_config, &mut stdout.lock(), &mut stderr.lock())
}

/// As [`run`], writing to the given streams (for tests).
pub fn run_with(
    args: &CheckConfigArgs,
    global_config: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let explicit = args.file.as_deref().or(global_config);
    let path = match find_config(explicit) {
        Ok(path) => path,
        Err(not_found) => {
            let _ = writeln!(err, "{not_found}");
            return EXIT_INVALID;
        }
    };
    match config::load_file(&path) {
        Ok(config) => {
            for (env, service, exposure) in admin_exposures(&config) {
                let _ = writeln!(
                    err,
                    "{}: warning: {env}/{service}: {exposure}",
                    path.display()
                );
            }
            let printed = match args.output {
                OutputFormat::Text => write!(out, "{}", config::summary(&config)),
                OutputFormat::Json => match serde_json::to_string_pretty(&config) {
                    Ok(json) => writeln!(out, "{json}"),
                    Err(e) => {
                        let _ = writeln!(err, "error: cannot write the configuration as JSON: {e}");
                        return 1;
                    }
                },
            };
            // A closed pipe (e.g. `| head`) is not a configuration problem.
            let _ = printed;
            0
        }
        Err(errors) => {
            report(err, &errors, &path);
            EXIT_INVALID
        }
    }
}

/// Local data planes whose admin API other hosts can reach.
fn admin_exposures(config: &config::Config) -> Vec<(&str, &str, String)> {
    let mut found = Vec::new();
    for env in &config.environments {
        for service in &env.services {
            if let config::Backend::Local(backend) = &service.backend
                && let Some(exposure) = backend.admin_exposure()
            {
                found.push((env.name.as_str(), service.name.as_str(), exposure));
            }
        }
    }
    found
}

fn report(err: &mut dyn Write, errors: &ConfigErrors, path: &Path) {
    let _ = writeln!(err, "{errors}");
    let n = errors.len();
    let _ = writeln!(
        err,
        "{n} error{} in {}",
        if n == 1 { "" } else { "s" },
        path.display()
    );
}
