//! The release journal: every release, from the moment it starts, with its
//! events and how it ended. What `requires = [...]` is checked against,
//! what `helmsman history` lists, and what `helmsman serve` resumes from.
//!
//! One SQLite file, `<state dir>/journal.sqlite3`, in WAL mode: every
//! helmsman process on the machine reads and writes it at once, and each
//! write is a transaction a crash cannot tear. A release is written when it
//! starts (so one a crash interrupts is still known), each of its events as
//! it happens, and its outcome when it ends. The `releases.jsonl` of
//! earlier versions is imported on first open and kept, renamed.

mod deployments;
mod import;
mod jobs;
pub mod lock;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::engine::{Actor, Command, CommandKind, CommandReply, Event, ReleaseResult, Target};

pub use deployments::{Deployment, DeploymentStart, Found, LastState, Note, PreflightRun};
pub use jobs::{JobRecord, MigrationPhase, MigrationState};
pub use lock::{Hold, Holder};

/// The journal's file in the state directory.
pub const FILE: &str = "journal.sqlite3";

/// A finished release, as `requires` and `serve` read it.
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

/// A release as it starts: what the journal holds before it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseStart {
    pub id: String,
    /// The deployment (one request through its environments) this release
    /// is part of; none for a release journaled before deployments were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub target: Target,
    pub strategy: String,
    pub stable_version: String,
    pub new_version: String,
    pub started_by: Actor,
    pub started_at: DateTime<Utc>,
}

/// One release in the journal, finished or not: a row of `helmsman history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub start: ReleaseStart,
    /// None while it runs, or when a crash ended the process driving it.
    pub finished_at: Option<DateTime<Utc>>,
    pub result: Option<ReleaseResult>,
    pub reason: String,
}

/// A command a front end sent to a release, and the engine's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRecord {
    pub at: DateTime<Utc>,
    pub kind: CommandKind,
    pub actor: Actor,
    pub reply: CommandReply,
}

/// Which entries `helmsman history` lists.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub env: Option<String>,
    pub service: Option<String>,
    /// The newest this many.
    pub limit: Option<usize>,
}

impl Filter {
    /// " for dev/checkout", as the filter narrows a listing or a search.
    pub fn scope(&self) -> String {
        match (&self.env, &self.service) {
            (None, None) => String::new(),
            (Some(env), None) => format!(" for {env}"),
            (None, Some(service)) => format!(" for {service}"),
            (Some(env), Some(service)) => format!(" for {env}/{service}"),
        }
    }
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
    #[error("the release journal {path}: {source}")]
    Journal {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// Another process drives a release of this service.
    #[error("{target}: refused: {holder}")]
    Held { target: Target, holder: Box<Holder> },
}

/// The release journal of a state directory, or of the process only (the
/// demo's sandbox).
#[derive(Debug)]
pub struct History {
    /// Shared by the handles [`History::share`] makes: SQLite writes one
    /// transaction at a time anyway, and a connection costs a few hundred
    /// kilobytes of caches a host driving hundreds of releases would
    /// otherwise keep for each.
    db: Arc<Mutex<Connection>>,
    /// The file, for messages; None in memory.
    path: Option<PathBuf>,
    /// Where the per-service locks live; None in memory.
    state_dir: Option<PathBuf>,
}

impl History {
    /// A journal that lives only as long as the process (the demo's).
    pub fn in_memory() -> History {
        let db = Connection::open_in_memory().expect("an in-memory database opens");
        schema::create(&db).expect("the schema applies to an empty database");
        History {
            db: Arc::new(Mutex::new(db)),
            path: None,
            state_dir: None,
        }
    }

    /// Opens (or creates) the journal under `state_dir`, importing an
    /// earlier `releases.jsonl` the first time.
    pub fn open(state_dir: &Path) -> Result<History, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(FILE);
        let journal = |source| StoreError::Journal {
            path: path.clone(),
            source,
        };
        let mut db = Connection::open(&path).map_err(journal)?;
        schema::open(&db).map_err(journal)?;
        import::jsonl(&mut db, state_dir).map_err(journal)?;
        Ok(History {
            db: Arc::new(Mutex::new(db)),
            path: Some(path),
            state_dir: Some(state_dir.to_path_buf()),
        })
    }

