//! Shell completion: `helmsman completions SHELL` prints the script that
//! registers helmsman with the shell, and that script asks the binary
//! itself for candidates (`COMPLETE=SHELL helmsman -- …`), so `--env` and
//! `--service` complete the names of the configuration in use — the one
//! `HELMSMAN_CONFIG`, `./helmsman.toml` or the user configuration
//! directory names, as every command finds it.

use std::ffi::OsStr;

use clap_complete::engine::CompletionCandidate;
use clap_complete::env::Shells;

use super::ExitCode;
use crate::config::Config;

/// The variable the registration script sets when it asks for candidates.
pub const VAR: &str = "COMPLETE";

/// The shells helmsman registers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

impl Shell {
    fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
            Shell::Powershell => "powershell",
            Shell::Elvish => "elvish",
        }
    }
}

/// `helmsman completions SHELL`: the registration script on stdout.
pub fn print_registration(shell: Shell) -> ExitCode {
    let shells = Shells::builtins();
    let completer = shells
        .completer(shell.name())
        .expect("clap_complete registers every shell listed");
    let mut script = Vec::new();
    let written = completer
        .write_registration(VAR, "helmsman", "helmsman", "helmsman", &mut script)
        .map(|()| String::from_utf8_lossy(&script).into_owned());
    match written {
        Ok(script) => {
            crate::outln!("{}", script.trim());
            ExitCode::Ok
        }
        Err(e) => {
            crate::errln!("error: writing the {} script: {e}", shell.name());
            ExitCode::Runtime
        }
    }
}

/// Candidates for `--env`: the configuration's environments.
pub fn environments(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, |config| {
        config.environments.iter().map(|e| e.name.clone()).collect()
    })
}

/// Candidates for `--service`: every service of the configuration, once.
pub fn services(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, |config| {
        let mut names: Vec<String> = config
            .environments
            .iter()
            .flat_map(|e| e.services.iter().map(|s| s.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    })
}

/// The names `of` the configuration that start with `current`; none when
/// there is no configuration or it does not load (a completion never
/// prints an error into the command line being typed).
fn candidates(current: &OsStr, of: impl Fn(&Config) -> Vec<String>) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let explicit = std::env::var_os("HELMSMAN_CONFIG").map(std::path::PathBuf::from);
    let Ok(path) = super::find_config(explicit.as_deref()) else {
        return Vec::new();
    };
    let Ok(config) = crate::config::load_file(&path) else {
        return Vec::new();
    };
    of(&config)
        .into_iter()
        .filter(|name| name.starts_with(current))
        .map(CompletionCandidate::new)
        .collect()
}
