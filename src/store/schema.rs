//! The journal's tables, and the settings every connection opens with.

use std::time::Duration;

use rusqlite::Connection;

/// The schema's version, in SQLite's `user_version`: a journal written by
/// a newer helmsman is refused rather than misread. Version 2 added what a
/// deployment report reads: deployments, preflight reports, each release's
/// last state and alert bands, and operators' notes. Version 3 added the
/// stable version's instances as each release began (rollback readiness).
/// Version 4 added the runs of migration phases and hooks, and where each
/// service's migrations stand.
const VERSION: i64 = 4;

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

/// Creates the tables of an empty journal, or brings an older one up to
/// this version; refuses a newer one. In one write transaction, so two
/// processes opening an old journal at once migrate it once.
pub fn create(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch("BEGIN IMMEDIATE")?;
    match migrate(db) {
        Ok(()) => db.execute_batch("COMMIT"),
        Err(e) => {
            let _ = db.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn migrate(db: &Connection) -> rusqlite::Result<()> {
    let version: i64 = db.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "written by a newer helmsman (journal version {version}, this one reads {VERSION}); \
             upgrade helmsman"
        )));
    }
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS releases (
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
         CREATE TABLE IF NOT EXISTS imported (file TEXT PRIMARY KEY, at TEXT NOT NULL);",
    )?;
    if version < 2 {
        add_deployments(db)?;
    }
    if version < 3 {
        add_stable_at_start(db)?;
    }
    if version < 4 {
        add_jobs(db)?;
    }
    db.pragma_update(None, "user_version", VERSION)
}

/// Version 2: a deployment is one request through its environments in
/// order; each environment's release names it. Releases journaled before
/// have none and stand as a deployment of their own.
fn add_deployments(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE deployments (
             id TEXT PRIMARY KEY,
             service TEXT NOT NULL,
             version TEXT NOT NULL,
             envs TEXT NOT NULL,         -- in order, as JSON
             strategy TEXT,              -- the request's, when it named one
             started_by TEXT NOT NULL,   -- the actor, as JSON
             started_at TEXT NOT NULL,
             finished_at TEXT,
             outcome TEXT,               -- succeeded | rolled-back | aborted | refused | failed
             reason TEXT NOT NULL DEFAULT ''
         );
         CREATE INDEX deployments_by_start ON deployments (started_at);
         -- No foreign keys to deployments: a deployment whose start the journal could not
         -- take must not cost its releases theirs.
         ALTER TABLE releases ADD COLUMN deployment TEXT;
         ALTER TABLE releases ADD COLUMN last_state TEXT;  -- the engine's last snapshot, as JSON
         ALTER TABLE releases ADD COLUMN bands TEXT;       -- the service's alert bands, as JSON
         ALTER TABLE releases ADD COLUMN resources TEXT;   -- CPU and memory per version, as JSON
         CREATE INDEX releases_by_deployment ON releases (deployment);
         CREATE TABLE preflights (
             deployment TEXT NOT NULL,
             env TEXT NOT NULL,
             started_at TEXT NOT NULL,
             finished_at TEXT NOT NULL,
             report TEXT NOT NULL        -- every check's outcome, as JSON
         );
         CREATE INDEX preflights_by_deployment ON preflights (deployment);
         CREATE TABLE notes (
             -- a deployment's id, or a release's journaled before deployments were
             deployment TEXT NOT NULL,
             at TEXT NOT NULL,
             actor TEXT NOT NULL,
             text TEXT NOT NULL
         );",
    )
}

/// Version 3: the stable version's instances when the release first read
/// them, before traffic moved: whether its rollback path was there.
fn add_stable_at_start(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "ALTER TABLE releases ADD COLUMN stable_at_start TEXT;  -- healthy and total, as JSON",
    )
}

/// Version 4: every migration phase and hook run (what the report lists),
/// and where each service's migrations stand in each environment (what
/// `status`, the cockpit and the staging-first rule read).
fn add_jobs(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE jobs (
             deployment TEXT NOT NULL,
             env TEXT NOT NULL,
             service TEXT NOT NULL,
             version TEXT NOT NULL,
             run TEXT NOT NULL           -- name, outcome, summary, output tail, times, as JSON
         );
         CREATE INDEX jobs_by_deployment ON jobs (deployment);
         CREATE TABLE migration_states (
             env TEXT NOT NULL,
             service TEXT NOT NULL,
             state TEXT NOT NULL,        -- the state, its versions and the set's digest, as JSON
             PRIMARY KEY (env, service)
         );",
    )
}