    /// Another handle on this journal's connection.
    pub fn share(&self) -> History {
        History {
            db: Arc::clone(&self.db),
            path: self.path.clone(),
            state_dir: self.state_dir.clone(),
        }
    }

    /// The connection, held for one statement (never across an await).
    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-statement leaves SQLite consistent: its transaction
        // was rolled back.
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn failed(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Journal {
            path: self.path.clone().unwrap_or_else(|| ":memory:".into()),
            source,
        }
    }

    /// Takes the lock that makes this process the only one driving a
    /// release of `target` on this machine until the hold is dropped.
    pub fn hold(&self, target: &Target, holder: Holder) -> Result<Hold, StoreError> {
        match &self.state_dir {
            Some(dir) => lock::take(dir, target, holder),
            // The demo's sandbox: its data planes are its own.
            None => Ok(Hold::none()),
        }
    }

    /// Who drives a release of `target` on this machine now, if anyone.
    pub fn driver(&self, target: &Target) -> Option<Holder> {
        lock::probe(self.state_dir.as_deref()?, target)
    }

    /// Writes that a release started, before anything moves.
    pub fn begin(&mut self, start: &ReleaseStart) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO releases (id, env, service, strategy, stable_version, new_version, \
                 started_by, started_at, deployment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    start.id,
                    start.target.env,
                    start.target.service,
                    start.strategy,
                    start.stable_version,
                    start.new_version,
                    json(&start.started_by),
                    start.started_at,
                    start.deployment,
                ],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Writes one event of a release that has begun.
    pub fn event(&mut self, release_id: &str, event: &Event) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO events (release_id, at, event) VALUES (?1, ?2, ?3)",
                params![release_id, event.at, json(event)],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Writes a command sent to a release and the engine's answer to it.
    pub fn command(
        &mut self,
        release_id: &str,
        command: &Command,
        reply: &CommandReply,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO commands (release_id, at, kind, actor, reply) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    release_id,
                    at,
                    json(&command.kind),
                    json(&command.actor),
                    json(reply)
                ],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// The commands sent to one release, in the order they were answered.
    pub fn commands(&self, release_id: &str) -> Result<Vec<CommandRecord>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT at, kind, actor, reply FROM commands WHERE release_id = ?1 ORDER BY rowid",
            )
            .map_err(|e| self.failed(e))?;
        statement
            .query_map(params![release_id], |row| {
                Ok(CommandRecord {
                    at: row.get(0)?,
                    kind: from_json(row, 1)?,
                    actor: from_json(row, 2)?,
                    reply: from_json(row, 3)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.failed(e))
    }

    /// Writes how a release ended (one never begun is written whole). A
    /// finished entry is never overwritten.
    pub fn record(&mut self, record: ReleaseRecord) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO releases (id, env, service, strategy, stable_version, new_version, \
                 started_by, started_at, finished_at, result, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, \
                 result = excluded.result, reason = excluded.reason \
                 WHERE releases.finished_at IS NULL",
                params![
                    record.id,
                    record.target.env,
                    record.target.service,
                    record.strategy,
                    record.stable_version,
                    record.new_version,
                    json(&record.started_by),
                    record.started_at,
                    record.finished_at,
                    word(record.result),
                    record.reason,
                ],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Records, in memory only, that `version` succeeded in `env`: for the
    /// demo's cockpit, which releases every environment at once.
    pub fn assume_succeeded(&mut self, env: &str, service: &str, version: &str) {
        debug_assert!(self.path.is_none(), "only the demo's journal assumes");
        let now = Utc::now();
        let record = ReleaseRecord {
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
        };
        self.record(record)
            .expect("the in-memory journal takes writes");
    }

    /// Whether `version` of `service` has succeeded in `env`.
    pub fn succeeded(&self, env: &str, service: &str, version: &str) -> bool {
        self.db()
            .query_row(
                "SELECT 1 FROM releases WHERE env = ?1 AND service = ?2 AND new_version = ?3 \
                 AND result = 'succeeded' LIMIT 1",
                params![env, service, version],
                |_| Ok(()),
            )
            .optional()
            .unwrap_or_else(|e| {
                tracing::warn!("{}", self.failed(e));
                None
            })
            .is_some()
    }

    /// The version a service runs after its last successful release, if any.
    pub fn current_version(&self, env: &str, service: &str) -> Option<String> {
        self.db()
            .query_row(
                "SELECT new_version FROM releases WHERE env = ?1 AND service = ?2 \
                 AND result = 'succeeded' ORDER BY finished_at DESC, rowid DESC LIMIT 1",
                params![env, service],
                |row| row.get(0),
            )
            .optional()
            .unwrap_or_else(|e| {
                tracing::warn!("{}", self.failed(e));
                None
            })
    }

    /// The releases `filter` selects, newest first.
    pub fn entries(&self, filter: &Filter) -> Result<Vec<Entry>, StoreError> {
        self.select(filter, false)
    }

    /// The releases `filter` selects that have not ended, newest first.
    pub fn unfinished(&self, filter: &Filter) -> Result<Vec<Entry>, StoreError> {
        self.select(filter, true)
    }

    fn select(&self, filter: &Filter, unfinished: bool) -> Result<Vec<Entry>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(&format!(
                "{ENTRY_SELECT} WHERE (?1 IS NULL OR env = ?1) AND (?2 IS NULL OR service = ?2) \
                 AND (?4 = 0 OR result IS NULL) \
                 ORDER BY started_at DESC, rowid DESC LIMIT ?3"
            ))
            .map_err(|e| self.failed(e))?;
        let limit = filter.limit.map_or(-1, |n| n as i64);
        statement
            .query_map(
                params![filter.env, filter.service, limit, unfinished],
                entry,
            )
            .and_then(Iterator::collect)
            .map_err(|e| self.failed(e))
    }

    /// The last event of one release: `status` asks it of every release
    /// in flight, so it is read alone, not with every event before it.
    pub fn last_event(&self, release_id: &str) -> Result<Option<Event>, StoreError> {
        self.db()
            .query_row(
                "SELECT event FROM events WHERE release_id = ?1 ORDER BY rowid DESC LIMIT 1",
                params![release_id],
                |row| from_json(row, 0),
            )
            .optional()
            .map_err(|e| self.failed(e))
    }

    /// The events of one release, in the order they happened.
    pub fn events(&self, release_id: &str) -> Result<Vec<Event>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare("SELECT event FROM events WHERE release_id = ?1 ORDER BY rowid")
            .map_err(|e| self.failed(e))?;
        statement
            .query_map(params![release_id], |row| {
                let text: String = row.get(0)?;
                serde_json::from_str(&text).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.failed(e))
    }
}

/// The columns [`entry`] reads, in its order.
const ENTRY_SELECT: &str = "SELECT id, env, service, strategy, stable_version, new_version, \
     started_by, started_at, finished_at, result, reason, deployment FROM releases";

fn entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let started_by: String = row.get(6)?;
    let result: Option<String> = row.get(9)?;
    Ok(Entry {
        start: ReleaseStart {
            id: row.get(0)?,
            deployment: row.get(11)?,
            target: Target {
                env: row.get(1)?,
                service: row.get(2)?,
            },
            strategy: row.get(3)?,
            stable_version: row.get(4)?,
            new_version: row.get(5)?,
            started_by: serde_json::from_str(&started_by).unwrap_or(Actor::Engine),
            started_at: row.get(7)?,
        },
        finished_at: row.get(8)?,
        result: result.and_then(|r| serde_json::from_value(serde_json::Value::String(r)).ok()),
        reason: row.get(10)?,
    })
}

/// Column `i` of `row`, a value the journal stored as JSON.
fn from_json<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    i: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("journal values serialize")
}

/// A result as the journal stores it: its JSON word ("rolled-back").
fn word(result: ReleaseResult) -> String {
    match serde_json::to_value(result) {
        Ok(serde_json::Value::String(word)) => word,
        _ => unreachable!("a result serializes as a string"),
    }
}

#[cfg(test)]
mod tests;
