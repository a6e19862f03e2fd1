//! Durable records of finished releases: what `requires = [...]` is checked
//! against, and what `helmsman serve` resumes from.
//!
//! One JSON object per line in `<state dir>/releases.jsonl`, appended when a
//! release finishes. Appending a line is atomic enough for one writer and
//! keeps every past release readable with standard tools.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{Actor, ReleaseResult, Target};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub id: String,
    pub target: Target,
    pub strategy: String,
    pub stable_version: String,
    pub new_version: String,
    pub result: ReleaseResult,
    pub reason: String,
    pub started_by: Actor,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot use the state directory {path}: {source} (set --state-dir or HELMSMAN_STATE_DIR to a writable directory)"
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The release history: on disk, or in memory for the demo's sandbox.
#[derive(Debug)]
pub struct History {
    file: Option<PathBuf>,
    records: Vec<ReleaseRecord>,
}

impl History {
    /// A history that lives only as long as the process (the demo's).
    pub fn in_memory() -> History {
        History {
            file: None,
            records: Vec::new(),
        }
    }

    /// Opens (or creates) the history under `state_dir`. Lines that do not
    /// parse (a torn last line after a crash) are skipped, not fatal.
    pub fn open(state_dir: &Path) -> Result<History, StoreError> {
        let io = |source| StoreError::Io {
            path: state_dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(state_dir).map_err(io)?;
        let file = state_dir.join("releases.jsonl");
        let records = match fs::File::open(&file) {
            Ok(f) => BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| serde_json::from_str(&line).ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        Ok(History {
            file: Some(file),
            records,
        })
    }

    pub fn record(&mut self, record: ReleaseRecord) -> Result<(), StoreError> {
        if let Some(file) = &self.file {
            let io = |source| StoreError::Io {
                path: file.clone(),
                source,
            };
            let mut line = serde_json::to_string(&record).expect("records always serialize");
            line.push('\n');
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(io)?;
        }
        self.records.push(record);
        Ok(())
    }

    /// Records, in memory only, that `version` succeeded in `env`: for the
    /// demo's cockpit, which releases every environment at once.
    pub fn assume_succeeded(&mut self, env: &str, service: &str, version: &str) {
        let now = chrono::Utc::now();
        self.records.push(ReleaseRecord {
            id: format!("assumed-{env}-{service}-{version}"),
            target: Target {
                env: env.to_string(),
                service: service.to_string(),
            },
            strategy: String::new(),
            stable_version: String::new(),
            new_version: version.to_string(),
            result: ReleaseResult::Succeeded,
            reason: "assumed by the demo".to_string(),
            started_by: Actor::Engine,
            started_at: now,
            finished_at: now,
        });
    }

    pub fn records(&self) -> &[ReleaseRecord] {
        &self.records
    }

    /// Whether `version` of `service` has succeeded in `env`.
    pub fn succeeded(&self, env: &str, service: &str, version: &str) -> bool {
        self.records.iter().any(|r| {
            r.result == ReleaseResult::Succeeded
                && r.target.env == env
                && r.target.service == service
                && r.new_version == version
        })
    }

    /// The version a service runs after its last successful release, if any.
    pub fn current_version(&self, env: &str, service: &str) -> Option<&str> {
        self.records
            .iter()
            .rev()
            .find(|r| {
                r.result == ReleaseResult::Succeeded
                    && r.target.env == env
                    && r.target.service == service
            })
            .map(|r| r.new_version.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(env: &str, version: &str, result: ReleaseResult) -> ReleaseRecord {
        ReleaseRecord {
            id: format!("{env}-{version}"),
            target: Target {
                env: env.into(),
                service: "checkout".into(),
            },
            strategy: "canary".into(),
            stable_version: "v1".into(),
            new_version: version.into(),
            result,
            reason: String::new(),
            started_by: Actor::Engine,
            started_at: Utc::now(),
            finished_at: Utc::now(),
        }
    }

    #[test]
    fn survives_a_reopen_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        h.record(record("dev", "v2", ReleaseResult::Succeeded))
            .unwrap();
        h.record(record("staging", "v2", ReleaseResult::RolledBack))
            .unwrap();
        OpenOptions::new()
            .append(true)
            .open(dir.path().join("releases.jsonl"))
            .unwrap()
            .write_all(b"{\"id\": \"torn")
            .unwrap();
        let h = History::open(dir.path()).unwrap();
        assert_eq!(h.records().len(), 2);
        assert!(h.succeeded("dev", "checkout", "v2"));
        assert!(!h.succeeded("staging", "checkout", "v2"));
        assert_eq!(h.current_version("dev", "checkout"), Some("v2"));
        assert_eq!(h.current_version("staging", "checkout"), None);
    }
}
