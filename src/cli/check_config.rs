//! `helmsman check-config [FILE]`: validates a configuration and prints its
//! summary (exit 0), or every error with file:line:col and a hint (exit 2).
//!
//! With `--output json` stdout always holds one JSON document with a
//! `valid` field: the configuration beside `"valid": true`, or
//! `{"valid": false, "errors": [{file, line, column, message, hint}…]}`;
//! the errors are also written to stderr as text, for whoever watches.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{CONFIG_NOT_FOUND_HINT, ConfigNotFound, ExitCode, OutputFormat, find_config};
use crate::config::{self, Config, ConfigErrors};

#[derive(Debug, Clone, clap::Args)]
pub struct CheckConfigArgs {
    /// The file to check (default: the global --config path).
    pub file: Option<PathBuf>,
    /// Print the validated configuration, or the errors, as text or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Runs the command on the process's stdout/stderr; returns the exit code.
pub fn run(args: &CheckConfigArgs, global_config: Option<&Path>) -> ExitCode {
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
) -> ExitCode {
    let explicit = args.file.as_deref().or(global_config);
    let path = match find_config(explicit) {
        Ok(path) => path,
        Err(not_found) => {
            let _ = writeln!(err, "{not_found}");
            if args.output == OutputFormat::Json {
                let _ = print_json(out, &Invalid::new(vec![not_found_json(&not_found)]));
            }
            return ExitCode::Usage;
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
            match args.output {
                // A closed pipe (e.g. `| head`) is not a configuration problem.
                OutputFormat::Text => {
                    let _ = write!(out, "{}", config::summary(&config));
                }
                OutputFormat::Json => {
                    let document = Valid {
                        valid: true,
                        config: &config,
                    };
                    if let Err(e) = print_json(out, &document) {
                        let _ = writeln!(err, "error: cannot write the configuration as JSON: {e}");
                        return ExitCode::Runtime;
                    }
                }
            }
            ExitCode::Ok
        }
        Err(errors) => {
            report(err, &errors, &path);
            if args.output == OutputFormat::Json {
                let _ = print_json(out, &Invalid::new(errors.0));
            }
            ExitCode::Usage
        }
    }
}

/// A valid configuration: `"valid": true` beside its fields.
#[derive(Serialize)]
struct Valid<'c> {
    valid: bool,
    #[serde(flatten)]
    config: &'c Config,
}

/// An invalid (or missing) configuration: `"valid": false` and its errors.
#[derive(Serialize)]
struct Invalid<E> {
    valid: bool,
    errors: Vec<E>,
}

impl<E> Invalid<E> {
    fn new(errors: Vec<E>) -> Self {
        Self {
            valid: false,
            errors,
        }
    }
}

/// Writes `document`; a closed pipe (e.g. `| head`) is not a configuration
/// problem, so only a document that cannot be serialized is an error.
fn print_json(out: &mut dyn Write, document: &impl Serialize) -> Result<(), serde_json::Error> {
    let text = serde_json::to_string_pretty(document)?;
    let _ = writeln!(out, "{text}");
    Ok(())
}

/// An error shaped like a `ConfigError`'s, for the file that is not there:
/// named when it was the only place looked at, the places tried in the message.
#[derive(Serialize)]
struct NotFound {
    file: Option<PathBuf>,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
    hint: &'static str,
}

fn not_found_json(not_found: &ConfigNotFound) -> NotFound {
    let tried: Vec<String> = not_found
        .tried
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    NotFound {
        file: match not_found.tried.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        },
        line: None,
        column: None,
        message: format!("no configuration file found; tried: {}", tried.join(", ")),
        hint: CONFIG_NOT_FOUND_HINT,
    }
}

/// Local data planes whose admin API other hosts can reach.
fn admin_exposures(config: &config::Config) -> Vec<(&str, &str, String)> {
    let mut found = Vec::new();
    for env in &config.environments {
        for service in &env.services {
            if let Some(backend) = service.backend.plane()
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
