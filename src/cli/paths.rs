//! Where helmsman keeps its files, following each platform's conventions
//! (the XDG base directories on Linux, through `directories`):
//!
//! - the configuration under the config directory
//!   (`~/.config/helmsman/helmsman.toml`), unless `./helmsman.toml` or
//!   `--config` names one;
//! - the journal (history, reports' records), the release host's socket
//!   and the data planes' admin token under the data directory
//!   (`~/.local/share/helmsman`);
//! - logs under the state directory (`~/.local/state/helmsman/logs`), on
//!   platforms that have one, else beside the journal.
//!
//! `--state-dir DIR` (`HELMSMAN_STATE_DIR`) keeps all of it but the
//! configuration in DIR, logs in DIR/logs: one directory per test, per
//! host, per experiment.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{ExitCode, OutputFormat};

/// The directory of helmsman's own under a platform directory.
const APP: &str = "helmsman";

/// The data directory: `explicit` (`--state-dir`), else the platform's.
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| directories::BaseDirs::new().map(|d| d.data_dir().join(APP)))
        .unwrap_or_else(|| PathBuf::from(".helmsman"))
}

/// Where the log files of a run whose data directory is `data` go: the
/// platform's state directory for the platform's data directory, else
/// `data`/logs. (Judged by the directory, not by whether `--state-dir`
/// was typed, so the data planes' process `serve` starts with the host's
/// data directory logs where the host does.)
pub fn log_dir(data: &Path) -> PathBuf {
    let dirs = directories::BaseDirs::new();
    let platform = dirs.as_ref().map(|d| d.data_dir().join(APP));
    match dirs.as_ref().and_then(directories::BaseDirs::state_dir) {
        Some(state) if platform.as_deref() == Some(data) => state.join(APP).join("logs"),
        _ => data.join("logs"),
    }
}

/// Every place, resolved.
#[derive(Debug, Serialize)]
pub struct Paths {
    /// The configuration file commands read, if one exists.
    pub config: Option<PathBuf>,
    /// Where it is looked for, in order.
    pub config_candidates: Vec<PathBuf>,
    pub data: PathBuf,
    pub logs: PathBuf,
}

pub fn resolve(config: Option<&Path>, state_dir: Option<&Path>) -> Paths {
    let absolute = |path: PathBuf| std::path::absolute(&path).unwrap_or(path);
    Paths {
        config: super::find_config(config).ok().map(absolute),
        config_candidates: super::config_candidates(config)
            .into_iter()
            .map(absolute)
            .collect(),
        data: absolute(data_dir(state_dir)),
        logs: absolute(log_dir(&data_dir(state_dir))),
    }
}

/// `helmsman paths`.
pub fn print(paths: &Paths, format: OutputFormat) -> ExitCode {
    match format {
        OutputFormat::Json => {
            crate::outln!("{}", serde_json::to_string(paths).expect("paths serialize"))
        }
        OutputFormat::Text => {
            match &paths.config {
                Some(file) => crate::outln!("config  {}", file.display()),
                None => {
                    let tried: Vec<String> = paths
                        .config_candidates
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect();
                    crate::outln!("config  none yet (looked for {})", tried.join(", then "));
                }
            }
            crate::outln!(
                "data    {}  (the journal, the release host's socket)",
                paths.data.display()
            );
            crate::outln!("logs    {}", paths.logs.display());
        }
    }
    ExitCode::Ok
}
