//! Command-line front end pieces shared by the subcommands: where the
//! configuration file is looked for, and the output format flag.

pub mod check_config;
pub mod cockpit;
pub mod completion;
pub mod demo;
pub mod event_line;
pub mod exit_code;
pub mod follow;
pub mod history;
pub mod init;
pub mod insights;
pub mod logging;
pub mod manual;
pub mod migrations;
pub mod operator;
pub mod output;
pub mod paths;
pub mod plan;
pub mod release;
pub mod report;
pub mod serve;
pub mod status;
pub mod steer;
pub mod table;
pub mod validate;
pub mod version;

use std::path::{Path, PathBuf};

pub use exit_code::ExitCode;

/// `--output` for commands that print data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON, for scripts and CI.
    Json,
}

/// The file name looked for in the working directory and the user config dir.
pub const CONFIG_FILE_NAME: &str = "helmsman.toml";

/// Where the configuration is looked for, in order. An explicit path
/// (`--config` / `HELMSMAN_CONFIG`) is the only candidate; otherwise
/// `./helmsman.toml`, then `<user config dir>/helmsman/helmsman.toml`.
pub fn config_candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_path_buf()];
    }
    let mut candidates = vec![PathBuf::from(CONFIG_FILE_NAME)];
    if let Some(dirs) = directories::BaseDirs::new() {
        candidates.push(dirs.config_dir().join("helmsman").join(CONFIG_FILE_NAME));
    }
    candidates
}

/// No configuration file was found at any of the candidate paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", not_found_message(.tried))]
pub struct ConfigNotFound {
    pub tried: Vec<PathBuf>,
}

fn not_found_message(tried: &[PathBuf]) -> String {
    let mut message = String::from("error: no configuration file found; tried:");
    for path in tried {
        message.push_str(&format!("\n  {}", path.display()));
    }
    message.push_str("\n  hint: ");
    message.push_str(CONFIG_NOT_FOUND_HINT);
    message
}

/// What to do when no configuration file is found.
pub const CONFIG_NOT_FOUND_HINT: &str = "`helmsman init` writes a commented one for a service on \
    this machine (`--kubernetes`: in a cluster), or name a file with --config FILE (or HELMSMAN_CONFIG)";

/// The release history under the state dir, or the exit code after saying
/// why it cannot be opened.
pub fn open_history(state_dir: &Path) -> Result<crate::store::History, ExitCode> {
    crate::store::History::open(state_dir).map_err(|e| {
        crate::errln!("error: {e}");
        ExitCode::Runtime
    })
}

/// The first candidate that exists.
pub fn find_config(explicit: Option<&Path>) -> Result<PathBuf, ConfigNotFound> {
    let tried = config_candidates(explicit);
    tried
        .iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or(ConfigNotFound { tried })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_path_is_the_only_candidate() {
        let path = Path::new("/nonexistent/h.toml");
        assert_eq!(config_candidates(Some(path)), vec![path.to_path_buf()]);
        let err = find_config(Some(path)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/h.toml"), "{text}");
        assert!(
            text.contains("`helmsman init` writes a commented one"),
            "{text}"
        );
    }

    #[test]
    fn default_candidates_start_in_the_working_directory() {
        let candidates = config_candidates(None);
        assert_eq!(candidates[0], PathBuf::from("helmsman.toml"));
        if let Some(user) = candidates.get(1) {
            assert!(user.ends_with("helmsman/helmsman.toml"));
        }
    }
}
