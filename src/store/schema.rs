//! The journal's tables, and the settings every connection opens with.

use std::time::Duration;

use rusqlite::Connection;

/// The schema's version, in SQLite's `user_version`: a journal written by
/// a newer helmsman is refused rather than misread.
const VERSION: i64 = 1;

/// How long a write waits for another process's transaction to end.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// Opens a journal file: WAL, so readers never wait for the writer;
/// `synchronous = FULL`, so a write acknowledged survives a power cut too.
pub fn open(db: &Connection) -> rusqlite::Result<()> {
    db.busy_timeout(BUSY_WAIT)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    create(db)
}

/// Creates the tables of an empty journal; checks the version of another.
pub fn create(db: &Connection) -> rusqlite::Result<()> {
    let version: i64 = db.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "written by a newer helmsman (journal version {version}, this one reads {VERSION}); \
             upgrade helmsman"
        )));
    }
    db.execute_batch(
        "BEGIN;
         CREATE TABLE IF NOT EXISTS releases (
             id TEXT PRIMARY KEY,
             env TEXT NOT NULL,
             service TEXT NOT NULL,
             strategy TEXT NOT NULL,
             stable_version TEXT NOT NULL,
             new_version TEXT NOT NULL,
             started_by TEXT NOT NULL,   -- the actor, as JSON
             started_at TEXT NOT NULL,
             finished_at TEXT,           -- NULL until it ends
             result TEXT,                -- succeeded | rolled-back | aborted
             reason TEXT NOT NULL DEFAULT ''
         );
         CREATE INDEX IF NOT EXISTS releases_by_target ON releases (env, service, started_at);
         CREATE TABLE IF NOT EXISTS events (
             release_id TEXT NOT NULL REFERENCES releases (id),
             at TEXT NOT NULL,
             event TEXT NOT NULL         -- the event, as JSON
         );
         CREATE INDEX IF NOT EXISTS events_by_release ON events (release_id);
         CREATE TABLE IF NOT EXISTS commands (
             release_id TEXT NOT NULL REFERENCES releases (id),
             at TEXT NOT NULL,
             kind TEXT NOT NULL,         -- advance | pause | resume | promote | rollback | retry
             actor TEXT NOT NULL,        -- who, and from where, as JSON
             reply TEXT NOT NULL         -- the engine's answer, as JSON
         );
         CREATE INDEX IF NOT EXISTS commands_by_release ON commands (release_id);
         CREATE TABLE IF NOT EXISTS imported (file TEXT PRIMARY KEY, at TEXT NOT NULL);
         COMMIT;",
    )?;
    db.pragma_update(None, "user_version", VERSION)
}
