//! A service's database migrations in three phases, as configured
//! (validated by `load/migrations.rs`, run by `crate::jobs`).
//!
//! ```toml
//! [environments.services.migrations]
//! expand   = ["psql", "-v", "ON_ERROR_STOP=1", "-f", "db/0042_expand.sql"]
//! migrate  = ["psql", "-v", "ON_ERROR_STOP=1", "-f", "db/0042_backfill.sql"]
//! contract = ["psql", "-v", "ON_ERROR_STOP=1", "-f", "db/0042_contract.sql"]
//! down     = ["psql", "-v", "ON_ERROR_STOP=1", "-f", "db/0042_down.sql"]
//! timeout = "10m"
//! ```
//!
//! or `tool = "pgroll"` with `migration = "db/0042_add_email.json"`.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// The commands of each phase, and when the irreversible one may run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Migrations {
    /// Adds what the new version needs, leaving the old one unaffected:
    /// before any traffic moves.
    pub expand: Option<Vec<String>>,
    /// Backfills: the new version reads the new shape from here on.
    pub migrate: Option<Vec<String>>,
    /// Removes what only the old version needed: once it is retired.
    pub contract: Option<Vec<String>>,
    /// Undoes expand and migrate, after a rollback brought traffic back.
    pub down: Option<Vec<String>>,
    /// Says where the schema stands (`helmsman migrations status`).
    pub status: Option<Vec<String>>,
    /// A phase still running after this fails (its processes are killed).
    pub timeout: Duration,
    /// Migrate runs before the new version gets more than this share of
    /// the traffic; `None`: more than its first step's.
    pub migrate_above: Option<u8>,
    pub contract_when: ContractWhen,
    /// Files whose content identifies the migration set (the digest the
    /// staging-first rule compares): listed, or every phase argument that
    /// names an existing file.
    pub files: Vec<String>,
    /// The preset the commands come from, if any (for `plan` and the README's words).
    pub tool: Option<Tool>,
}

impl Migrations {
    /// No commands yet, every setting at its default.
    pub fn none() -> Migrations {
        Migrations {
            expand: None,
            migrate: None,
            contract: None,
            down: None,
            status: None,
            timeout: defaults::TIMEOUT,
            migrate_above: None,
            contract_when: ContractWhen::Confirm,
            files: Vec::new(),
            tool: None,
        }
    }

    /// The command of `phase`, if configured.
    pub fn command(&self, phase: Phase) -> Option<&[String]> {
        match phase {
            Phase::Expand => self.expand.as_deref(),
            Phase::Migrate => self.migrate.as_deref(),
            Phase::Contract => self.contract.as_deref(),
            Phase::Down => self.down.as_deref(),
            Phase::Status => self.status.as_deref(),
        }
    }
}

/// One migration phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Expand,
    Migrate,
    Contract,
    Down,
    Status,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Expand,
        Phase::Migrate,
        Phase::Contract,
        Phase::Down,
        Phase::Status,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Migrate => "migrate",
            Phase::Contract => "contract",
            Phase::Down => "down",
            Phase::Status => "status",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When contract runs once the release succeeded and the old version is retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContractWhen {
    /// At once.
    Auto,
    /// When a human says so (`helmsman migrations contract`): the default
    /// in production, where it is the point of no return.
    Confirm,
}

/// Tools whose commands a preset writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// pgroll: `start` is expand and migrate at once (its views give each
    /// version its own shape), `complete` is contract, `rollback` is down.
    Pgroll,
}

impl Tool {
    pub const NAMES: [&str; 1] = ["pgroll"];

    /// The phases' commands for the migration file `migration`, with the
    /// tool's own connection flags `extra` (e.g. `--postgres-url …`).
    pub fn commands(self, migration: &str, extra: &[String]) -> Migrations {
        let run = |args: &[&str]| {
            let mut argv = vec!["pgroll".to_string()];
            argv.extend(args.iter().map(|a| a.to_string()));
            argv.extend(extra.iter().cloned());
            Some(argv)
        };
        Migrations {
            expand: run(&["start", migration]),
            contract: run(&["complete"]),
            down: run(&["rollback"]),
            status: run(&["status"]),
            files: vec![migration.to_string()],
            tool: Some(self),
            ..Migrations::none()
        }
    }
}

pub mod defaults {
    use std::time::Duration;

    pub const TIMEOUT: Duration = Duration::from_secs(600);
}
